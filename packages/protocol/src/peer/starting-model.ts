/**
 * Where a session peer's model starts, and whether its data can train it: the creator's
 * config (with its model object's weights published as the session's initial model), the
 * joiner's starting weights (fetched from the members, or the model object it brought), and
 * the data check every join runs.
 */
import { CID } from 'multiformats/cid'
import { createModelContent, rebuildSnapshot } from '../content/index.js'
import { MurmurError } from '../errors.js'
import type { ModelSnapshot } from '../learn/index.js'
import { directSessionPeers, sleep } from '../mesh/index.js'
import type { MurmurNode } from '../mesh/index.js'
import type { SessionConfig } from '../state/index.js'
import { InvalidDatasetError, isInMemory } from '../train/index.js'
import type { ModelConfig, Trainer, TrainingData } from '../train/index.js'
import { decodeManifest } from '../wire/index.js'
import { InvalidSessionOptionsError } from './model-input.js'
import type { ModelInput } from './model-input.js'
import type { SessionSettings } from './session-peer.js'

/** A session's settings where its creator leaves them out. */
export const SESSION_DEFAULTS = { averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp16' } as const

/** No member delivered the session's config in time; the message says what discovery found. */
export class SessionUnreachableError extends InvalidSessionOptionsError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SessionUnreachableError'
  }
}

/** The config a creator writes: its model, its settings, and (when shared) its initial weights published as content. */
export async function creatorConfig (node: MurmurNode, resolved: { config: ModelConfig, weights?: ModelSnapshot }, settings: SessionSettings, input: ModelInput | undefined): Promise<SessionConfig> {
  const { shareInitialModel, ...rest } = settings
  const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<SessionConfig>
  const config: SessionConfig = { ...SESSION_DEFAULTS, ...given, model: resolved.config }
  const share = shareInitialModel ?? (typeof input === 'string' || (input != null && resolved.weights != null))
  if (share && resolved.weights != null) {
    const content = await createModelContent(resolved.weights, { encoding: 'fp32', modelId: 'initial', version: 0, author: node.peerId.toString(), createdAt: Date.now(), architecture: JSON.stringify(resolved.config) })
    await node.services.shards.publish(content)
    config.initialModel = content.manifestCid.toString()
  }
  return config
}

/**
 * Where this peer's model starts: the session's shared initial model (fetched from the
 * members; the creator already holds it), else the weights of the model object the user
 * brought, else the trainer's seeded initialisation.
 */
export async function startingWeights (node: MurmurNode, config: SessionConfig, resolved: { weights?: ModelSnapshot } | undefined, relays: ReadonlySet<string>, timeout: number): Promise<ModelSnapshot | undefined> {
  if (config.initialModel != null) {
    const cid = CID.parse(config.initialModel)
    const store = node.services.shards.store
    if (await store.has(cid)) {
      // the creator, or a peer that fetched it before a restart
      return await rebuildSnapshot(decodeManifest(await store.get(cid)), async (c: CID) => await store.get(c))
    }
    const end = Date.now() + timeout
    let last: unknown
    while (Date.now() < end) {
      const providers = [...directSessionPeers(node.getConnections(), relays)].map(p => node.getConnections().find(c => c.remotePeer.toString() === p)?.remotePeer).filter(p => p != null)
      if (providers.length > 0) {
        try {
          return (await node.services.shards.fetchModel(cid, { providers, signal: AbortSignal.timeout(Math.max(1000, end - Date.now())) })).snapshot
        } catch (err) { last = err }
      }
      await sleep(250)
    }
    throw new SessionUnreachableError(`the session's initial model ${config.initialModel} could not be fetched from its members within ${timeout} ms${last != null ? `: ${(last as Error).message}` : ''}`, { cause: last })
  }
  return resolved?.weights
}

/**
 * Data that cannot train this model fails the join, naming which data set and why, instead
 * of failing every round: an empty set, or samples or targets whose shape does not fit the
 * session's model (checked on one batch of each in-memory set).
 */
export async function checkDataFits (trainer: Trainer, data: { train?: TrainingData, test?: TrainingData }): Promise<void> {
  for (const [name, set] of Object.entries(data)) {
    if (set == null || !isInMemory(set)) continue
    try {
      if (set.count === 0) throw new InvalidDatasetError('it holds no samples (leave it out instead)')
      await trainer.evaluate(set, { maxBatches: 1 })
    } catch (err) {
      if (err instanceof MurmurError) throw new InvalidDatasetError(`${name} does not fit the session's model: ${err.message}`, { cause: err })
      throw err
    }
  }
}

