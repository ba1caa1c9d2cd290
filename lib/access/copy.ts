// COPY, the way rows of any size and any type leave and come back: the statements for a table's
// columns (generated ones left out: PostgreSQL computes them again), and the splitter that parts
// psql's one output stream into one stream per table. Text format throughout: it gives back every
// type exactly (arrays, jsonb, bytea, timestamptz, numeric, enums, domains, NULL), and in it a
// backslash in the data is always written doubled, so a line that is exactly `\.` is never a row.
import { Writable } from 'node:stream'
import { quoteIdent } from './sql.ts'

/** A table as COPY sees it. */
export interface CopyTable {
  /** As the plan names it: identifier or schema.identifier. */
  name: string
  /** r: table, p: partitioned table (no rows of its own: they are in its partitions), f: foreign table */
  kind: string
  /** The columns COPY reads and writes, in their order: every column but dropped and generated ones. */
  columns: string[]
  /** GENERATED ALWAYS AS (...) STORED columns, left out: PostgreSQL computes them again. */
  generated: string[]
}

/**
 * What COPY's text depends on, set alike for the backup and the restore (as pg_dump does), whatever
 * the server, the database or the role sets: dates and intervals in one style (a backup taken
 * under DateStyle 'SQL, DMY' would not load under 'ISO, MDY'), floats in their shortest exact form
 * (extra_float_digits below 1 rounds them), and UTF8 whichever client reads them.
 */
export const COPY_SETTINGS = [
  "SET LOCAL datestyle = 'ISO, YMD'",
  "SET LOCAL intervalstyle = 'postgres'",
  'SET LOCAL extra_float_digits = 3',
  "SET LOCAL client_encoding = 'UTF8'",
]

/** A column name as SQL: double-quoted, quotes doubled (it comes from the catalog, not from a person). */
export const quoteColumn = (name: string) => `"${name.replace(/"/g, '""')}"`

/** Does the table hold rows of its own? A partitioned table does not (COPY TO and TRUNCATE ONLY refuse it). */
export const holdsRows = (t: Pick<CopyTable, 'kind'>) => t.kind !== 'p'

/**
 * The column list; none when every column is generated (or there is none): COPY then writes an
 * empty line a row, and reads it back so.
 */
const columnList = (t: CopyTable) => (t.columns.length ? ` (${t.columns.map(quoteColumn).join(', ')})` : '')

/**
 * COPY of a table's own rows (not its children's) to stdout. A foreign table cannot be copied by
 * name: its rows are read with a SELECT from ONLY it.
 */
export function copyOutSql(t: CopyTable): string {
  if (!holdsRows(t)) throw new Error(`${t.name} is partitioned: its rows are in its partitions`)
  if (t.kind === 'f') {
    const columns = t.columns.length ? t.columns.map(quoteColumn).join(', ') : ''
    return `COPY (SELECT ${columns} FROM ONLY ${quoteIdent(t.name)}) TO STDOUT`
  }
  return `COPY ${quoteIdent(t.name)}${columnList(t)} TO STDOUT`
}

/** COPY of rows from stdin into those columns; an identity column GENERATED ALWAYS takes the values given. */
export function copyInSql(t: CopyTable): string {
  return `COPY ${quoteIdent(t.name)}${columnList(t)} FROM STDIN`
}

/** The line psql prints between two tables' rows (\echo), and COPY FROM's end of data. */
export const END_OF_COPY = '\\.\n'
const END = Buffer.from(END_OF_COPY)

/**
 * psql's stdout for several COPY ... TO STDOUT, each followed by an END_OF_COPY line, parted into
 * one stream per COPY, with backpressure: the bytes before the first such line go to the first
 * sink, and so on. Each sink is ended when its rows are complete; output past the last one, or too
 * few parts, is an error (psql did not run the script it was given).
 */
export class CopySplitter extends Writable {
  private part = 0
  private atLineStart = true
  /** The beginning of a line that may still turn out to be END_OF_COPY (at most two bytes). */
  private held = Buffer.alloc(0)

  constructor(private sinks: Writable[]) {
    super()
    for (const s of sinks) s.on('error', (e) => this.destroy(e)) // a sink's failure (a full disk) is the splitter's
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void) {
    this.take(this.held.length ? Buffer.concat([this.held, chunk]) : chunk).then(() => done(), done)
  }

  override _final(done: (e?: Error | null) => void) {
    const left = this.sinks.length - this.part
    done(
      left || this.held.length
        ? new Error(`psql's output ended with ${left} of ${this.sinks.length} tables' rows not complete`)
        : null,
    )
  }

  /** Failed: the sinks not complete are closed (their error is this one, reported once, by the splitter). */
  override _destroy(e: Error | null, done: (e?: Error | null) => void) {
    for (const s of this.sinks.slice(this.part)) s.destroy()
    done(e)
  }

  private async take(buf: Buffer) {
    this.held = Buffer.alloc(0)
    let from = 0
    let at = 0
    while (at < buf.length) {
      if (this.atLineStart) {
        const rest = buf.subarray(at, at + END.length)
        if (rest.length < END.length && END.subarray(0, rest.length).equals(rest)) {
          this.held = Buffer.from(rest) // decided by the next chunk
          break
        }
        if (rest.equals(END)) {
          await this.send(buf.subarray(from, at))
          await this.next()
          at = from = at + END.length
          continue
        }
      }
      const newline = buf.indexOf(10, at)
      this.atLineStart = newline >= 0
      at = newline >= 0 ? newline + 1 : buf.length
    }
    await this.send(buf.subarray(from, at))
  }

  private async send(bytes: Buffer) {
    if (!bytes.length) return
    const sink = this.sinks[this.part]
    if (!sink) throw new Error(`psql printed more than the ${this.sinks.length} tables' rows asked for`)
    if (!sink.write(bytes)) await settled(sink, 'drain')
  }

  /** The current table's rows are complete: its sink is ended (and written out) before the next begins. */
  private async next() {
    const sink = this.sinks[this.part++]
    if (!sink) throw new Error(`psql printed more than the ${this.sinks.length} tables' rows asked for`)
    sink.end()
    await settled(sink, 'finish')
  }
}

/** Resolves on the event, rejects on the sink's error: a sink that failed never drains. */
function settled(sink: Writable, event: 'drain' | 'finish'): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (e: Error) => (sink.off(event, ok), reject(e))
    const ok = () => (sink.off('error', failed), resolve())
    sink.once(event, ok)
    sink.once('error', failed)
  })
}
