import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { fromString as uint8ArrayFromString, toString as uint8ArrayToString } from 'uint8arrays'
import type * as Y from 'yjs'
import { MurmurError } from '../errors.js'
import { encodeMembershipGrant, decodeMembershipGrant } from '../wire/index.js'
import type { MembershipGrant } from '../wire/index.js'
import { getGrant, putGrant } from './document.js'
import type { MemberRole } from './schema.js'

// Who may write what in a private session:
//   * the owner (a peer id named in the session's access settings) is always a member;
//   * anyone else is a member only while it holds an unexpired grant that the owner signed
//     for this session and this peer id; a grant in the document is data like any other, so
//     it is believed only after its signature checks against the owner's key, never because
//     of who wrote it;
//   * a peer that is not (yet) a member may present its grant at the start of a state-vector
//     exchange: that is how a newcomer gets in before it has the document that holds grants.

/** Domain separation: a grant signature can never be replayed as any other signed message. */
const GRANT_DOMAIN = new TextEncoder().encode('murmur-membership-grant/1\n')

const ROLES: readonly MemberRole[] = ['trainer', 'relay', 'observer']

/** The owner id cannot carry its own public key (RSA ids do not), so grants cannot be checked. */
export class InvalidOwnerError extends MurmurError {
  constructor (owner: string, options?: ErrorOptions) {
    super(`session owner "${owner}" is not an Ed25519 or secp256k1 peer id: its public key cannot be recovered to check grants`, 'ERR_INVALID_OWNER', options)
    this.name = 'InvalidOwnerError'
  }
}

/** A peer that is not a member of a private session tried to read or write it. */
export class NotMemberError extends MurmurError {
  constructor (peer: string, session: string, options?: ErrorOptions) {
    super(`peer ${peer} is not a member of private session ${session}: it holds no valid grant from the owner`, 'ERR_NOT_MEMBER', options)
    this.name = 'NotMemberError'
  }
}

/** Why a grant was refused. */
export type GrantRefusal = 'malformed' | 'session' | 'peer' | 'role' | 'issuer' | 'signature' | 'expired'

/** Outcome of `verifyGrant`. */
export type GrantCheck =
  | { ok: true, grant: MembershipGrant }
  | { ok: false, reason: GrantRefusal }

/** What the owner states when admitting a peer. */
export interface GrantTerms {
  session: string
  /** The member's peer id (string form). */
  peer: string
  /** @default 'trainer' */
  role?: MemberRole
  /** Milliseconds since the Unix epoch. */
  expires: number
}

/** What a verifier expects a grant to say. */
export interface GrantExpectation {
  session: string
  /** The owner's peer id; its embedded public key checks the signature. */
  owner: string
  /** When set, the grant must name this peer. */
  peer?: string
  /** @default Date.now() */
  now?: number
}

/** The owner's public key, recovered from its peer id. */
export function ownerKey (owner: string): PublicKey {
  let key: PublicKey | undefined
  try {
    key = peerIdFromString(owner).publicKey
  } catch (err) {
    throw new InvalidOwnerError(owner, { cause: err })
  }
  if (key == null || key.type === 'RSA') throw new InvalidOwnerError(owner)
  return key
}

/** The bytes a grant's signature covers: the grant encoded without its signature, domain-prefixed. */
function signedBytes (grant: MembershipGrant): Uint8Array {
  const body = encodeMembershipGrant({ ...grant, signature: new Uint8Array(0) })
  const out = new Uint8Array(GRANT_DOMAIN.length + body.length)
  out.set(GRANT_DOMAIN)
  out.set(body, GRANT_DOMAIN.length)
  return out
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

/** Sign a membership grant with the session owner's private key. */
export async function issueGrant (ownerPrivateKey: PrivateKey, terms: GrantTerms): Promise<MembershipGrant> {
  const unsigned: MembershipGrant = {
    session: terms.session,
    peer: terms.peer,
    role: terms.role ?? 'trainer',
    expires: terms.expires,
    signature: new Uint8Array(0),
    issuer: ownerPrivateKey.publicKey.toMultihash().digest
  }
  const signature = await ownerPrivateKey.sign(signedBytes(unsigned))
  return { ...unsigned, signature: signature as Uint8Array<ArrayBuffer> }
}

/** Check a grant (decoded or encoded) against the owner's key, the session, the peer and the clock. */
export async function verifyGrant (grant: MembershipGrant | Uint8Array, expect: GrantExpectation): Promise<GrantCheck> {
  let g: MembershipGrant
  try {
    g = grant instanceof Uint8Array ? decodeMembershipGrant(grant) : grant
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (g.session !== expect.session) return { ok: false, reason: 'session' }
  if (expect.peer != null && g.peer !== expect.peer) return { ok: false, reason: 'peer' }
  if (!(ROLES as readonly string[]).includes(g.role)) return { ok: false, reason: 'role' }
  const key = ownerKey(expect.owner)
  if (!sameBytes(g.issuer, key.toMultihash().digest)) return { ok: false, reason: 'issuer' }
  let valid: boolean
  try {
    valid = await key.verify(signedBytes(g), g.signature)
  } catch {
    valid = false
  }
  if (!valid) return { ok: false, reason: 'signature' }
  if (g.expires <= (expect.now ?? Date.now())) return { ok: false, reason: 'expired' }
  return { ok: true, grant: g }
}

/** Put a (verified) grant into the session document, so every member learns of it. */
export function storeGrant (doc: Y.Doc, grant: MembershipGrant): void {
  const current = getGrant(doc, grant.peer)
  // a renewal replaces an older grant; a replay of an older one does not shorten it
  if (current != null && current.expires >= grant.expires) return
  putGrant(doc, {
    peerId: grant.peer,
    role: grant.role as MemberRole,
    expires: grant.expires,
    grant: uint8ArrayToString(encodeMembershipGrant(grant), 'base64url')
  })
}

/** The encoded grant stored for `peer`, or undefined (unverified: pass it to `verifyGrant`). */
export function readGrant (doc: Y.Doc, peer: string): Uint8Array | undefined {
  const stored = getGrant(doc, peer)
  if (stored == null) return undefined
  try {
    return uint8ArrayFromString(stored.grant, 'base64url')
  } catch {
    return undefined
  }
}

/**
 * Who counts as a member of one session. The mesh services consult it before applying a
 * state update, accepting a head or serving a shard; they never decide membership themselves.
 */
export interface MembershipPolicy {
  /** True when `peer` is the owner or holds a valid grant (presented or in the document). */
  isMember(peer: string): Promise<boolean>
  /** Verify a grant `peer` presented; remembered (and stored in the document) when valid. */
  admit(peer: string, credential: Uint8Array): Promise<boolean>
  /** Our own encoded grant, to present to peers that may not know it yet. */
  credential(): Uint8Array | undefined
}

/** Options of `grantMembership`. */
export interface GrantMembershipInit {
  session: string
  owner: string
  doc: Y.Doc
  /** This peer's own grant (not needed by the owner). */
  grant?: MembershipGrant
  /** Clock, for tests. @default Date.now */
  now?(): number
}

class GrantMembership implements MembershipPolicy {
  private readonly init: GrantMembershipInit
  private readonly now: () => number
  private readonly own?: Uint8Array
  /** peer → expiry of its verified grant */
  private readonly verified = new Map<string, number>()
  /** encoded grants already found invalid, so a forged one costs one check, not one per message */
  private readonly refused = new Set<string>()

  constructor (init: GrantMembershipInit) {
    ownerKey(init.owner)
    this.init = init
    this.now = init.now ?? Date.now
    if (init.grant != null) {
      this.own = encodeMembershipGrant(init.grant)
      this.verified.set(init.grant.peer, init.grant.expires)
    }
  }

  async isMember (peer: string): Promise<boolean> {
    if (peer === this.init.owner) return true
    const until = this.verified.get(peer)
    if (until != null && until > this.now()) return true
    const stored = readGrant(this.init.doc, peer)
    return stored != null && await this.check(peer, stored, false)
  }

  async admit (peer: string, credential: Uint8Array): Promise<boolean> {
    if (peer === this.init.owner) return true
    return this.check(peer, credential, true)
  }

  credential (): Uint8Array | undefined {
    return this.own
  }

  private async check (peer: string, bytes: Uint8Array, store: boolean): Promise<boolean> {
    const key = `${peer}:${uint8ArrayToString(bytes, 'base64url')}`
    if (this.refused.has(key)) return false
    const result = await verifyGrant(bytes, { session: this.init.session, owner: this.init.owner, peer, now: this.now() })
    if (!result.ok) {
      // expired grants are not remembered as forged: a renewal arrives as different bytes anyway
      if (this.refused.size < 10_000) this.refused.add(key)
      return false
    }
    this.verified.set(peer, result.grant.expires)
    if (store) storeGrant(this.init.doc, result.grant)
    return true
  }
}

/** The membership rule of a private session: the owner plus holders of its signed grants. */
export function grantMembership (init: GrantMembershipInit): MembershipPolicy {
  return new GrantMembership(init)
}
