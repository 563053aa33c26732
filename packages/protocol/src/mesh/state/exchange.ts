import { StateSyncMessage, encodeStateSyncMessage, decodeStateSyncMessage } from '../../wire/index.js'
import { checkStateVector } from '../../state/index.js'
import { ProtocolViolationError } from '../errors.js'
import type { Framed } from '../framing.js'

/**
 * What the state-vector exchange (`/murmur/state/1.0.0`) reads from and writes to one
 * replica. The exchange is y-protocols' sync step 1 and 2 in both directions, preceded in a
 * private session by each side's grant:
 *
 *   initiator                       responder
 *   [AWARENESS grant]       →
 *   STATE_VECTOR            →
 *                           ←       [AWARENESS grant]
 *                           ←       UPDATE (what the initiator lacks)
 *                           ←       STATE_VECTOR
 *   UPDATE (what the responder lacks) →
 */
export interface ExchangeReplica {
  /** Our grant, sent first in a private session; undefined in a public one. */
  credential(): Uint8Array | undefined
  /** Throw (`NotMemberError`) unless the peer, with the grant it presented, may exchange. */
  admit(credential: Uint8Array | undefined): Promise<void>
  /** Our state vector; called right before it is sent. */
  vector(): Uint8Array
  /** What a replica holding `vector` lacks. */
  diffFor(vector: Uint8Array): Uint8Array
  /** Apply the peer's diff. */
  take(diff: Uint8Array): void
}

/** Run the initiator's side of an exchange for `session`. */
export async function initiateExchange (io: Framed, session: string, replica: ExchangeReplica, signal: AbortSignal): Promise<void> {
  await presentCredential(io, session, replica, signal)
  await send(io, session, StateSyncMessage.Type.STATE_VECTOR, replica.vector(), signal)
  // the responder's grant, when it presents one, comes before its diff
  let m = decodeStateSyncMessage(await io.read({ signal }))
  let credential: Uint8Array | undefined
  if (m.type === StateSyncMessage.Type.AWARENESS && m.session === session) {
    credential = m.payload
    m = decodeStateSyncMessage(await io.read({ signal }))
  }
  const diff = expect(m, session, StateSyncMessage.Type.UPDATE)
  await replica.admit(credential)
  const theirVector = expect(decodeStateSyncMessage(await io.read({ signal })), session, StateSyncMessage.Type.STATE_VECTOR)
  checkStateVector(theirVector)
  replica.take(diff)
  await send(io, session, StateSyncMessage.Type.UPDATE, replica.diffFor(theirVector), signal)
}

/**
 * Run the responder's side of an exchange; `find` gives the replica of the session the
 * initiator names (undefined: not one of ours). Returns that session.
 */
export async function answerExchange (io: Framed, find: (session: string) => ExchangeReplica | undefined, signal: AbortSignal): Promise<string> {
  let first = decodeStateSyncMessage(await io.read({ signal }))
  let credential: Uint8Array | undefined
  if (first.type === StateSyncMessage.Type.AWARENESS) {
    // a private session's newcomer presents its grant before anything else
    credential = first.payload
    first = decodeStateSyncMessage(await io.read({ signal }))
  }
  const session = first.session
  const replica = find(session)
  if (replica == null || first.type !== StateSyncMessage.Type.STATE_VECTOR) {
    throw new ProtocolViolationError(`unexpected ${first.type} for session ${session}`)
  }
  checkStateVector(first.payload)
  await replica.admit(credential)
  await presentCredential(io, session, replica, signal)
  await send(io, session, StateSyncMessage.Type.UPDATE, replica.diffFor(first.payload), signal)
  await send(io, session, StateSyncMessage.Type.STATE_VECTOR, replica.vector(), signal)
  replica.take(expect(decodeStateSyncMessage(await io.read({ signal })), session, StateSyncMessage.Type.UPDATE))
  return session
}

/** In a private session, send our grant first so a peer that lacks it still accepts us. */
async function presentCredential (io: Framed, session: string, replica: ExchangeReplica, signal: AbortSignal): Promise<void> {
  const credential = replica.credential()
  if (credential != null) await send(io, session, StateSyncMessage.Type.AWARENESS, credential, signal)
}

async function send (io: Framed, session: string, type: StateSyncMessage.Type, payload: Uint8Array, signal: AbortSignal): Promise<void> {
  await io.write(encodeStateSyncMessage({ type, session, payload: bytes(payload) }), { signal })
}

function expect (m: StateSyncMessage, session: string, type: StateSyncMessage.Type): Uint8Array {
  if (m.session !== session || m.type !== type) {
    throw new ProtocolViolationError(`expected ${type} for session ${session}, got ${m.type} for ${m.session}`)
  }
  return m.payload
}

/** Yjs returns views typed over `ArrayBufferLike`; the wire codecs want `ArrayBuffer`-backed bytes. */
function bytes (u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? u as Uint8Array<ArrayBuffer> : new Uint8Array(u)
}
