/**
 * Loading a user's CSV file: numeric feature columns and one target column, which holds
 * real values (regression) or class names (classification). Quoted fields follow RFC 4180:
 * `"a, b"` is one field, `""` inside quotes is a quote, and a quoted field may span lines.
 */
import { InvalidDataFileError } from './errors.js'
import { ClassNames, readText } from './read.js'
import type { Dataset } from '@murmur/protocol'

/** Options for `loadCsv`. */
export interface LoadCsvOptions {
  /** The target column: its name in the header, or its index from 0 (negative counts from the end: -1 is the last). */
  target: string | number
  /**
   * Whether the first line names the columns.
   * @default true
   */
  header?: boolean
  /**
   * 'auto': a target column holding anything but numbers is a class column, its values class
   * names turned into indices (`classNames`); false: the target must be numeric.
   * @default 'auto'
   */
  classes?: 'auto' | false
  /** The class names in index order, for peers whose files may not hold every class; other names are refused. Implies classes. */
  classNames?: string[]
  /**
   * The field separator.
   * @default ','
   */
  delimiter?: string
}

/** A CSV file as a data set. */
export interface LoadedCsv {
  /** xs: the feature columns as float32, inputShape [features]; ys: class indices (Int32Array) or values (Float32Array), targetShape []. */
  dataset: Dataset
  /** The feature columns' names (from the header, else `column <n>`), in xs order. */
  features: string[]
  /** The target column's name. */
  target: string
  /** Class names in index order, when the target is a class column. */
  classNames?: string[]
}

interface Row {
  line: number
  fields: string[]
}

/** Split CSV text into rows of fields, each with the line it starts on; blank lines are skipped. */
function parseRows (text: string, file: string, delimiter: string): Row[] {
  const rows: Row[] = []
  let fields: string[] = []
  let field = ''
  let line = 1
  let rowLine = 1
  let quoted = false
  let quoteLine = 0
  let quoteColumn = 0
  let column = 1
  const endRow = (): void => {
    fields.push(field)
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: rowLine, fields })
    fields = []
    field = ''
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i++
        } else {
          quoted = false
        }
      } else {
        field += ch
        if (ch === '\n') {
          line++
          column = 0
        }
      }
    } else if (ch === '"' && field === '') {
      quoted = true
      quoteLine = line
      quoteColumn = column
    } else if (ch === delimiter) {
      fields.push(field)
      field = ''
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++
      endRow()
      line++
      column = 0
      rowLine = line
    } else {
      field += ch
    }
    column++
  }
  if (quoted) throw new InvalidDataFileError({ file, line: quoteLine, column: quoteColumn }, 'a quoted field is never closed')
  endRow()
  return rows
}

/** The target column's index, from a name or a (possibly negative) number. */
function targetColumn (target: string | number, names: string[], file: string): number {
  if (typeof target === 'number') {
    const index = target < 0 ? names.length + target : target
    if (!Number.isInteger(target) || index < 0 || index >= names.length) {
      throw new InvalidDataFileError({ file, line: 1 }, `target column ${target} is outside the ${names.length} columns`)
    }
    return index
  }
  const index = names.indexOf(target)
  if (index < 0) throw new InvalidDataFileError({ file, line: 1 }, `no column is named "${target}"; the header names ${names.map(n => `"${n}"`).join(', ')}`)
  return index
}

/** A field as a number, or NaN when it is not one (an empty field is not 0). */
function numberOf (field: string): number {
  const trimmed = field.trim()
  return trimmed === '' ? NaN : Number(trimmed)
}

/**
 * Load a CSV file: every column but the target is a numeric feature; the target becomes
 * class indices (if it holds names, or `classNames` is given) or real values. Errors name the
 * file, line and column of the bad field.
 */
export async function loadCsv (path: string, options: LoadCsvOptions): Promise<LoadedCsv> {
  const delimiter = options.delimiter ?? ','
  const rows = parseRows(await readText(path), path, delimiter)
  const hasHeader = options.header ?? true
  const head = rows[0]
  if (head == null) throw new InvalidDataFileError({ file: path, line: 1 }, 'the file holds no rows')
  const width = head.fields.length
  const names = hasHeader ? head.fields.map(f => f.trim()) : head.fields.map((_, i) => `column ${i + 1}`)
  if (!hasHeader && typeof options.target === 'string') {
    throw new InvalidDataFileError({ file: path, line: 1 }, `target "${options.target}" names a column, but header is false: give the column's index`)
  }
  const target = targetColumn(options.target, names, path)
  const body = hasHeader ? rows.slice(1) : rows
  if (body.length === 0) throw new InvalidDataFileError({ file: path, line: head.line }, 'the file holds a header but no samples')
  for (const row of body) {
    if (row.fields.length !== width) {
      throw new InvalidDataFileError({ file: path, line: row.line }, `${row.fields.length} fields, the ${hasHeader ? 'header has' : 'first row has'} ${width}`)
    }
  }
  const features = width - 1
  const xs = new Float32Array(body.length * features)
  body.forEach((row, r) => {
    let k = 0
    row.fields.forEach((field, c) => {
      if (c === target) return
      const v = numberOf(field)
      if (!Number.isFinite(v)) {
        throw new InvalidDataFileError({ file: path, line: row.line, column: c + 1 }, `column "${names[c]}" holds ${JSON.stringify(field)}, not a number; feature columns must be numeric`)
      }
      xs[r * features + k++] = v
    })
  })
  const targets = body.map(row => row.fields[target] as string)
  const numeric = targets.every(v => Number.isFinite(numberOf(v)))
  const asClasses = options.classNames != null || (options.classes !== false && !numeric)
  const common = { features: names.filter((_, c) => c !== target), target: names[target] as string }
  if (!asClasses) {
    const bad = targets.findIndex(v => !Number.isFinite(numberOf(v)))
    if (bad >= 0) {
      throw new InvalidDataFileError({ file: path, line: (body[bad] as Row).line, column: target + 1 }, `target column "${names[target]}" holds ${JSON.stringify(targets[bad])}, not a number (classes is false)`)
    }
    const ys = Float32Array.from(targets, numberOf)
    return { dataset: { xs, ys, count: body.length, inputShape: [features], targetShape: [] }, ...common }
  }
  const classes = new ClassNames(options.classNames)
  targets.forEach((name, r) => {
    if (!classes.add(name.trim())) {
      throw new InvalidDataFileError({ file: path, line: (body[r] as Row).line, column: target + 1 }, `class ${JSON.stringify(name.trim())} is not one of the given classNames`)
    }
  })
  const classNames = classes.list()
  const ys = Int32Array.from(targets, name => classes.indexOf(name.trim()))
  return { dataset: { xs, ys, count: body.length, inputShape: [features], targetShape: [] }, ...common, classNames }
}
