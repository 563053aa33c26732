export { ROOTS, createSessionDoc, roots } from './schema.js'
export type { Member, MemberRole, ModelHead, MetricEntry, StoredGrant, SessionConfig, SessionEncoding, TopKEncoding, AveragingRule, SessionRoots } from './schema.js'
export {
  InvalidStateUpdateError, REMOTE_ORIGIN, METRICS_PER_PEER, setConfig, getConfig, upsertMember, touchMember, markMemberLeft, getMember,
  listMembers, setHead, getHead, listHeads, appendMetric, listMetrics, putGrant, getGrant, encodeState,
  encodeStateVector, checkStateVector, applyRemoteUpdate, sameState
} from './document.js'
export { parseMember, parseHead, parseMetric, parseGrant, parseConfig } from './parse.js'
export { InvalidOwnerError, NotMemberError, ownerKey, issueGrant, verifyGrant, storeGrant, readGrant, grantMembership } from './grants.js'
export type { GrantRefusal, GrantCheck, GrantTerms, GrantExpectation, MembershipPolicy, GrantMembershipInit } from './grants.js'
