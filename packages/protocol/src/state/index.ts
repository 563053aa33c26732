export { ROOTS, createSessionDoc, roots } from './schema.js'
export type { Member, MemberRole, ModelHead, MetricEntry, RoundRecord, StoredGrant, SessionConfig, SessionEncoding, TopKEncoding, AveragingRule, SessionPace, SessionRoots } from './schema.js'
export {
  InvalidStateUpdateError, REMOTE_ORIGIN, ROUNDS_KEPT, setConfig, getConfig, upsertMember, markMemberLeft, getMember,
  listMembers, configProblem, recordRound, roundLogs, trimRounds, getHead, listHeads, listMetrics, putGrant, getGrant, encodeState,
  encodeStateVector, checkStateVector, applyRemoteUpdate, sameState
} from './document.js'
export { parseMember, parseHead, parseMetric, parseRound, parseGrant, parseConfig } from './parse.js'
export { InvalidOwnerError, NotMemberError, ownerKey, issueGrant, verifyGrant, storeGrant, readGrant, grantMembership } from './grants.js'
export type { GrantRefusal, GrantCheck, GrantTerms, GrantExpectation, MembershipPolicy, GrantMembershipInit } from './grants.js'
