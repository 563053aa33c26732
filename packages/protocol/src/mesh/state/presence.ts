import { PRESENCE_SKEW_MS } from './constants.js'

/**
 * The presence beacon a peer publishes on `/murmur/<session>/state` as an `AWARENESS`
 * message: its clock in milliseconds since the Unix epoch, written as ASCII decimal digits
 * with no sign, no leading zero and no other bytes (e.g. `1767225600000`). Receivers use
 * their own clock for last-seen times; the stamp only has to be plausible.
 */
const PRESENCE = /^[1-9][0-9]{0,15}$/

/** Longest presence payload: 16 digits reach past the year 2200. */
export const MAX_PRESENCE_BYTES = 16

/** Encode our presence beacon for time `now`. */
export function encodePresence (now: number): Uint8Array {
  return new TextEncoder().encode(String(Math.floor(now)))
}

/**
 * True when `payload` is a presence beacon in the documented form, stamped within
 * `skewMs` of `now` either way.
 */
export function isPresence (payload: Uint8Array, now = Date.now(), skewMs = PRESENCE_SKEW_MS): boolean {
  if (payload.length === 0 || payload.length > MAX_PRESENCE_BYTES) return false
  let text = ''
  for (const b of payload) text += String.fromCharCode(b)
  if (!PRESENCE.test(text)) return false
  return Math.abs(Number(text) - now) <= skewMs
}
