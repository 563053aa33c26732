/**
 * `@murmur/node/sim`: many full Murmur peers in one process over the memory transport, on a
 * chosen topology, with scheduled disruptions and Byzantine peers — what the benchmarks
 * measure learning with. Not part of the main entry point: users run sessions, not these.
 */
export { simulate, partitionData } from './simulate.js'
export type { SimulationOptions, SimulationResult, RoundSummary, PartitionSpec, Disruption, ByzantineAttack, ByzantineSpec } from './simulate.js'
export { attackSnapshot, consensusOf } from './byzantine.js'
export { buildTopology, parseTopology, neighbours, isConnected, byDegree } from './topology.js'
export type { TopologySpec, Edges } from './topology.js'
export { createMemoryPeer } from './memory-peer.js'
export type { MemoryPeer } from './memory-peer.js'
