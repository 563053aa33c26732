import { describe, expect, it } from 'vitest'
import { CHARS, VOCAB_SIZE, contextWindow, decodeIds, encodeText, normalizeText, textWindows } from '../src/browser.js'

describe('char-lm corpus preparation', () => {
  it('folds text into the fixed character set and back', () => {
    expect(normalizeText('Call me  Ishmael.\nSome years ago\u2014never mind')).toBe('call me ishmael. some years ago-never mind')
    const ids = encodeText('Whale 42!')
    expect(decodeIds(ids)).toBe('whale ##!')
    expect(Math.max(...ids)).toBeLessThan(VOCAB_SIZE)
    expect(VOCAB_SIZE).toBe(CHARS.length + 1)
  })

  it('cuts windows whose targets are the next character at every position', () => {
    const ids = encodeText('abcdefghij')
    const data = textWindows(ids, { length: 4, stride: 3 })
    expect(data.inputShape).toEqual([4])
    expect(data.targetShape).toEqual([4])
    expect(data.xs).toBeInstanceOf(Int32Array)
    expect(data.count).toBe(2)
    expect(decodeIds(data.xs.subarray(4, 8))).toBe('defg')
    expect(decodeIds(data.ys.subarray(0, 4))).toBe('bcde')
    expect(decodeIds(data.ys.subarray(4, 8))).toBe('efgh')
  })

  it('takes the last characters as context, left-padded with spaces', () => {
    expect(decodeIds(contextWindow(encodeText('ab'), 4))).toBe('  ab')
    expect(decodeIds(contextWindow(encodeText('abcdef'), 4))).toBe('cdef')
  })
})
