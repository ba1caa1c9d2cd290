// What PostgreSQL's catalog says about the tables to truncate: that they exist, every other table
// the truncation would reach (foreign keys, inheritance children, partitions), the triggers that
// fire on it, row counts, and who holds a lock; for a backup, each table's columns as COPY takes
// them, the sequences it owns and the foreign keys among them. Read-only, through any Database.
import { checkTableName } from '../config/settings.ts'
import type { CopyTable } from './copy.ts'
import type { Database } from './database.ts'
import { countSql, literal, quoteIdent } from './sql.ts'

export interface ResolvedTable {
  name: string
  oid: number
  /** schema.table */
  qualified: string
  /** r: table, p: partitioned table, f: foreign table */
  kind: string
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
  const missing = found.filter((t) => t.oid === null || !['r', 'p', 'f'].includes(t.kind ?? ''))
  if (missing.length) {
    throw new Error(
      `table${missing.length > 1 ? 's' : ''} ${missing.map((t) => t.name).join(', ')} not found in the database ` +
        `(${db.via}); nothing was truncated. Fix RESET_TABLES or run the migrations.`,
    )
  }
  // In the configured order, whatever order the catalog answered in
  const order = (t: { name: string }) => names.indexOf(t.name)
  return found
    .sort((a, b) => order(a) - order(b))
    .map((t) => ({ name: t.name, oid: Number(t.oid), qualified: t.qualified!, kind: t.kind! }))
}

export interface Reached {
  /** schema.table */
  name: string
  oid: number
  /** r: table, p: partitioned table, f: foreign table */
  kind: string
  /**
   * How it is reached: "foreign key public.audit_notes(org_id) -> public.organizations (audit_notes_org_id_fkey)",
   * "inheritance child of jobs", "partition of events".
   */
  via: string
  /** A foreign table's server, whose rows a truncation would delete. */
  server?: string
  /** A partition of a partitioned table the truncation empties: its rows are that table's rows. */
  partition: boolean
}

/**
 * Every other table the truncation reaches, to any depth: foreign-key children (CASCADE would
 * empty them; without it PostgreSQL refuses) and descendants (inheritance children and partitions,
 * which a TRUNCATE without ONLY empties, a foreign partition on another server included).
 */
export async function reachOf(db: Database, tables: ResolvedTable[]): Promise<Reached[]> {
  if (tables.length === 0) return []
  const oids = `ARRAY[${tables.map((t) => t.oid).join(',')}]::oid[]`
  const rows = await db.rows<{
    name: string
    oid: number
    via: string
    kind: string
    server: string | null
    part: boolean
  }>(
    `WITH RECURSIVE edge(parent, child, via, part) AS (
       SELECT con.confrelid, con.conrelid,
              format('foreign key %s(%s) -> %s (%s)', con.conrelid::regclass::text,
                     (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid =
                     con.conrelid AND a.attnum = ANY(con.conkey)),
                     con.confrelid::regclass::text, con.conname), false
       FROM pg_constraint con WHERE con.contype = 'f' AND con.conrelid <> con.confrelid
       UNION ALL
       SELECT i.inhparent, i.inhrelid,
              format('%s of %s', CASE WHEN c.relispartition THEN 'partition' ELSE 'inheritance child' END,
              i.inhparent::regclass::text), c.relispartition
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     ), reach(oid, via, part) AS (
       SELECT unnest(${oids}), NULL::text COLLATE "C", false
       UNION
       SELECT e.child, e.via COLLATE "C", e.part FROM edge e JOIN reach r ON e.parent = r.oid
     )
     SELECT DISTINCT ON (r.oid) n.nspname || '.' || c.relname AS name, r.oid::int AS oid, r.via, c.relkind::text AS
     kind, s.srvname AS server, r.part
     FROM reach r JOIN pg_class c ON c.oid = r.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid LEFT JOIN pg_foreign_server s ON s.oid = ft.ftserver
     WHERE r.oid <> ALL(${oids}) ORDER BY r.oid, r.via`,
  )
  return rows
    .map((r) => ({
      name: r.name,
      oid: Number(r.oid),
      via: r.via,
      kind: r.kind,
      partition: Boolean(r.part),
      ...(r.server ? { server: r.server } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

export interface TruncateTrigger {
  name: string
  /** schema.table it is on */
  table: string
  /** BEFORE or AFTER */
  timing: string
  /** The function it calls, which may write anywhere. */
  function: string
}

/** Enabled user triggers that fire on TRUNCATE of these tables (tgtype bit 32). */
export async function truncateTriggers(db: Database, oids: number[]): Promise<TruncateTrigger[]> {
  if (oids.length === 0) return []
  return db.rows<TruncateTrigger>(
    `SELECT t.tgname AS name, n.nspname || '.' || c.relname AS table, CASE WHEN t.tgtype & 2 = 2 THEN 'BEFORE' ELSE
      'AFTER' END AS timing, t.tgfoid::regproc::text AS function
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.tgrelid = ANY(ARRAY[${oids.join(',')}]::oid[]) AND NOT t.tgisinternal AND t.tgtype & 32 = 32 AND
     t.tgenabled <> 'D'
     ORDER BY 2, 1`,
  )
}

export async function countRows(db: Database, tables: string[]): Promise<Record<string, number>> {
  if (tables.length === 0) return {}
  const rows = await db.rows<{ name: string; n: number }>(countSql(tables))
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]))
}

export interface Session {
  pid: number
  /** The client's address: an app container's own, or another client's. */
  addr: string | null
  /** "api (postgres@172.18.0.5), idle in transaction for 00:01:02: UPDATE jobs ..." */
  detail: string
}

/**
 * Other clients' sessions holding a lock on the tables of this database (an earlier test's, a
 * transaction left open): a restart of the app would end its own; another client's would block
 * the truncation. (A database cloned with TEMPLATE has the same table OIDs: the database counts.)
 */
export async function sessionsOn(db: Database, oids: number[]): Promise<Session[]> {
  if (oids.length === 0) return []
  const rows = await db.rows<{ pid: number; addr: string | null; detail: string }>(
    `SELECT DISTINCT a.pid, host(a.client_addr) AS addr,
            coalesce(nullif(a.application_name, ''), 'a client') || ' (' || a.usename || '@' ||
            coalesce(host(a.client_addr), 'local') || '), ' ||
            coalesce(a.state, '?') || coalesce(' for ' || date_trunc('second', now() - a.xact_start)::text, '') || ': '
            ||
            left(regexp_replace(a.query, '\\s+', ' ', 'g'), 80) AS detail
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.relation = ANY(ARRAY[${oids.join(',')}]::oid[]) AND a.pid <> pg_backend_pid() AND a.application_name NOT
       LIKE 'reset-and-test:%'
     ORDER BY a.pid`,
  )
  return rows.map((r) => ({ pid: Number(r.pid), addr: r.addr, detail: r.detail }))
}

/** Ends those sessions (their transactions roll back); returns how many went. */
export async function endSessions(db: Database, pids: number[]): Promise<number> {
  if (!pids.length) return 0
  const [row] = await db.rows<{ n: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM ` +
      `unnest(ARRAY[${pids.map(Number).join(',')}]::int[]) AS pid`,
  )
  return Number(row.n)
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
    if (!byPid.has(r.pid))
      byPid.set(
        r.pid,
        `pid ${r.pid} (${r.state}, transaction open ${r.age}, last query: ${r.query}) holds ${r.mode} on ${r.relname}`,
      )
  }
  return [...byPid.values()]
}

/** Every session with its locks: for the diagnostics of a failed run. */
export const ACTIVITY_SQL = `SELECT a.pid, a.usename, a.application_name, a.client_addr::text, a.state,
  a.wait_event_type, a.wait_event,
  date_trunc('second', now() - a.xact_start)::text AS xact_age, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200) AS
  query,
  (SELECT string_agg(l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype) || CASE WHEN l.granted THEN
  '' ELSE ' (waiting)' END, '; ')
     FROM pg_locks l WHERE l.pid = a.pid) AS locks
FROM pg_stat_activity a WHERE a.backend_type = 'client backend' ORDER BY a.pid`

/** The tables named, as a VALUES list of (name, regclass): for the catalog queries below. */
const named = (tables: string[], alias = 't') => {
  const values = tables.map((t) => `(${literal(t)}, ${literal(quoteIdent(t))}::regclass)`)
  return `(VALUES ${values.join(', ')}) AS ${alias}(name, oid)`
}

/** Each table's columns as COPY takes them: dropped ones left out, generated ones apart. */
export async function copyColumns(db: Database, tables: string[]): Promise<CopyTable[]> {
  if (tables.length === 0) return []
  const columns = (generated: boolean) =>
    `coalesce((SELECT json_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.oid AND
      a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated ${generated ? "<> ''" : "= ''"}), '[]'::json)`
  const rows = await db.rows<CopyTable>(
    `SELECT t.name, c.relkind::text AS kind, ${columns(false)} AS columns, ${columns(true)} AS generated
     FROM ${named(tables)} JOIN pg_class c ON c.oid = t.oid`,
  )
  return tables.map((name) => rows.find((r) => r.name === name)!)
}

export interface SequencePosition {
  /** The table that owns it (a serial or identity column of it). */
  table: string
  /** As regclass shows it: what setval takes. */
  name: string
  last_value: string
  /** false: nextval has never been called (last_value is the start): the next value is last_value itself. */
  is_called: boolean
}

/** Where each sequence the tables own stands (pg_sequence_last_value is null before the first nextval). */
export async function sequencePositions(db: Database, tables: string[]): Promise<SequencePosition[]> {
  if (tables.length === 0) return []
  return db.rows<SequencePosition>(
    `SELECT t.name AS table, s.oid::regclass::text AS name,
            coalesce(pg_sequence_last_value(s.oid), q.seqstart)::text AS last_value,
            pg_sequence_last_value(s.oid) IS NOT NULL AS is_called
     FROM ${named(tables)}
     JOIN pg_depend d ON d.refobjid = t.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
     JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
     JOIN pg_sequence q ON q.seqrelid = s.oid
     ORDER BY 1, 2`,
  )
}

/** The foreign keys among the tables, child -> parent, by the names given (a table's key to itself left out). */
export async function foreignKeys(db: Database, tables: string[]): Promise<{ child: string; parent: string }[]> {
  if (tables.length === 0) return []
  return db.rows<{ child: string; parent: string }>(
    `SELECT DISTINCT c.name AS child, p.name AS parent
     FROM pg_constraint con JOIN ${named(tables, 'c')} ON c.oid = con.conrelid
     JOIN ${named(tables, 'p')} ON p.oid = con.confrelid
     WHERE con.contype = 'f' AND con.conrelid <> con.confrelid
     ORDER BY 1, 2`,
  )
}
