// PostgreSQL access: the pg package to a port on this machine (DATABASE_URL, the published port,
// or a port-forward), or psql inside the postgres instance. Every session waits at most
// LOCK_TIMEOUT for a lock, is cancelled on the server when the run is interrupted, and — when it
// is to destroy — must show that the server is this project's. A query that only reads runs in a
// READ ONLY transaction, so PostgreSQL itself refuses a write; rows in bulk pass through COPY as
// streams (pg-copy-streams, or psql's stdin and stdout), never held in memory.
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import { databaseUrlHost } from '../config/config.ts'
import type { Endpoint } from '../targets/target.ts'
import type { RunResult } from '../util/command.ts'
import { out } from '../util/output.ts'
import { COPY_SETTINGS, CopySplitter, END_OF_COPY } from './copy.ts'
import { identify } from './identity.ts'
import { choosePath, inside, using, type OpenOptions, type Reach } from './reach.ts'
import { literal } from './sql.ts'

/** A COPY ... TO STDOUT and where its rows go (the writable is ended when they are all there). */
export interface CopyOut {
  sql: string
  into: Writable
}

/** A COPY ... FROM STDIN and where its rows come from (opened when its turn comes). */
export interface CopyIn {
  sql: string
  from: () => Readable
  /** Where the rows are, for messages (a dry run names it). */
  source: string
}

/** A step of copyIn's transaction: a statement, or a COPY fed from a stream. */
export type CopyStep = string | CopyIn

export interface Database {
  /** How the suite reaches the database, for messages. */
  via: string
  /** Which server answered and why it is this project's (or that it could not be shown). */
  server: string
  /** Shown to be this project's: an address of its postgres instance, or reached inside it. */
  ours: boolean
  name: string
  /**
   * A query that writes nothing, in a READ ONLY transaction of its own: a write in it (a function
   * that calls setval, an INSERT in a CTE) is refused by PostgreSQL, SQLSTATE 25006.
   */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>
  /** Statements that change data; a dry run prints them instead. */
  execute(sql: string): Promise<void>
  /**
   * COPY ... TO STDOUT statements in ONE REPEATABLE READ, READ ONLY transaction — one snapshot for
   * all of them — each one's rows streamed into its writable as they come.
   */
  copyOut(copies: CopyOut[]): Promise<void>
  /** Statements and COPY ... FROM STDIN in one transaction, in order: all or nothing. A dry run prints them. */
  copyIn(steps: CopyStep[]): Promise<void>
  close(): Promise<void>
}

export class DbError extends Error {
  constructor(
    message: string,
    public code: string | undefined,
    /** PostgreSQL's own words, without psql's prefixes or the SQLSTATE: "cannot execute setval() in ...". */
    readonly said: string = message,
  ) {
    super(message)
  }
}

/** Our sessions carry this name, so that an interrupted run can cancel them on the server. */
export const appName = () => `reset-and-test:${process.pid}`

export function openDatabase(r: Reach, opts: OpenOptions = {}): Promise<Database> {
  const { config } = r
  const { user, password, name } = config.database
  return choosePath<Database>(r, 'database', {
    viaUrl: (url) =>
      PgDatabase.open(
        r,
        { connectionString: url },
        `DATABASE_URL (host ${databaseUrlHost(url) ?? 'a local socket'})`,
        null,
        databaseUrlHost(url),
        opts,
      ),
    viaEndpoint: (ep) =>
      PgDatabase.open(
        r,
        { host: ep.host, port: ep.port, user, password, database: name },
        ep.kind === 'forwarded' ? `pg through a port-forward to ${ep.instance?.name}` : `pg to ${ep.host}:${ep.port}`,
        ep,
        ep.host,
        opts,
      ),
    viaExec: () => PsqlDatabase.open(r),
  })
}

/** Open, use, always close. */
export const withDatabase = <T>(r: Reach, use: (db: Database) => Promise<T>, opts: OpenOptions = {}): Promise<T> =>
  using(openDatabase(r, opts), use)

/** copyIn's steps as a person reads them: each COPY with where its rows come from. */
const showSteps = (steps: CopyStep[]) => [
  'BEGIN;',
  ...COPY_SETTINGS.map((c) => `${c};`),
  ...steps.map((s) => (typeof s === 'string' ? `${s};` : `${s.sql}; -- rows from ${s.source}`)),
  'COMMIT;',
]

const SNAPSHOT = 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY'

function printSql(sql: string) {
  out.info(
    `[dry-run] would execute SQL:\n${sql
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}`,
  )
}

/** The pg client to a port on this machine. */
class PgDatabase implements Database {
  server = ''
  ours = false
  name = ''

  private constructor(
    private r: Reach,
    private client: pg.Client,
    private settings: pg.ClientConfig,
    readonly via: string,
    private endpoint: Endpoint | null,
  ) {}

  static async open(
    r: Reach,
    where: pg.ClientConfig,
    via: string,
    endpoint: Endpoint | null,
    host: string | null,
    opts: OpenOptions,
  ): Promise<Database> {
    const { config } = r
    const settings: pg.ClientConfig = {
      ...where,
      connectionTimeoutMillis: 5000,
      statement_timeout: config.database.statementTimeoutMs,
      query_timeout: config.database.statementTimeoutMs + 5000,
      application_name: appName(),
      // Every statement of the suite waits at most LOCK_TIMEOUT for a lock: counts too.
      options: `-c lock_timeout=${Math.round(config.database.lockTimeoutMs)}`,
    }
    const client = new pg.Client(settings)
    client.on('error', () => {}) // a server going away mid-run surfaces on the next query
    try {
      await client.connect()
    } catch (e) {
      await endpoint?.close()
      const hint =
        endpoint?.kind === 'published'
          ? `Is the ${config.services.postgres} service running and healthy? Check the credentials in the app's .env.`
          : 'Is the server running, and are the credentials right?'
      throw new Error(`cannot connect to PostgreSQL (${via}): ${(e as Error).message}. ${hint}`)
    }
    const db = new PgDatabase(r, client, settings, via, endpoint)
    try {
      const [row] = await db.rows<{ name: string; addr: string | null }>(
        'SELECT current_database() AS name, host(inet_server_addr()) AS addr',
      )
      db.name = row.name
      Object.assign(
        db,
        await identify(
          r,
          {
            service: config.services.postgres,
            subject: `database ${row.name}`,
            addr: row.addr,
            endpoint,
            host,
            database: row.name,
          },
          opts,
        ),
      )
      return db
    } catch (e) {
      await db.close()
      throw e
    }
  }

  /** Work on the session that an interruption cancels on the server, from a second session. */
  private async cancellable<T>(work: () => Promise<T>): Promise<T> {
    const { signal } = this.r
    signal.throwIfAborted()
    const onAbort = () => void this.cancel()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await work()
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async cancel() {
    const pid = (this.client as unknown as { processID?: number }).processID
    if (!pid) return
    const side = new pg.Client({ ...this.settings, application_name: `${appName()}:cancel` })
    side.on('error', () => {})
    await side
      .connect()
      .then(() => side.query('SELECT pg_cancel_backend($1)', [pid]))
      .catch(() => {})
    await side.end().catch(() => {})
  }

  private failure(e: unknown): Error {
    if (this.r.signal.aborted) return this.r.signal.reason as Error
    const err = e as { message: string; code?: string }
    return new DbError(`${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`, err.code, err.message)
  }

  /** Work in a transaction begun so, committed at its end, rolled back on any failure. */
  private async transaction(begin: string, work: () => Promise<void>): Promise<void> {
    try {
      await this.cancellable(async () => {
        await this.client.query(begin)
        await work()
        await this.client.query('COMMIT')
      })
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => {})
      throw this.failure(e)
    }
  }

  /**
   * One message, so one implicit transaction, made read-only by its first statement: an error ends
   * it whole (no ROLLBACK to send, nothing left for the next query), and queries that callers run
   * side by side on this connection never share it.
   */
  async rows<T>(sql: string): Promise<T[]> {
    try {
      const results = await this.cancellable(() => this.client.query(`SET TRANSACTION READ ONLY;\n${sql}`))
      return (results as unknown as pg.QueryResult[])[1].rows as T[]
    } catch (e) {
      throw this.failure(e)
    }
  }

  async execute(sql: string): Promise<void> {
    if (this.r.dryRun) return printSql(sql)
    try {
      await this.cancellable(() => this.client.query(sql))
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => {})
      throw this.failure(e)
    }
  }

  async copyOut(copies: CopyOut[]): Promise<void> {
    await this.transaction(SNAPSHOT, async () => {
      await this.client.query(COPY_SETTINGS.join(';\n'))
      for (const c of copies) await pipeline(this.client.query(copyOutStream(c.sql)), c.into)
    })
  }

  async copyIn(steps: CopyStep[]): Promise<void> {
    if (this.r.dryRun) return printSql(showSteps(steps).join('\n'))
    await this.transaction('BEGIN', async () => {
      await this.client.query(COPY_SETTINGS.join(';\n'))
      for (const s of steps)
        if (typeof s === 'string') await this.client.query(s)
        else await pipeline(s.from(), this.client.query(copyFrom(s.sql)))
    })
  }

  async close() {
    await this.client.end().catch(() => {})
    await this.endpoint?.close()
  }
}

/** What pg calls on a query it runs; pg-copy-streams' COPY TO has it, untyped. */
interface Settling {
  callback?: () => void
  handleError(e: Error): void
  handleReadyForQuery(): void
}

/**
 * COPY TO as a stream that tells pg when it is over. pg's query_timeout timer is cleared by the
 * query's callback, which pg-copy-streams' COPY TO never calls (brianc/node-pg-copy-streams#156,
 * open): the timer would fire after the COPY, keep the process alive until then, and raise an
 * error on the finished stream.
 */
function copyOutStream(sql: string) {
  const stream = copyTo(sql)
  const q = stream as unknown as Settling
  const [failed, ready] = [q.handleError.bind(stream), q.handleReadyForQuery.bind(stream)]
  q.callback = () => {} // pg wraps it with the timer's clearing when it takes the query
  q.handleError = (e) => (q.callback?.(), failed(e))
  q.handleReadyForQuery = () => (q.callback?.(), ready())
  return stream
}

/** psql inside the postgres instance: the server is the instance's own, nothing to prove. */
class PsqlDatabase implements Database {
  readonly ours = true
  name = ''

  private constructor(
    private r: Reach,
    readonly via: string,
    readonly server: string,
  ) {}

  static async open(r: Reach): Promise<Database> {
    const { via, server } = await inside(r, r.config.services.postgres, 'psql')
    const db = new PsqlDatabase(r, via, server)
    const [row] = await db.rows<{ name: string }>('SELECT current_database() AS name')
    db.name = row.name
    return db
  }

  /** The psql command line of our session and its environment (by name: never on a command line). */
  private command(args: string[], name = appName()) {
    const { config } = this.r
    const { user, password, name: database } = config.database
    const env = {
      PGPASSWORD: password,
      PGAPPNAME: name,
      PGOPTIONS: `-c lock_timeout=${Math.round(config.database.lockTimeoutMs)}`,
    }
    return { argv: ['psql', '-X', '-q', '-At', '-U', user, '-d', database, ...args], env }
  }

  /** psql reading a script from stdin, stopping at the first error. */
  private static SCRIPT = ['-v', 'ON_ERROR_STOP=1', '-f', '-']

  /** Interrupted: cancel our session's statement on the server (the psql inside keeps running otherwise). */
  private cancel = () => {
    const sql = `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = ${literal(appName())}`
    const { argv, env } = this.command(['-c', sql], `${appName()}:cancel`)
    const { config, target } = this.r
    void target
      .exec(config.services.postgres, argv, { env, allowFailure: true, timeoutMs: 10_000, signal: undefined })
      .catch(() => {})
  }

  /** A script's first lines: errors with their SQLSTATE, and each statement's deadline. */
  private script(sql: string): string {
    const timeout = Math.round(this.r.config.database.statementTimeoutMs)
    return `\\set VERBOSITY verbose\nSET statement_timeout = ${timeout};\n${sql}\n`
  }

  /** psql's run, which an interruption cancels on the server; its error (with the SQLSTATE) when it failed. */
  private async guarded(psql: () => Promise<RunResult>): Promise<RunResult> {
    const { signal } = this.r
    signal.throwIfAborted()
    signal.addEventListener('abort', this.cancel, { once: true })
    try {
      const res = await psql()
      if (signal.aborted) throw signal.reason
      if (res.code === 0) return res
      const text =
        (res.timedOut ? 'psql did not finish before its deadline. ' : '') +
        (res.stderr.trim() || res.stdout.trim() || `psql exited with ${res.code}`)
      throw new DbError(
        text
          .split('\n')
          .filter((l) => !/^(LOCATION|psql:.*ROLLBACK)/.test(l))
          .join(' '),
        /ERROR:\s+([0-9A-Z]{5}):/.exec(text)?.[1],
        /ERROR:\s+(?:[0-9A-Z]{5}:\s+)?(.*)/.exec(text)?.[1].trim(),
      )
    } finally {
      signal.removeEventListener('abort', this.cancel)
    }
  }

  private async run(sql: string): Promise<string> {
    const { config, target } = this.r
    const { argv, env } = this.command(PsqlDatabase.SCRIPT)
    const res = await this.guarded(() =>
      target.exec(config.services.postgres, argv, {
        env,
        allowFailure: true,
        input: this.script(sql),
        timeoutMs: config.database.statementTimeoutMs + 10_000,
      }),
    )
    return res.stdout
  }

  /** A script streamed into psql (and its output out of it): each of its statements has the statement deadline. */
  private async stream(input: Readable, stdout: Writable | undefined, statements: number): Promise<void> {
    const { config, target } = this.r
    const { argv, env } = this.command(PsqlDatabase.SCRIPT)
    const timeoutMs = statements * config.database.statementTimeoutMs + 10_000
    await this.guarded(() =>
      target.execStream(config.services.postgres, argv, { env, stdin: input, stdout, timeoutMs }),
    )
  }

  async rows<T>(sql: string): Promise<T[]> {
    const out = await this.run(
      `START TRANSACTION READ ONLY;\nSELECT coalesce(json_agg(q), '[]'::json) FROM (\n${sql}\n) q;\nCOMMIT;`,
    )
    return JSON.parse(out.trim() || '[]') as T[]
  }

  async execute(sql: string): Promise<void> {
    if (this.r.dryRun) return printSql(sql)
    await this.run(sql)
  }

  /** One script, one snapshot: each COPY's rows, then the line END_OF_COPY (\\echo); CopySplitter parts them. */
  async copyOut(copies: CopyOut[]): Promise<void> {
    const each = copies.flatMap((c) => [`${c.sql};`, "\\echo '\\\\.'"])
    const script = [`${SNAPSHOT};`, ...COPY_SETTINGS.map((c) => `${c};`), ...each, 'COMMIT;'].join('\n')
    const splitter = new CopySplitter(copies.map((c) => c.into))
    await this.stream(Readable.from([this.script(script)]), splitter, copies.length + 1)
  }

  /** One script, one transaction: psql reads each COPY's rows from its own input, up to the line END_OF_COPY. */
  async copyIn(steps: CopyStep[]): Promise<void> {
    if (this.r.dryRun) return printSql(showSteps(steps).join('\n'))
    const head = this.script(['BEGIN;', ...COPY_SETTINGS.map((c) => `${c};`)].join('\n'))
    await this.stream(Readable.from(copyScript(head, steps)), undefined, steps.length + 2)
  }

  async close() {}
}

/** psql's input for copyIn: each statement, and each COPY followed by its rows and the line that ends them. */
async function* copyScript(head: string, steps: CopyStep[]): AsyncGenerator<string | Buffer> {
  yield head
  for (const s of steps) {
    yield `${typeof s === 'string' ? s : s.sql};\n`
    if (typeof s === 'string') continue
    let last = 10
    for await (const chunk of s.from()) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
      if (bytes.length) last = bytes[bytes.length - 1]
      yield bytes
    }
    yield last === 10 ? END_OF_COPY : `\n${END_OF_COPY}`
  }
  yield 'COMMIT;\n'
}
