import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  InvalidSessionIdError, MAX_SIZES, MAX_SHARD_SIZE, PROTOCOL_SHARD, PROTOCOL_STATE, assertSessionId, headsTopic,
  isValidSessionId, stateTopic
} from '../src/wire/index.js'

describe('wire ids and topics', () => {
  it('names the protocols and per-session topics', () => {
    expect(PROTOCOL_SHARD).toBe('/murmur/shard/1.0.0')
    expect(PROTOCOL_STATE).toBe('/murmur/state/1.0.0')
    expect(stateTopic('relief-2024.v1_a')).toBe('/murmur/relief-2024.v1_a/state')
    expect(headsTopic('x')).toBe('/murmur/x/heads')
  })

  it('accepts exactly 1-64 characters of [A-Za-z0-9._-]', () => {
    fc.assert(fc.property(fc.oneof(fc.stringMatching(/^[A-Za-z0-9._/ -]{0,66}$/), fc.string({ maxLength: 80, unit: 'binary' })), s => {
      const ok = /^[A-Za-z0-9._-]{1,64}$/.test(s)
      expect(isValidSessionId(s)).toBe(ok)
      if (ok) expect(stateTopic(s)).toBe(`/murmur/${s}/state`)
      else expect(() => headsTopic(s)).toThrow(InvalidSessionIdError)
    }), { numRuns: 200 })
    for (const bad of ['', 'a'.repeat(65), 'a/b', 'a b', 'sessión', 'a\n']) {
      expect(() => stateTopic(bad)).toThrow(InvalidSessionIdError)
    }
    expect(() => assertSessionId(42)).toThrow(expect.objectContaining({ name: 'InvalidSessionIdError', code: 'ERR_INVALID_SESSION_ID' }))
    expect(assertSessionId('a'.repeat(64))).toBe('a'.repeat(64))
  })

  it('sizes every limit from the largest shard', () => {
    expect(MAX_SIZES.manifest).toBeLessThanOrEqual(MAX_SHARD_SIZE)
    expect(MAX_SIZES.shardResponse).toBe(MAX_SHARD_SIZE + 4096)
    expect(MAX_SIZES.shardRequest).toBe(128)
    expect(Object.keys(MAX_SIZES).sort()).toEqual(['headAnnouncement', 'manifest', 'membershipGrant', 'shardRequest', 'shardResponse', 'stateMessage'])
  })
})
