// The app's work during the test, for the run page: the length of the queue its workers consume,
// sampled from Redis while the test runs, and the rows of its jobs table read after it. Which
// table, which columns and which queue are the checks file's `timeline:` section, not code.
import { withDatabase } from '../access/database.ts'
import { openRedis, type Kv } from '../access/redis.ts'
import type { Reach } from '../access/reach.ts'
import { quoteIdent } from '../access/sql.ts'
import { messageOf } from '../util/errors.ts'
import { sampleEvery, type Reading } from '../util/sampler.ts'
import { out } from '../util/output.ts'
import type { Clock } from '../util/wait.ts'

/** The checks file's `timeline:` section: where the app keeps its work and which queue feeds it. */
export interface Timeline {
  /** A row of it is one unit of work, drawn as a bar. */
  table: string
  /** Bars are grouped by this column (a campaign). */
  group: string
  /** Bars are coloured by these two. */
  type: string
  status: string
  /** A bar runs from `start` to `end`, or to `updated` while `end` is empty. */
  start: string
  end: string
  updated?: string
  /** The Redis list the workers consume (Celery's default: celery), sampled during the test. */
  queue?: string
}

/** One row of the table as a bar: times in ms since the epoch; `done` when it had an end. */
export interface JobBar {
  group: string
  type: string
  status: string
  start: number
  end: number
  done: boolean
}

export interface Work {
  table: string
  /** Rows in the table after the test; the bars are the first JOB_LIMIT of them by start. */
  total: number
  jobs: JobBar[]
  queue: { key: string; samples: Reading[]; note?: string } | null
  /** When the test ran (ms since the epoch). */
  test: { startedAt: number; endedAt: number }
  /** Why something is missing (the table could not be read, ...). */
  note?: string
}

/** At most this many bars on a page (a row is ~100 bytes of the page and one SVG element). */
export const JOB_LIMIT = 5000
/** The queue's length is read this often during the test. */
export const SAMPLE_EVERY_MS = 1000

const epochMs = (column: string) =>
  `(extract(epoch FROM ${quoteIdent(column)}) * 1000)::float8 AS ${quoteIdent(column)}`

/** The rows the page draws, each column under its own name, times as ms since the epoch; and the count of all. */
export function jobsSql(t: Timeline, limit = JOB_LIMIT): { rows: string; count: string } {
  const text = (column: string) => `${quoteIdent(column)}::text AS ${quoteIdent(column)}`
  const columns = [text(t.group), text(t.type), text(t.status), epochMs(t.start), epochMs(t.end)]
  if (t.updated) columns.push(epochMs(t.updated))
  const table = quoteIdent(t.table)
  return {
    rows: `SELECT ${columns.join(', ')} FROM ${table} ORDER BY ${quoteIdent(t.start)} NULLS LAST LIMIT ${limit}`,
    count: `SELECT count(*) AS n FROM ${table}`,
  }
}

/** A time as the database, psql's JSON or a fixture gives it: ms, a Date, an ISO string; NaN when absent. */
function msOf(v: unknown): number {
  if (v === null || v === undefined || v === '') return NaN
  if (v instanceof Date) return v.getTime()
  return typeof v === 'number' ? v : /^-?[\d.]+$/.test(String(v)) ? Number(v) : Date.parse(String(v))
}

/** Rows, keyed by the timeline's column names, as bars; a row without a start is left out. */
export function jobBars(t: Timeline, rows: Record<string, unknown>[]): JobBar[] {
  const bars: JobBar[] = []
  for (const row of rows) {
    const start = msOf(row[t.start])
    if (Number.isNaN(start)) continue
    const ended = msOf(row[t.end])
    const updated = t.updated ? msOf(row[t.updated]) : NaN
    const end = Number.isNaN(ended) ? (Number.isNaN(updated) ? start : updated) : ended
    const text = (column: string) => String(row[column] ?? '')
    bars.push({
      group: text(t.group),
      type: text(t.type),
      status: text(t.status),
      start,
      end,
      done: !Number.isNaN(ended),
    })
  }
  return bars
}

/**
 * Since when the queue has held messages at every reading without ever getting shorter (the time
 * of the first reading of that stretch), or null when the last reading found it empty or shorter.
 */
export function stuckSince(readings: Reading[]): number | null {
  let i = readings.length - 1
  if (i < 0 || readings[i].value === 0) return null
  while (i > 0 && readings[i - 1].value > 0 && readings[i - 1].value <= readings[i].value) i--
  return readings[i].at
}

/** Warns once a stretch when the queue has held messages for `afterMs` without getting shorter. */
function stallWarner(queue: string, afterMs: number): (readings: Reading[]) => void {
  let warned: number | null = null
  return (readings) => {
    const since = stuckSince(readings)
    const last = readings[readings.length - 1]
    if (!afterMs || since === null || since === warned || last.at - since < afterMs) return
    warned = since
    out.warn(
      `the queue ${queue} has held messages for ${Math.round((last.at - since) / 1000)} s without getting shorter ` +
        `(${last.value} now): the workers may have stopped taking tasks (kombu < 5.4 after a broker reconnect: ` +
        `celery/celery#8030). The test waits until its own timeout; Ctrl-C and run again: the next in-place reset ` +
        'restarts a worker whose log shows a reconnect (QUEUE_STALL_WARN sets when this shows).',
    )
  }
}

/**
 * Starts sampling the queue (when the timeline names one) as the test starts; stop() ends the
 * sampling and reads the jobs. Nothing here fails the test: what cannot be had is a note, and a
 * queue that stops moving is a warning.
 */
export function watchWork(r: Reach, t: Timeline, clock?: Clock): { stop(): Promise<Work> } {
  const startedAt = Date.now()
  const kv: Promise<Kv | Error> = t.queue ? openRedis(r).catch((e: Error) => e) : Promise.resolve(new Error(''))
  const sampler = t.queue
    ? sampleEvery(
        async () => {
          const k = await kv
          if (k instanceof Error) throw k
          return k.llen(t.queue!)
        },
        SAMPLE_EVERY_MS,
        clock,
        stallWarner(t.queue, r.config.test.stallWarnMs),
      )
    : null
  return {
    async stop() {
      const endedAt = Date.now()
      const sampled = await sampler?.stop()
      await kv.then((k) => (k instanceof Error ? undefined : k.close())).catch(() => {})
      const work: Work = { table: t.table, total: 0, jobs: [], queue: null, test: { startedAt, endedAt } }
      if (t.queue && sampled)
        work.queue = { key: t.queue, samples: sampled.readings, ...(sampled.error ? { note: sampled.error } : {}) }
      try {
        const sql = jobsSql(t)
        const [rows, [count]] = await withDatabase(r, (db) =>
          Promise.all([db.rows<Record<string, unknown>>(sql.rows), db.rows<{ n: string | number }>(sql.count)]),
        )
        Object.assign(work, { jobs: jobBars(t, rows), total: Number(count.n) })
      } catch (e) {
        work.note = `${t.table} could not be read: ${messageOf(e)}`
      }
      return work
    },
  }
}
