import type { GossipSub, Message } from '@libp2p/gossipsub'

export { TopicValidatorResult } from '@libp2p/gossipsub'

/** The gossipsub instance Murmur's services publish and validate through. */
export type PubSubLike = GossipSub

/** A pubsub message as gossipsub delivers it. */
export type PubSubMessage = Message
