/**
 * A STUN or TURN server for WebRTC's ICE, in Murmur's own type.
 *
 * The DOM's `RTCIceServer` exists only when a program compiles with the DOM lib, so a
 * Node project importing `@murmur/node` would fail to type-check our `.d.ts` files if
 * they named it. This interface has the same shape, so a value of it is accepted
 * wherever the DOM (or node-datachannel) expects an `RTCIceServer`.
 */
export interface IceServer {
  /** One URL or several for the same server: `stun:host:port`, `turn:host:port`, `turns:host:port`. */
  urls: string | string[]
  /** User name for a TURN server. */
  username?: string
  /** Password (long-term credential) for a TURN server. */
  credential?: string
}
