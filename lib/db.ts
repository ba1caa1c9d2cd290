// PostgreSQL access: the pg package to the host-published port (or DATABASE_URL), falling back
// to psql inside the postgres container. Plus the SQL the suite needs, built from checked names.
import pg from 'pg'
import { checkTableName, mask, TABLE_NAME } from './config.ts'
import type { Ctx } from './main.ts'
import { out } from './output.ts'

export interface Database {
  /** How the suite reaches the database, for messages. */
  via: string
  /** Host the connection goes to; null when psql runs inside the container. */
  host: string | null
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

/** A SQL string literal of a checked name. */
function literal(name: string): string {
  return `'${name.replace(/'/g, "''")}'`
}

export function truncateSql(tables: string[], lockTimeoutMs: number, statementTimeoutMs: number): string {
  return [
    'BEGIN;',
    `SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms';`,
    `SET LOCAL statement_timeout = '${Math.round(statementTimeoutMs)}ms';`,
    `TRUNCATE TABLE ${tables.map(quoteIdent).join(', ')} RESTART IDENTITY CASCADE;`,
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
  qualified: string
}

/** Each configured table looked up in the catalog; a missing one is named and nothing goes ahead. */
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

/** Tables that TRUNCATE ... CASCADE would also empty: foreign-key children not in the list. */
export async function cascadeReach(db: Database, tables: ResolvedTable[]): Promise<string[]> {
  const oids = `ARRAY[${tables.map((t) => t.oid).join(',')}]::oid[]`
  const rows = await db.rows<{ name: string }>(
    `WITH RECURSIVE reach(oid) AS (
       SELECT unnest(${oids})
       UNION
       SELECT con.conrelid FROM pg_constraint con JOIN reach r ON con.confrelid = r.oid WHERE con.contype = 'f'
     )
     SELECT n.nspname || '.' || c.relname AS name
     FROM reach r JOIN pg_class c ON c.oid = r.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE r.oid <> ALL(${oids}) ORDER BY 1`,
  )
  return rows.map((r) => r.name)
}

export async function countRows(db: Database, tables: string[]): Promise<Record<string, number>> {
  if (tables.length === 0) return {}
  const rows = await db.rows<{ name: string; n: number }>(countSql(tables))
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]))
}

/** Sessions holding locks on the tables: who to blame when the truncation cannot get its lock. */
export async function lockHolders(db: Database, tables: ResolvedTable[]): Promise<string[]> {
  const rows = await db.rows<{ pid: number; state: string; query: string; relname: string; mode: string; age: string }>(
    `SELECT a.pid, coalesce(a.state, '') AS state, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query,
            c.relname, l.mode, coalesce(date_trunc('second', now() - a.xact_start)::text, '') AS age
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation
     WHERE l.granted AND l.relation = ANY(ARRAY[${tables.map((t) => t.oid).join(',')}]::oid[]) AND l.pid <> pg_backend_pid()
     ORDER BY a.pid, c.relname`,
  )
  const byPid = new Map<number, string>()
  for (const r of rows) {
    if (!byPid.has(r.pid)) byPid.set(r.pid, `pid ${r.pid} (${r.state}, transaction open ${r.age}, last query: ${r.query}) holds ${r.mode} on ${r.relname}`)
  }
  return [...byPid.values()]
}

// ---- connections ----

export async function openDatabase(ctx: Ctx): Promise<Database> {
  const { config } = ctx
  if (config.databaseUrl) return pgDatabase(ctx, { connectionString: config.databaseUrl }, `DATABASE_URL ${mask(config.databaseUrl, config.secrets)}`)
  const compose = await ctx.compose()
  if (config.dbAccess !== 'exec') {
    const port = await compose.publishedPort(config.services.postgres, 5432)
    if (port) {
      const { user, password, db } = config.postgres
      return pgDatabase(ctx, { host: '127.0.0.1', port, user, password, database: db }, `pg to 127.0.0.1:${port}`)
    }
    if (config.dbAccess === 'port') {
      throw new Error(`service ${config.services.postgres} publishes no port for 5432; publish it in the compose file, set DATABASE_URL, or set DB_ACCESS=exec`)
    }
  }
  return psqlDatabase(ctx)
}

async function pgDatabase(ctx: Ctx, target: pg.ClientConfig, via: string): Promise<Database> {
  const { config } = ctx
  const client = new pg.Client({
    ...target,
    connectionTimeoutMillis: 5000,
    statement_timeout: config.statementTimeoutMs,
    query_timeout: config.statementTimeoutMs + 5000,
    application_name: 'reset-and-test',
  })
  client.on('error', () => {}) // a server going away mid-run surfaces on the next query
  try {
    await client.connect()
  } catch (e) {
    throw new Error(`cannot connect to PostgreSQL (${via}): ${(e as Error).message}. Is the ${config.services.postgres} service running and healthy? Check the credentials in the app's .env.`)
  }
  const host = target.host ?? (target.connectionString ? new URL(target.connectionString).hostname : null)
  const wrap = (e: unknown) => {
    const err = e as { message: string; code?: string }
    return new DbError(`${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`, err.code)
  }
  return {
    via,
    host,
    async rows<T>(sql: string) {
      try {
        return (await client.query(sql)).rows as T[]
      } catch (e) {
        throw wrap(e)
      }
    },
    async execute(sql: string) {
      if (ctx.options.dryRun) return printSql(sql)
      try {
        await client.query(sql)
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {})
        throw wrap(e)
      }
    },
    close: () => client.end().catch(() => {}),
  }
}

async function psqlDatabase(ctx: Ctx): Promise<Database> {
  const { config } = ctx
  const compose = await ctx.compose()
  const container = await compose.container(config.services.postgres)
  const { user, password, db } = config.postgres
  const psql = async (sql: string) => {
    const res = await compose.exec(config.services.postgres, ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-f', '-'], {
      input: `\\set VERBOSITY verbose\nSET statement_timeout = ${Math.round(config.statementTimeoutMs)};\n${sql}\n`,
      env: { PGPASSWORD: password },
      envNames: ['PGPASSWORD'],
      timeoutMs: config.statementTimeoutMs + 10_000,
      allowFailure: true,
    })
    if (res.code !== 0) {
      const text = res.stderr.trim() || res.stdout.trim() || `psql exited with ${res.code}`
      const code = /ERROR:\s+([0-9A-Z]{5}):/.exec(text)?.[1]
      throw new DbError(`${text.split('\n').filter((l) => !/^(LOCATION|psql:.*ROLLBACK)/.test(l)).join(' ')}`, code)
    }
    return res.stdout
  }
  return {
    via: `psql in container ${container.name}`,
    host: null,
    async rows<T>(sql: string) {
      const text = await psql(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q;`)
      return JSON.parse(text.trim() || '[]') as T[]
    },
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

/** Open, use, always close. */
export async function withDatabase<T>(ctx: Ctx, use: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(ctx)
  try {
    return await use(db)
  } finally {
    await db.close()
  }
}
