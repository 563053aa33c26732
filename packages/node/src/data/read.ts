/**
 * What the loaders of users' files share: reading a text file (a missing one says so), and
 * turning class names into class indices that every peer agrees on.
 */
import { readFile } from 'node:fs/promises'
import { DatasetNotFoundError } from './errors.js'

/** A UTF-8 file's text without a byte-order mark. */
export async function readText (path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetNotFoundError(`${path} not found`, { cause: err })
    throw err
  }
  return text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text
}

/**
 * Class names to indices. Without a fixed list the names are sorted, so two peers whose
 * files hold the same classes agree on the indices whatever order the rows come in; a peer
 * whose file may lack a class should pass the session's list.
 */
export class ClassNames {
  private readonly fixed: boolean
  private readonly index = new Map<string, number>()
  private names: string[]

  constructor (names?: readonly string[]) {
    this.fixed = names != null
    this.names = [...(names ?? [])]
    this.names.forEach((name, i) => this.index.set(name, i))
  }

  /** Note a name seen in the file; false when a fixed list lacks it. */
  add (name: string): boolean {
    if (this.index.has(name)) return true
    if (this.fixed) return false
    this.index.set(name, -1)
    return true
  }

  /** The final names, in index order; sorts the names seen unless the list was fixed. */
  list (): string[] {
    if (!this.fixed) {
      this.names = [...this.index.keys()].sort()
      this.names.forEach((name, i) => this.index.set(name, i))
    }
    return [...this.names]
  }

  /** The index of a name; call after `list()`. */
  indexOf (name: string): number {
    return this.index.get(name) ?? -1
  }
}
