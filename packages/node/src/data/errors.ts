/**
 * What goes wrong reading a user's data files: a file that is not there, and a file whose
 * contents are not what the loader was told to expect, with the place it went wrong.
 */
import { MurmurError } from '@murmur/protocol'

/** A data set's files are not where they should be, with what to install to get them. */
export class DatasetNotFoundError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DATASET_NOT_FOUND', options)
    this.name = 'DatasetNotFoundError'
  }
}

/** Where in a text file something went wrong; line and column count from 1. */
export interface FilePosition {
  file: string
  line: number
  column?: number
}

/**
 * A data file that cannot be read as asked: a malformed row, a value that is not a number,
 * a missing field. The message starts with `file:line:column`, as compilers write it.
 */
export class InvalidDataFileError extends MurmurError {
  readonly file: string
  readonly line: number
  readonly column: number | undefined

  constructor (at: FilePosition, message: string, options?: ErrorOptions) {
    super(`${at.file}:${at.line}${at.column === undefined ? '' : `:${at.column}`}: ${message}`, 'ERR_INVALID_DATA_FILE', options)
    this.name = 'InvalidDataFileError'
    this.file = at.file
    this.line = at.line
    this.column = at.column
  }
}
