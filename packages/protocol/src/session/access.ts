import type * as Y from 'yjs'
import { grantMembership } from '../state/index.js'
import type { MembershipPolicy } from '../state/index.js'
import type { MembershipGrant } from '../wire/index.js'
import type { MurmurNode } from './types.js'

/** How a peer takes part in a private session. */
export interface SessionAccessInit {
  /** The owner's peer id: only peers holding a grant it signed are members. */
  owner: string
  /** This peer's grant from the owner (the owner itself needs none). */
  grant?: MembershipGrant
}

/** What non-members tried, as this node counted it (node-wide service counters). */
export interface NonMemberStats {
  /** State gossip and exchanges refused. */
  state: number
  /** Head announcements ignored. */
  heads: number
  /** Shard requests answered FORBIDDEN. */
  shardRequests: number
  /** Shard providers not asked. */
  shardProviders: number
}

/**
 * Puts a private session's membership rule in front of the node's shard service (state and
 * heads take `membership` when they join) and reports what non-members tried.
 */
export class SessionAccess {
  readonly membership: MembershipPolicy
  readonly owner: string
  private readonly node: MurmurNode

  constructor (init: SessionAccessInit & { node: MurmurNode, session: string, doc: Y.Doc }) {
    this.node = init.node
    this.owner = init.owner
    this.membership = grantMembership({ session: init.session, owner: init.owner, doc: init.doc, grant: init.grant })
  }

  /** Start enforcing: call before the services join the session. */
  attach (): void {
    this.node.services.shards.restrictTo(async (peer) => this.membership.isMember(peer))
  }

  /** Stop enforcing (the session left). */
  detach (): void {
    this.node.services.shards.restrictTo(undefined)
  }

  /** Non-member traffic refused so far. */
  get stats (): NonMemberStats {
    const s = this.node.services
    return { state: s.state.stats.nonMember, heads: s.heads.stats.nonMember, shardRequests: s.shards.stats.forbidden, shardProviders: s.shards.stats.nonMemberProviders }
  }
}
