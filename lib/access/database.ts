// PostgreSQL access: the pg package to a port on this machine (DATABASE_URL, the published port,
// or a port-forward), or psql inside the postgres instance. Every session waits at most
// LOCK_TIMEOUT for a lock, is cancelled on the server when the run is interrupted, and — when it
// is to destroy — must show that the server is this project's.
import pg from 'pg'
import { databaseUrlHost } from '../config/config.ts'
import type { Endpoint } from '../targets/target.ts'
import { out } from '../util/output.ts'
import { identify } from './identity.ts'
import { choosePath, inside, using, type OpenOptions, type Reach } from './reach.ts'
import { literal } from './sql.ts'

export interface Database {
  /** How the suite reaches the database, for messages. */
  via: string
  /** Which server answered and why it is this project's (or that it could not be shown). */
  server: string
  /** Shown to be this project's: an address of its postgres instance, or reached inside it. */
  ours: boolean
  name: string
  /** A read-only query. */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>
  /** Statements that change data; a dry run prints them instead. */
  execute(sql: string): Promise<void>
  close(): Promise<void>
}

export class DbError extends Error {
  constructor(
    message: string,
    public code: string | undefined,
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

  /** A statement that an interruption cancels on the server, from a second session. */
  private async query(sql: string) {
    const { signal } = this.r
    signal.throwIfAborted()
    const onAbort = () => void this.cancel()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await this.client.query(sql)
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
    return new DbError(`${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`, err.code)
  }

  async rows<T>(sql: string): Promise<T[]> {
    try {
      return (await this.query(sql)).rows as T[]
    } catch (e) {
      throw this.failure(e)
    }
  }

  async execute(sql: string): Promise<void> {
    if (this.r.dryRun) return printSql(sql)
    try {
      await this.query(sql)
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => {})
      throw this.failure(e)
    }
  }

  async close() {
    await this.client.end().catch(() => {})
    await this.endpoint?.close()
  }
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

  private psql(
    args: string[],
    options: { input?: string; timeoutMs: number; appName?: string; signal?: AbortSignal | undefined },
  ) {
    const { config, target } = this.r
    const { user, password, name } = config.database
    const env = {
      PGPASSWORD: password,
      PGAPPNAME: options.appName ?? appName(),
      PGOPTIONS: `-c lock_timeout=${Math.round(config.database.lockTimeoutMs)}`,
    }
    return target.exec(config.services.postgres, ['psql', '-X', '-q', '-At', '-U', user, '-d', name, ...args], {
      env,
      allowFailure: true,
      input: options.input,
      timeoutMs: options.timeoutMs,
      ...('signal' in options ? { signal: options.signal } : {}),
    })
  }

  /** Interrupted: cancel our session's statement on the server (the psql inside keeps running otherwise). */
  private cancel = () => {
    const sql = `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = ${literal(appName())}`
    void this.psql(['-c', sql], { timeoutMs: 10_000, appName: `${appName()}:cancel`, signal: undefined }).catch(
      () => {},
    )
  }

  private async run(sql: string): Promise<string> {
    const { config, signal } = this.r
    signal.throwIfAborted()
    signal.addEventListener('abort', this.cancel, { once: true })
    try {
      const input =
        `\\set VERBOSITY verbose\nSET statement_timeout = ` +
        `${Math.round(config.database.statementTimeoutMs)};\n${sql}\n`
      const res = await this.psql(['-v', 'ON_ERROR_STOP=1', '-f', '-'], {
        input,
        timeoutMs: config.database.statementTimeoutMs + 10_000,
      })
      if (signal.aborted) throw signal.reason
      if (res.code === 0) return res.stdout
      const text = res.stderr.trim() || res.stdout.trim() || `psql exited with ${res.code}`
      throw new DbError(
        text
          .split('\n')
          .filter((l) => !/^(LOCATION|psql:.*ROLLBACK)/.test(l))
          .join(' '),
        /ERROR:\s+([0-9A-Z]{5}):/.exec(text)?.[1],
      )
    } finally {
      signal.removeEventListener('abort', this.cancel)
    }
  }

  async rows<T>(sql: string): Promise<T[]> {
    return JSON.parse(
      (await this.run(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q;`)).trim() || '[]',
    ) as T[]
  }

  async execute(sql: string): Promise<void> {
    if (this.r.dryRun) return printSql(sql)
    await this.run(sql)
  }

  async close() {}
}
