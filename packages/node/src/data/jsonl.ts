/**
 * Loading a user's JSON Lines file (one JSON object a line): one field holds the sample (a
 * number or a rectangular array of numbers), another the target (a number, an array of
 * numbers, or a class name). Every line must have the shapes of the first.
 */
import { InvalidDataFileError } from './errors.js'
import { ClassNames, readText } from './read.js'
import type { Dataset } from '@murmur/protocol'

/** Options for `loadJsonLines`. */
export interface LoadJsonLinesOptions {
  /** The field holding the sample; a dotted path ('input.pixels') reaches into nested objects. */
  x: string
  /** The field holding the target, likewise. */
  y: string
  /** The class names in index order, for string targets; names not in it are refused. @default the sorted names the file holds */
  classNames?: string[]
}

/** A JSON Lines file as a data set. */
export interface LoadedJsonLines {
  /** xs float32; ys class indices (Int32Array) for string targets, else float32 values. */
  dataset: Dataset
  /** Class names in index order, when the targets are strings. */
  classNames?: string[]
}

function fieldOf (value: unknown, path: string): unknown {
  let at = value
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined
    at = (at as Record<string, unknown>)[key]
  }
  return at
}

/** The shape of a number or rectangular array of numbers, or a reason it is neither. */
function shapeOf (value: unknown): number[] | string {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : `${value} is not a finite number`
  if (!Array.isArray(value)) return `${JSON.stringify(value)} is not a number or an array of numbers`
  if (value.length === 0) return 'an empty array'
  const inner = shapeOf(value[0])
  if (typeof inner === 'string') return inner
  for (const item of value) {
    const s = shapeOf(item)
    if (typeof s === 'string') return s
    if (s.length !== inner.length || s.some((d, i) => d !== inner[i])) return 'a ragged array (rows of different lengths)'
  }
  return [value.length, ...inner]
}

function flattenInto (value: unknown, out: Float32Array, offset: number): number {
  if (typeof value === 'number') {
    out[offset] = value
    return offset + 1
  }
  for (const item of value as unknown[]) offset = flattenInto(item, out, offset)
  return offset
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i])

/** Column (from 1) of a field's key in its line, for error messages; the field's last segment is searched. */
function columnOf (text: string, path: string): number | undefined {
  const key = path.slice(path.lastIndexOf('.') + 1)
  const at = text.indexOf(`"${key}"`)
  return at < 0 ? undefined : at + 1
}

/** Column (from 1) of a JSON syntax error, from the position V8 puts in its message. */
function syntaxColumn (err: unknown): number | undefined {
  const match = /position (\d+)/.exec((err as Error).message)
  return match == null ? undefined : Number(match[1]) + 1
}

/**
 * Load a JSON Lines file; blank lines are skipped. Errors name the file, line and column (of
 * the JSON syntax error, or of the field at fault).
 */
export async function loadJsonLines (path: string, options: LoadJsonLinesOptions): Promise<LoadedJsonLines> {
  const lines = (await readText(path)).split(/\r?\n/)
  const rows: Array<{ line: number, text: string, x: unknown, y: unknown }> = []
  lines.forEach((text, i) => {
    if (text.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new InvalidDataFileError({ file: path, line: i + 1, column: syntaxColumn(err) }, `not JSON: ${(err as Error).message}`, { cause: err })
    }
    const x = fieldOf(value, options.x)
    const y = fieldOf(value, options.y)
    for (const [field, v] of [[options.x, x], [options.y, y]] as const) {
      if (v === undefined) throw new InvalidDataFileError({ file: path, line: i + 1 }, `no field "${field}"`)
    }
    rows.push({ line: i + 1, text, x, y })
  })
  const first = rows[0]
  if (first == null) throw new InvalidDataFileError({ file: path, line: 1 }, 'the file holds no samples')
  const problem = (row: typeof first, field: string, why: string): InvalidDataFileError =>
    new InvalidDataFileError({ file: path, line: row.line, column: columnOf(row.text, field) }, `field "${field}": ${why}`)
  const inputShape = shapeOf(first.x)
  if (typeof inputShape === 'string') throw problem(first, options.x, inputShape)
  if (inputShape.length === 0) inputShape.push(1)
  const classTargets = typeof first.y === 'string'
  const targetShape = classTargets ? [] : shapeOf(first.y)
  if (typeof targetShape === 'string') throw problem(first, options.y, targetShape)
  const features = inputShape.reduce((a, b) => a * b, 1)
  const perTarget = targetShape.reduce((a, b) => a * b, 1)
  const xs = new Float32Array(rows.length * features)
  const values = new Float32Array(classTargets ? 0 : rows.length * perTarget)
  const classes = new ClassNames(options.classNames)
  rows.forEach((row, r) => {
    const xShape = shapeOf(row.x)
    if (typeof xShape === 'string') throw problem(row, options.x, xShape)
    if (xShape.reduce((a, b) => a * b, 1) !== features || (xShape.length > 0 && !sameShape(xShape, inputShape))) {
      throw problem(row, options.x, `shape [${xShape.join(', ')}], the first sample's is [${inputShape.join(', ')}]`)
    }
    flattenInto(row.x, xs, r * features)
    if (classTargets) {
      if (typeof row.y !== 'string') throw problem(row, options.y, `${JSON.stringify(row.y)} is not a class name; the first sample's target is one`)
      if (!classes.add(row.y)) throw problem(row, options.y, `class ${JSON.stringify(row.y)} is not one of the given classNames`)
      return
    }
    const yShape = shapeOf(row.y)
    if (typeof yShape === 'string') throw problem(row, options.y, yShape)
    if (!sameShape(yShape, targetShape)) throw problem(row, options.y, `shape [${yShape.join(', ')}], the first sample's is [${targetShape.join(', ')}]`)
    flattenInto(row.y, values, r * perTarget)
  })
  if (!classTargets) return { dataset: { xs, ys: values, count: rows.length, inputShape, targetShape } }
  const classNames = classes.list()
  const ys = Int32Array.from(rows, row => classes.indexOf(row.y as string))
  return { dataset: { xs, ys, count: rows.length, inputShape, targetShape: [] }, classNames }
}
