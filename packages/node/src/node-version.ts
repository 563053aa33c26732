/**
 * The oldest Node.js Murmur runs on. libp2p 3 calls `Promise.withResolvers` (Node 22+):
 * on Node 20 the CLI got as far as dialling and then died with "TypeError:
 * Promise.withResolvers is not a function", which tells a user nothing about the cause.
 */
export const MIN_NODE_MAJOR = 22

/** The one-line complaint about `version` (like `process.version`), or undefined when it is new enough. */
export function nodeVersionProblem (version: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1])
  if (major >= MIN_NODE_MAJOR) return undefined
  return `murmur needs Node ${MIN_NODE_MAJOR} or newer (this is ${version})`
}

/**
 * Exit with code 1 and one line on stderr when this Node is too old. Call it first in the
 * CLI entry, before anything loads libp2p (keep libp2p behind the commands' dynamic imports).
 */
export function assertNodeVersion (version: string = process.version): void {
  const problem = nodeVersionProblem(version)
  if (problem == null) return
  process.stderr.write(`${problem}\n`)
  process.exit(1)
}
