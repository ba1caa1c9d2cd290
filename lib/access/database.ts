// PostgreSQL access: the pg package to a port on this machine (DATABASE_URL, the published port,
// or a port-forward), or psql inside the postgres instance. Every session waits at most
// LOCK_TIMEOUT for a lock, is cancelled on the server when the run is interrupted, and — when it
// is to destroy — must show that the server is this project's. Plus the SQL the suite needs,
// built from checked names.
import pg from 'pg'
import { checkTableName, databaseUrlHost, TABLE_NAME } from '../config/config.ts'
import type { Ctx } from '../run/context.ts'
import { identify, opening, type OpenOptions } from './identity.ts'
import { out } from '../util/output.ts'
import type { Endpoint } from '../targets/target.ts'

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

/** Double-quote an identifier or schema.identifier whose form checkTableName accepted. */
export function quoteIdent(name: string): string {
  if (!TABLE_NAME.test(name)) {
    throw new Error(`refusing to quote malformed name ${JSON.stringify(name)}`)
  }
  return name.split('.').map((p) => `"${p}"`).join('.')
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/**
 * One TRUNCATE of exactly the tables named, in a transaction with lock and statement timeouts.
 * No CASCADE: every table a foreign key ties to them is in the list, so PostgreSQL itself refuses
 * if a table appeared that the plan did not name.
 */
export function truncateSql(tables: string[], lockTimeoutMs: number, statementTimeoutMs: number): string {
  return [
    'BEGIN;',
    `SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms';`,
    `SET LOCAL statement_timeout = '${Math.round(statementTimeoutMs)}ms';`,
    `TRUNCATE TABLE ${tables.map(quoteIdent).join(', ')} RESTART IDENTITY;`,
    'COMMIT;',
  ].join('\n')
}

/**
 * Counting stops past this many rows a table: an exact count of a million rows costs more than
 * the TRUNCATE itself, and "10000+" says enough. Zero, the count that proves the reset, is exact.
 */
export const COUNT_LIMIT = 10_000

export function countSql(tables: string[]): string {
  return tables.map((t) => `SELECT ${literal(t)} AS name, count(*)::int AS n FROM (SELECT 1 FROM ${quoteIdent(t)} LIMIT ${COUNT_LIMIT + 1}) t`).join('\nUNION ALL\n')
}

/** A count from countRows for people: "10000+" when counting stopped. */
export function showCount(n: number): string {
  return n > COUNT_LIMIT ? `${COUNT_LIMIT}+` : String(n)
}

export interface ResolvedTable {
  name: string
  oid: number
  /** schema.table */
  qualified: string
}

/** Each named table looked up in the catalog; a missing one is named and nothing goes ahead. */
export async function resolveTables(db: Database, names: string[]): Promise<ResolvedTable[]> {
  for (const n of names) {
    const bad = checkTableName(n)
    if (bad) throw new Error(bad)
  }
  const values = names.map((n) => `(${literal(n)}, ${literal(quoteIdent(n))})`).join(', ')
  const found = await db.rows<{ name: string; oid: number | null; qualified: string | null; kind: string | null }>(
    `SELECT t.name, c.oid::int AS oid, n.nspname || '.' || c.relname AS qualified, c.relkind::text AS kind
     FROM (VALUES ${values}) AS t(name, ident)
     LEFT JOIN pg_class c ON c.oid = to_regclass(t.ident)
     LEFT JOIN pg_namespace n ON n.oid = c.relnamespace`,
  )
  const missing = found.filter((t) => t.oid === null || !['r', 'p'].includes(t.kind ?? ''))
  if (missing.length) {
    throw new Error(
      `table${missing.length > 1 ? 's' : ''} ${missing.map((t) => t.name).join(', ')} not found in the database (${db.via}); nothing was truncated. Fix RESET_TABLES or run the migrations.`,
    )
  }
  // In the configured order, whatever order the catalog answered in
  const order = (t: { name: string }) => names.indexOf(t.name)
  return found.sort((a, b) => order(a) - order(b)).map((t) => ({ name: t.name, oid: Number(t.oid), qualified: t.qualified! }))
}

export interface Reached {
  /** schema.table */
  name: string
  oid: number
  /** The foreign key that reaches it: "public.audit_notes(org_id) -> public.organizations (audit_notes_org_id_fkey)". */
  via: string
}

/** Tables a TRUNCATE ... CASCADE would also empty: foreign-key children (of children...) not in the list. */
export async function cascadeReach(db: Database, tables: ResolvedTable[]): Promise<Reached[]> {
  if (tables.length === 0) return []
  const oids = `ARRAY[${tables.map((t) => t.oid).join(',')}]::oid[]`
  const rows = await db.rows<{ name: string; oid: number; via: string }>(
    `WITH RECURSIVE reach(oid, via) AS (
       SELECT unnest(${oids}), NULL::text COLLATE "C"
       UNION
       SELECT con.conrelid,
              format('%s(%s) -> %s (%s)', con.conrelid::regclass::text,
                     (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = ANY(con.conkey)),
                     con.confrelid::regclass::text, con.conname) COLLATE "C"
       FROM pg_constraint con JOIN reach r ON con.confrelid = r.oid WHERE con.contype = 'f'
     )
     SELECT DISTINCT ON (r.oid) n.nspname || '.' || c.relname AS name, r.oid::int AS oid, r.via
     FROM reach r JOIN pg_class c ON c.oid = r.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE r.oid <> ALL(${oids}) ORDER BY r.oid, r.via`,
  )
  return rows.map((r) => ({ name: r.name, oid: Number(r.oid), via: r.via })).sort((a, b) => a.name.localeCompare(b.name))
}

export async function countRows(db: Database, tables: string[]): Promise<Record<string, number>> {
  if (tables.length === 0) return {}
  const rows = await db.rows<{ name: string; n: number }>(countSql(tables))
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]))
}

/** Sessions holding locks on the tables: who to blame when the truncation cannot get its lock. */
export async function lockHolders(db: Database, oids: number[]): Promise<string[]> {
  if (oids.length === 0) return []
  const rows = await db.rows<{ pid: number; state: string; query: string; relname: string; mode: string; age: string }>(
    `SELECT a.pid, coalesce(a.state, '') AS state, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query,
            c.relname, l.mode, coalesce(date_trunc('second', now() - a.xact_start)::text, '') AS age
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation
     WHERE l.granted AND l.relation = ANY(ARRAY[${oids.join(',')}]::oid[]) AND l.pid <> pg_backend_pid()
     ORDER BY a.pid, c.relname`,
  )
  const byPid = new Map<number, string>()
  for (const r of rows) {
    if (!byPid.has(r.pid)) byPid.set(r.pid, `pid ${r.pid} (${r.state}, transaction open ${r.age}, last query: ${r.query}) holds ${r.mode} on ${r.relname}`)
  }
  return [...byPid.values()]
}

/** Every session with its locks: for the diagnostics of a failed run. */
export const ACTIVITY_SQL = `SELECT a.pid, a.usename, a.application_name, a.client_addr::text, a.state, a.wait_event_type, a.wait_event,
  date_trunc('second', now() - a.xact_start)::text AS xact_age, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200) AS query,
  (SELECT string_agg(l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype) || CASE WHEN l.granted THEN '' ELSE ' (waiting)' END, '; ')
     FROM pg_locks l WHERE l.pid = a.pid) AS locks
FROM pg_stat_activity a WHERE a.backend_type = 'client backend' ORDER BY a.pid`

// ---- connections ----

/** Our sessions carry this name, so that an interrupted run can cancel them on the server. */
const appName = () => `reset-and-test:${process.pid}`

export async function openDatabase(ctx: Ctx, opts: OpenOptions = {}): Promise<Database> {
  return opening(ctx, () => connect(ctx, opts))
}

async function connect(ctx: Ctx, opts: OpenOptions): Promise<Database> {
  const { config, target } = ctx
  ctx.signal.throwIfAborted()
  if (config.databaseUrl) {
    const host = databaseUrlHost(config.databaseUrl)
    return pgDatabase(ctx, { connectionString: config.databaseUrl }, `DATABASE_URL (host ${host ?? 'a local socket'})`, null, host, opts)
  }
  if (config.dbAccess !== 'exec') {
    const ep = await target.endpoint(config.services.postgres, 5432)
    if (ep) {
      const { user, password, db } = config.postgres
      const via = ep.kind === 'forwarded' ? `pg through a port-forward to ${ep.instance?.name}` : `pg to ${ep.host}:${ep.port}`
      return pgDatabase(ctx, { host: ep.host, port: ep.port, user, password, database: db }, via, ep, ep.host, opts)
    }
    if (config.dbAccess === 'port') {
      throw new Error(`service ${config.services.postgres} publishes no port for 5432; publish it in the compose file, set DATABASE_URL, or set DB_ACCESS=exec`)
    }
  }
  return psqlDatabase(ctx)
}

async function pgDatabase(ctx: Ctx, target: pg.ClientConfig, via: string, endpoint: Endpoint | null, host: string | null, opts: OpenOptions): Promise<Database> {
  const { config } = ctx
  const settings: pg.ClientConfig = {
    ...target,
    connectionTimeoutMillis: 5000,
    statement_timeout: config.statementTimeoutMs,
    query_timeout: config.statementTimeoutMs + 5000,
    application_name: appName(),
    // Every statement of the suite waits at most LOCK_TIMEOUT for a lock: counts too.
    options: `-c lock_timeout=${Math.round(config.lockTimeoutMs)}`,
  }
  const client = new pg.Client(settings)
  client.on('error', () => {}) // a server going away mid-run surfaces on the next query
  try {
    await client.connect()
  } catch (e) {
    await endpoint?.close()
    const hint = endpoint?.kind === 'published' ? `Is the ${config.services.postgres} service running and healthy? Check the credentials in the app's .env.` : 'Is the server running, and are the credentials right?'
    throw new Error(`cannot connect to PostgreSQL (${via}): ${(e as Error).message}. ${hint}`)
  }
  const wrap = (e: unknown) => {
    const err = e as { message: string; code?: string }
    return new DbError(`${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`, err.code)
  }
  // Interrupted: cancel whatever our session runs, on the server, from a second session.
  const cancel = async () => {
    const pid = (client as unknown as { processID?: number }).processID
    if (!pid) return
    const side = new pg.Client({ ...settings, application_name: `${appName()}:cancel` })
    side.on('error', () => {})
    await side.connect().then(() => side.query('SELECT pg_cancel_backend($1)', [pid])).catch(() => {})
    await side.end().catch(() => {})
  }
  const query = async (sql: string) => {
    ctx.signal.throwIfAborted()
    const onAbort = () => void cancel()
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await client.query(sql)
    } finally {
      ctx.signal.removeEventListener('abort', onAbort)
    }
  }
  const close = async () => {
    await client.end().catch(() => {})
    await endpoint?.close()
  }
  try {
    const [row] = (await query(`SELECT current_database() AS name, host(inet_server_addr()) AS addr`)).rows as { name: string; addr: string | null }[]
    const { server, ours } = await identify(ctx, { service: config.services.postgres, subject: `database ${row.name}`, addr: row.addr, endpoint, host }, opts)
    return {
      via,
      server,
      ours,
      name: row.name,
      async rows<T>(sql: string) {
        try {
          return (await query(sql)).rows as T[]
        } catch (e) {
          throw ctx.signal.aborted ? ctx.signal.reason : wrap(e)
        }
      },
      async execute(sql: string) {
        if (ctx.options.dryRun) return printSql(sql)
        try {
          await query(sql)
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {})
          throw ctx.signal.aborted ? ctx.signal.reason : wrap(e)
        }
      },
      close,
    }
  } catch (e) {
    await close()
    throw e
  }
}

async function psqlDatabase(ctx: Ctx): Promise<Database> {
  const { config, target } = ctx
  const container = await target.instance(config.services.postgres)
  const { user, password, db } = config.postgres
  const env = { PGPASSWORD: password, PGAPPNAME: appName(), PGOPTIONS: `-c lock_timeout=${Math.round(config.lockTimeoutMs)}` }
  const psql = async (sql: string, cancellable = true): Promise<string> => {
    ctx.signal.throwIfAborted()
    // Interrupted: cancel our session's statement on the server (the psql inside keeps running otherwise).
    const onAbort = () =>
      void target
        .exec(config.services.postgres, ['psql', '-X', '-q', '-At', '-U', user, '-d', db, '-c', `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = ${literal(appName())}`], {
          env: { PGPASSWORD: password, PGAPPNAME: `${appName()}:cancel` },
          allowFailure: true,
          timeoutMs: 10_000,
          signal: undefined, // the run's signal has fired: this command must still run
        })
        .catch(() => {})
    if (cancellable) ctx.signal.addEventListener('abort', onAbort, { once: true })
    try {
      const res = await target.exec(config.services.postgres, ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-f', '-'], {
        input: `\\set VERBOSITY verbose\nSET statement_timeout = ${Math.round(config.statementTimeoutMs)};\n${sql}\n`,
        env,
        timeoutMs: config.statementTimeoutMs + 10_000,
        allowFailure: true,
      })
      if (ctx.signal.aborted) throw ctx.signal.reason
      if (res.code !== 0) {
        const text = res.stderr.trim() || res.stdout.trim() || `psql exited with ${res.code}`
        const code = /ERROR:\s+([0-9A-Z]{5}):/.exec(text)?.[1]
        throw new DbError(`${text.split('\n').filter((l) => !/^(LOCATION|psql:.*ROLLBACK)/.test(l)).join(' ')}`, code)
      }
      return res.stdout
    } finally {
      ctx.signal.removeEventListener('abort', onAbort)
    }
  }
  const rows = async <T>(sql: string) => JSON.parse((await psql(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q;`)).trim() || '[]') as T[]
  const [row] = await rows<{ name: string }>('SELECT current_database() AS name')
  return {
    via: `psql in container ${container.name}`,
    server: `${container.name}, an instance of ${config.services.postgres} in ${target.describe()} (psql runs inside it)`,
    ours: true,
    name: row.name,
    rows,
    async execute(sql: string) {
      if (ctx.options.dryRun) return printSql(sql)
      await psql(sql)
    },
    close: async () => {},
  }
}

function printSql(sql: string) {
  out.info(`[dry-run] would execute SQL:\n${sql.split('\n').map((l) => `      ${l}`).join('\n')}`)
}

export type { OpenOptions }

/** Open, use, always close. */
export async function withDatabase<T>(ctx: Ctx, use: (db: Database) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
  const db = await openDatabase(ctx, opts)
  try {
    return await use(db)
  } finally {
    await db.close()
  }
}
