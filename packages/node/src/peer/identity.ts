import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidIdentityError } from '../errors.js'

/** File name of the peer's private key inside its data directory. */
export const IDENTITY_FILE = 'identity.key'

/**
 * Load the peer's Ed25519 private key from `<dataDir>/identity.key`, creating it (mode
 * 0600) on first run, so a restarted agent or relay keeps its peer id and other peers'
 * records of it stay valid.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (bytes == null) {
    const key = await generateKeyPair('Ed25519')
    try {
      // 'wx' so two processes started on one data dir cannot overwrite each other's key
      await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
      return key
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      bytes = await readFile(file)
    }
  }
  // a key others can read lets them impersonate this peer: tighten what an older run or a copy left
  const mode = (await stat(file)).mode & 0o777
  if ((mode & 0o077) !== 0) await chmod(file, 0o600)
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidIdentityError(`${file} is not a libp2p private key; move it away to create a new identity`, { cause: err })
  }
}
