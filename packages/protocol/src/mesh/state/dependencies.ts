import * as Y from 'yjs'
import { InvalidStateUpdateError } from '../../state/index.js'

/** What an update carries and whether a replica can apply it now. */
export interface UpdateShape {
  /** Structs (items and GCs) the update adds beyond what the replica holds. */
  newStructs: number
  /** Delete ranges the update carries. */
  deletes: number
  /**
   * Client → the clock the replica must reach before the update can apply in full (the
   * lowest such clock per client); undefined when it applies now.
   */
  missing?: Map<number, number>
}

/**
 * Check a Yjs update against `doc` without applying it: does every struct continue its
 * client's history where the replica (or the update itself) left it, do its origins and
 * parent name structs that exist, and does its delete set name only known structs? These are
 * the checks Yjs's integration makes (`Item.getMissing`, `readAndApplyDeleteSet`); what fails
 * them Yjs would keep as pending structs inside the document, which is what this avoids.
 * Throws `InvalidStateUpdateError` for bytes that are not an update, or a struct whose origin
 * lies at or after its own position in its client's history (Yjs cannot integrate that).
 */
export function inspectUpdate (doc: Y.Doc, update: Uint8Array): UpdateShape {
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch (err) {
    throw new InvalidStateUpdateError('malformed state update', { cause: err })
  }
  // each client's structs arrive as one contiguous run, in clock order
  const runs = new Map<number, Array<Y.Item | Y.GC | Y.Skip>>()
  for (const s of decoded.structs) {
    const run = runs.get(s.id.client)
    if (run == null) runs.set(s.id.client, [s])
    else run.push(s)
  }
  const reached = new Map<number, number>()
  const known = (client: number): number => reached.get(client) ?? Y.getState(doc.store, client)
  const has = (id: Y.ID | null): boolean => id == null || id.clock < known(id.client)
  let newStructs = 0
  const next = new Map<number, number>()
  // a struct may build on another client's struct later in the same update: sweep until no
  // run advances (each sweep advances at least one struct, so this ends)
  for (let progress = true; progress;) {
    progress = false
    for (const [client, run] of runs) {
      let i = next.get(client) ?? 0
      for (; i < run.length; i++) {
        const s = run[i] as Y.Item | Y.GC | Y.Skip
        if (s instanceof Y.Item && !ownHistoryFirst(s)) throw new InvalidStateUpdateError('malformed state update: a struct refers to its own future')
        const end = s.id.clock + s.length
        // held already (a Skip over held clocks is no gap either)
        if (end <= known(client)) continue
        if (s instanceof Y.Skip || s.id.clock > known(client)) break
        if (s instanceof Y.Item && (!has(foreign(s, s.origin)) || !has(foreign(s, s.rightOrigin)) || !has(foreign(s, s.parent instanceof Y.ID ? s.parent : null)))) break
        newStructs++
        reached.set(client, end)
        progress = true
      }
      next.set(client, i)
    }
  }
  const missing = new Map<number, number>()
  const need = (client: number, clock: number): void => {
    const at = missing.get(client)
    if (at == null || clock < at) missing.set(client, clock)
  }
  for (const [client, run] of runs) {
    const blocked = run[next.get(client) ?? 0]
    if (blocked == null) continue
    if (blocked instanceof Y.Skip) need(client, blocked.id.clock + blocked.length)
    else if (blocked.id.clock > known(client)) need(client, blocked.id.clock)
    else if (blocked instanceof Y.Item) {
      for (const id of [blocked.origin, blocked.rightOrigin, blocked.parent instanceof Y.ID ? blocked.parent : null]) {
        const dep = foreign(blocked, id)
        if (dep != null && !has(dep)) need(dep.client, dep.clock + 1)
      }
    }
  }
  let deletes = 0
  for (const [client, ranges] of decoded.ds.clients) {
    for (const r of ranges) {
      deletes++
      if (r.clock + r.len > known(client)) need(client, r.clock + r.len)
    }
  }
  return { newStructs, deletes, ...(missing.size > 0 ? { missing } : {}) }
}

/** True when the replica's history may now reach past some clock `missing` waits for. */
export function mayApply (doc: Y.Doc, missing: Map<number, number>): boolean {
  for (const [client, clock] of missing) {
    if (Y.getState(doc.store, client) >= clock) return true
  }
  return false
}

/**
 * Take out whatever Yjs holds back in `doc` (pending structs and deletes), so it is neither
 * kept without bound nor handed to peers by `Y.encodeStateAsUpdate`, which includes it.
 * Returns the bytes that were held (0 when none).
 */
export function dropPending (doc: Y.Doc): number {
  const store = doc.store
  const bytes = (store.pendingStructs?.update.length ?? 0) + (store.pendingDs?.length ?? 0)
  store.pendingStructs = null
  store.pendingDs = null
  return bytes
}

/** `id` when it names a struct of another client than `item`'s (same-client ones come first by construction). */
function foreign (item: Y.Item, id: Y.ID | null): Y.ID | null {
  return id != null && id.client !== item.id.client ? id : null
}

/** An item's same-client origins must lie before it: Yjs integrates a client's structs in clock order. */
function ownHistoryFirst (item: Y.Item): boolean {
  for (const id of [item.origin, item.rightOrigin, item.parent instanceof Y.ID ? item.parent : null]) {
    if (id != null && id.client === item.id.client && id.clock >= item.id.clock) return false
  }
  return true
}
