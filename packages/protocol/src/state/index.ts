export { ROOTS, createSessionDoc, roots } from './schema.js'
export type { Member, MemberRole, ModelHead, MetricEntry, StoredGrant, SessionConfig, AveragingRule, SessionRoots } from './schema.js'
export {
  InvalidStateUpdateError, REMOTE_ORIGIN, setConfig, getConfig, upsertMember, touchMember, markMemberLeft, getMember,
  listMembers, setHead, getHead, listHeads, appendMetric, listMetrics, putGrant, getGrant, encodeState,
  encodeStateVector, checkStateVector, applyRemoteUpdate, sameState
} from './document.js'
export { parseMember, parseHead, parseMetric, parseGrant, parseConfig } from './parse.js'
