import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as fc from 'fast-check'
import {
  createSessionDoc, issueGrant, verifyGrant, storeGrant, readGrant, grantMembership, ownerKey, InvalidOwnerError
} from '../src/state/index.js'
import { encodeMembershipGrant } from '../src/wire/index.js'
import type { MembershipGrant } from '../src/wire/index.js'

const HOUR = 3_600_000

const plain = (g: MembershipGrant): Record<string, unknown> => ({ ...g, signature: [...g.signature], issuer: [...g.issuer] })

async function identity (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

describe('membership grants', () => {
  it('a grant the owner signed verifies for its session, peer and lifetime', async () => {
    const owner = await identity()
    const member = await identity()
    const grant = await issueGrant(owner.key, { session: 's1', peer: member.id, expires: Date.now() + HOUR })
    expect(await verifyGrant(grant, { session: 's1', owner: owner.id, peer: member.id })).toEqual({ ok: true, grant })
    // and survives the wire
    const check = await verifyGrant(encodeMembershipGrant(grant), { session: 's1', owner: owner.id })
    expect(check.ok).toBe(true)
  })

  it('refuses expired, forged, re-addressed and tampered grants, naming why', async () => {
    const owner = await identity()
    const forger = await identity()
    const member = await identity()
    const now = Date.now()
    const expect1 = { session: 's1', owner: owner.id, peer: member.id, now }
    const expired = await issueGrant(owner.key, { session: 's1', peer: member.id, expires: now - 1 })
    expect(await verifyGrant(expired, expect1)).toEqual({ ok: false, reason: 'expired' })
    // signed by someone else, naming itself as issuer
    const forged = await issueGrant(forger.key, { session: 's1', peer: member.id, expires: now + HOUR })
    expect(await verifyGrant(forged, expect1)).toEqual({ ok: false, reason: 'issuer' })
    // signed by someone else, but claiming the owner's key as issuer
    expect(await verifyGrant({ ...forged, issuer: owner.key.publicKey.toMultihash().digest }, expect1)).toEqual({ ok: false, reason: 'signature' })
    const good = await issueGrant(owner.key, { session: 's1', peer: member.id, expires: now + HOUR })
    expect(await verifyGrant(good, { ...expect1, session: 's2' })).toEqual({ ok: false, reason: 'session' })
    expect(await verifyGrant(good, { ...expect1, peer: forger.id })).toEqual({ ok: false, reason: 'peer' })
    // the holder extends its own grant: the signature no longer covers it
    expect(await verifyGrant({ ...good, expires: now + 1000 * HOUR }, expect1)).toEqual({ ok: false, reason: 'signature' })
    expect(await verifyGrant({ ...good, peer: forger.id }, { ...expect1, peer: forger.id })).toEqual({ ok: false, reason: 'signature' })
    expect(await verifyGrant(new Uint8Array([1, 2, 3]), expect1)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('no single flipped bit changes what a valid grant says', async () => {
    const owner = await identity()
    const member = await identity()
    const grant = await issueGrant(owner.key, { session: 'bits', peer: member.id, expires: Date.now() + HOUR })
    const bytes = encodeMembershipGrant(grant)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), async (bit) => {
      const flipped = bytes.slice()
      flipped[bit >> 3]! ^= 1 << (bit & 7)
      const check = await verifyGrant(flipped, { session: 'bits', owner: owner.id, peer: member.id })
      // the signature covers the canonical encoding: a flip protobuf reads past (a tag's wire
      // type) may still verify, but only if every field means exactly what the owner signed
      if (check.ok) expect(plain(check.grant)).toEqual(plain(grant))
    }), { numRuns: 200 })
    let refused = 0
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice()
      flipped[bit >> 3]! ^= 1 << (bit & 7)
      if (!(await verifyGrant(flipped, { session: 'bits', owner: owner.id, peer: member.id })).ok) refused++
    }
    // only the three wire-type bits of each of the six field tags can be read past
    expect(refused).toBeGreaterThanOrEqual(bytes.length * 8 - 6 * 3)
  })

  it('the owner must be a peer id that embeds its key', async () => {
    const owner = await identity()
    expect(ownerKey(owner.id).equals(owner.key.publicKey)).toBe(true)
    expect(() => ownerKey('not-a-peer-id')).toThrow(InvalidOwnerError)
  })

  it('a policy admits the owner and verified grant holders, from a presentation or from the document', async () => {
    const owner = await identity()
    const a = await identity()
    const b = await identity()
    const stranger = await identity()
    const doc = createSessionDoc()
    const policy = grantMembership({ session: 'p', owner: owner.id, doc })
    expect(await policy.isMember(owner.id)).toBe(true)
    expect(await policy.isMember(a.id)).toBe(false)
    const grantA = await issueGrant(owner.key, { session: 'p', peer: a.id, expires: Date.now() + HOUR })
    // a presented grant for another peer does not admit the presenter
    expect(await policy.admit(stranger.id, encodeMembershipGrant(grantA))).toBe(false)
    expect(await policy.admit(a.id, encodeMembershipGrant(grantA))).toBe(true)
    expect(await policy.isMember(a.id)).toBe(true)
    // admitting stored the grant: another replica of the document learns of it
    expect(readGrant(doc, a.id)).toEqual(encodeMembershipGrant(grantA))
    storeGrant(doc, await issueGrant(owner.key, { session: 'p', peer: b.id, expires: Date.now() + HOUR }))
    expect(await grantMembership({ session: 'p', owner: owner.id, doc }).isMember(b.id)).toBe(true)
    // a forged grant written into the document by a member is not believed
    storeGrant(doc, await issueGrant(stranger.key, { session: 'p', peer: stranger.id, expires: Date.now() + HOUR }))
    expect(await policy.isMember(stranger.id)).toBe(false)
  })

  it('membership ends when the grant expires', async () => {
    const owner = await identity()
    const a = await identity()
    let now = 1_000_000
    const doc = createSessionDoc()
    const policy = grantMembership({ session: 'exp', owner: owner.id, doc, now: () => now })
    const grant = await issueGrant(owner.key, { session: 'exp', peer: a.id, expires: now + 1000 })
    expect(await policy.admit(a.id, encodeMembershipGrant(grant))).toBe(true)
    now += 999
    expect(await policy.isMember(a.id)).toBe(true)
    now += 1
    expect(await policy.isMember(a.id)).toBe(false)
  })
})
