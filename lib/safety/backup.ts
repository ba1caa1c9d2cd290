// --backup: before the plan is carried out, save exactly what it destroys — every table of the
// plan (with its sequences) and every Redis key of the databases or patterns it empties — through
// the same connections the phases use, under backups/<timestamp>/; scripts/restore.mts puts them back.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Ctx, PlannedRedis } from '../run/context.ts'
import { literal, quoteIdent, type Database } from '../access/database.ts'
import { out } from '../util/output.ts'
import type { Kv } from '../access/redis.ts'

export const DATABASE_FILE = 'database.jsonl'
export const REDIS_FILE = 'redis.jsonl'
export const MANIFEST_FILE = 'manifest.json'

export interface Manifest {
  createdAt: string
  /** The database the rows came from, and the tables (schema.table) in the order they were saved. */
  database?: string
  tables?: string[]
  redisKeys?: number
  /** The Redis database the run worked in (restore returns to it). */
  redisDb?: number
}

function note(dir: string, part: Partial<Manifest>) {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, MANIFEST_FILE)
  const now: Manifest = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { createdAt: new Date().toISOString() }
  writeFileSync(file, JSON.stringify({ ...now, ...part }, null, 2) + '\n')
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST_FILE)
  if (!existsSync(file)) throw new Error(`${dir} is not a backup made by --backup (no ${MANIFEST_FILE})`)
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest
}

/** The newest backup folder, for restore without --dir. */
export function latestBackup(root: string): string {
  const dirs = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, MANIFEST_FILE))).sort() : []
  if (!dirs.length) throw new Error(`no backups under ${root}; make one with --backup`)
  return path.join(root, dirs[dirs.length - 1])
}

interface SavedTable {
  table: string
  rows: unknown[]
  /** Sequences the table owns (serial and identity columns): RESTART IDENTITY resets them. */
  sequences: { name: string; last_value: string; is_called: boolean }[]
}

/** Sequences owned by a table's columns. */
const sequencesSql = (table: string) =>
  `SELECT s.oid::regclass::text AS name FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
   WHERE s.relkind = 'S' AND d.refobjid = ${literal(quoteIdent(table))}::regclass ORDER BY 1`

/** Every row of every table of the plan, as JSON, one table a line. */
export async function backupTables(ctx: Ctx, db: Database, tables: string[]): Promise<void> {
  const { options } = ctx
  if (options.dryRun) return out.info(`[dry-run] would save every row of ${tables.join(', ')} to ${options.backupDir}/${DATABASE_FILE}`)
  mkdirSync(options.backupDir, { recursive: true })
  const file = path.join(options.backupDir, DATABASE_FILE)
  writeFileSync(file, '')
  let rows = 0
  for (const table of tables) {
    const [{ data }] = await db.rows<{ data: unknown[] }>(`SELECT coalesce(json_agg(t), '[]'::json) AS data FROM ${quoteIdent(table)} t`)
    const sequences: SavedTable['sequences'] = []
    for (const { name } of await db.rows<{ name: string }>(sequencesSql(table))) {
      const [s] = await db.rows<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${name}`)
      sequences.push({ name, ...s })
    }
    appendFileSync(file, JSON.stringify({ table, rows: data, sequences } satisfies SavedTable) + '\n')
    rows += data.length
  }
  note(options.backupDir, { database: db.name, tables })
  out.ok(`backup: ${rows} rows of ${tables.length} tables saved to ${file}`)
}

/** Tables ordered so that each comes after the tables its foreign keys point to. */
async function parentsFirst(db: Database, tables: string[]): Promise<string[]> {
  const edges = await db.rows<{ child: string; parent: string }>(
    `SELECT con.conrelid::regclass::text AS child, con.confrelid::regclass::text AS parent FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conrelid <> con.confrelid
       AND con.conrelid = ANY(ARRAY[${tables.map((t) => `${literal(quoteIdent(t))}::regclass`).join(', ')}]::oid[])`,
  )
  const key = async (t: string) => (await db.rows<{ n: string }>(`SELECT ${literal(quoteIdent(t))}::regclass::text AS n`))[0].n
  const byName = new Map<string, string>()
  for (const t of tables) byName.set(await key(t), t)
  const ordered: string[] = []
  const visiting = new Set<string>()
  const visit = (n: string) => {
    if (ordered.includes(n) || !byName.has(n)) return
    if (visiting.has(n)) throw new Error(`the foreign keys among ${tables.join(', ')} form a cycle; restore them by hand`)
    visiting.add(n)
    for (const e of edges.filter((e) => e.child === n)) visit(e.parent)
    ordered.push(n)
  }
  for (const n of byName.keys()) visit(n)
  return ordered.map((n) => byName.get(n)!)
}

/** Rows back, in one transaction: the saved tables emptied (no CASCADE), reloaded parents first, sequences set. */
export async function restoreTables(ctx: Ctx, db: Database, dir: string): Promise<number> {
  const saved = readFileSync(path.join(dir, DATABASE_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SavedTable)
  const order = await parentsFirst(db, saved.map((s) => s.table))
  const statements = [
    'BEGIN;',
    `SET LOCAL lock_timeout = '${Math.round(ctx.config.lockTimeoutMs)}ms';`,
    `TRUNCATE TABLE ${saved.map((s) => quoteIdent(s.table)).join(', ')};`,
  ]
  for (const table of order) {
    const s = saved.find((x) => x.table === table)!
    if (s.rows.length) {
      statements.push(
        `INSERT INTO ${quoteIdent(table)} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::${quoteIdent(table)}, ${literal(JSON.stringify(s.rows))}::json);`,
      )
    }
    for (const q of s.sequences) statements.push(`SELECT setval(${literal(q.name)}, ${Number(q.last_value)}, ${q.is_called});`)
  }
  statements.push('COMMIT;')
  await db.execute(statements.join('\n'))
  return saved.reduce((n, s) => n + s.rows.length, 0)
}

/** DUMP + PTTL of every key the plan removes, one JSON line each, with its database. */
export async function backupKeys(ctx: Ctx, kv: Kv, planned: PlannedRedis): Promise<void> {
  const { options } = ctx
  if (!kv.client) throw new Error('--backup of Redis keys needs a port (the published port, a port-forward or REDIS_URL): REDIS_ACCESS=exec cannot DUMP')
  const patterns = planned.patterns?.map((p) => p.pattern) ?? ['*']
  const dbs = planned.databases.map((d) => d.db)
  if (options.dryRun) return out.info(`[dry-run] would save the keys of db ${dbs.join(', ')} matching ${patterns.join(', ')} to ${options.backupDir}/${REDIS_FILE}`)
  const client = kv.client
  mkdirSync(options.backupDir, { recursive: true })
  const file = path.join(options.backupDir, REDIS_FILE)
  writeFileSync(file, '')
  let saved = 0
  try {
    for (const db of dbs) {
      await client.select(db)
      for (const pattern of patterns) {
        let cursor = '0'
        do {
          const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000)
          cursor = String(next)
          const lines: string[] = []
          for (const key of keys) {
            const [value, ttl] = await Promise.all([client.dumpBuffer(key), client.pttl(key)])
            if (value) lines.push(JSON.stringify({ db, key: key.toString('base64'), ttl: ttl > 0 ? ttl : 0, value: value.toString('base64') }))
          }
          if (lines.length) appendFileSync(file, lines.join('\n') + '\n')
          saved += lines.length
        } while (cursor !== '0')
      }
    }
  } finally {
    await client.select(kv.db) // back to the database the phases work in
  }
  note(options.backupDir, { redisKeys: saved, redisDb: kv.db })
  out.ok(`backup: ${saved} Redis keys saved to ${file}`)
}

/** Keys back with RESTORE ... REPLACE, in the databases they came from, with their TTLs. */
export async function restoreKeys(ctx: Ctx, kv: Kv, dir: string): Promise<number> {
  if (!kv.client) throw new Error('restoring Redis keys needs a port (the published port, a port-forward or REDIS_URL): REDIS_ACCESS=exec cannot RESTORE')
  const lines = readFileSync(path.join(dir, REDIS_FILE), 'utf8').split('\n').filter(Boolean)
  if (ctx.options.dryRun) {
    out.info(`[dry-run] would RESTORE ${lines.length} keys from ${path.join(dir, REDIS_FILE)}`)
    return lines.length
  }
  const client = kv.client
  let current = -1
  try {
    for (let i = 0; i < lines.length; i += 1000) {
      const p = client.pipeline()
      for (const line of lines.slice(i, i + 1000)) {
        const k = JSON.parse(line) as { db: number; key: string; ttl: number; value: string }
        if (k.db !== current) p.select((current = k.db))
        p.restore(Buffer.from(k.key, 'base64'), k.ttl, Buffer.from(k.value, 'base64'), 'REPLACE')
      }
      const results = (await p.exec()) ?? []
      const failed = results.find(([err]) => err)
      if (failed) throw failed[0]!
    }
  } finally {
    await client.select(kv.db)
  }
  out.ok(`restored ${lines.length} Redis keys from ${path.join(dir, REDIS_FILE)}`)
  return lines.length
}
