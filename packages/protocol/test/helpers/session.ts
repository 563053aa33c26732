import { beforeAll, afterEach } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import type { Session } from '../../src/session/session.js'
import type { SessionPeer } from '../../src/peer/index.js'
import { stopAll } from './mesh.js'
import type { MeshNode } from './mesh.js'

/** What a session test started; the test assigns both, and each is stopped after it. */
export interface SessionFixture {
  nodes: MeshNode[]
  sessions: Session[]
}

/** Run a file's session tests on tfjs's CPU backend, stopping every session and node a test started. */
export function sessionFixture (): SessionFixture {
  const fx: SessionFixture = { nodes: [], sessions: [] }
  beforeAll(async () => {
    await tf.setBackend('cpu')
  })
  afterEach(async () => {
    await Promise.all(fx.sessions.map(async s => s.stop().catch(() => {})))
    fx.sessions = []
    await stopAll(fx.nodes)
    fx.nodes = []
  })
  return fx
}

/** What a front-door test started: every peer left and every node stopped after each test. */
export interface PeerFixture {
  nodes: MeshNode[]
  peers: SessionPeer[]
}

/** Run a file's `SessionPeer` tests on tfjs's CPU backend, leaving every peer and stopping every node a test started. */
export function peerFixture (): PeerFixture {
  const fx: PeerFixture = { nodes: [], peers: [] }
  beforeAll(async () => {
    await tf.setBackend('cpu')
  })
  afterEach(async () => {
    await Promise.all(fx.peers.map(async p => p.leave().catch(() => {})))
    fx.peers = []
    await stopAll(fx.nodes)
    fx.nodes = []
  })
  return fx
}
