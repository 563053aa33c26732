/**
 * A web app's view of @murmur/browser, type-checked (not run) by scripts/pack-check.mjs
 * with the DOM lib, as a bundler project would. It imports public entry points only.
 */
import { joinSession } from '@murmur/browser'
import type { MurmurSession } from '@murmur/browser'
import type { Dataset, IceServer } from '@murmur/protocol'

/** Join a session the way the README shows; never called, only compiled. */
export async function join (bootstrap: string[], train: Dataset, test: Dataset): Promise<MurmurSession> {
  const iceServers: IceServer[] = [{ urls: 'stun:stun.example.org:3478' }]
  const session = await joinSession({ bootstrap, session: 'pack-check', train, test, iceServers })
  session.addEventListener('round', e => { console.log(e.detail.round) })
  return session
}
