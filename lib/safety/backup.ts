// --backup: before the plan is carried out, save exactly what it destroys — every table of the
// plan (with its sequences, all in one snapshot) and every Redis key of the databases or patterns
// it empties — through the same connections the phases use, under backups/<timestamp>/, with the
// stack it came from. scripts/restore.mts puts them back, into that stack only.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Database } from '../access/database.ts'
import type { Kv } from '../access/kv.ts'
import { literal, quoteIdent } from '../access/sql.ts'
import { RefusedError } from '../util/errors.ts'
import { out } from '../util/output.ts'
import type { PlannedRedis } from './plan.ts'

export const DATABASE_FILE = 'database.jsonl'
export const REDIS_FILE = 'redis.jsonl'
export const MANIFEST_FILE = 'manifest.json'

export interface Manifest {
  createdAt: string
  /** The stack it was taken from: the target's key (kind, project or namespace, where it is). */
  stack?: string
  /** The database the rows came from, its server's system identifier, and the tables in the order they were saved. */
  database?: string
  system?: string | null
  tables?: string[]
  redisKeys?: number
  /** The Redis database the run worked in (restore returns to it), and the server it was taken from. */
  redisDb?: number
  redisServer?: string
}

/** Where a backup goes or comes from, and whether anything is written. */
export interface BackupDir {
  dir: string
  dryRun: boolean
  /** The target's key (lib/run/record.ts stateKey): a backup goes back only where it came from. */
  stack: string
}

function note(dir: string, part: Partial<Manifest>) {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, MANIFEST_FILE)
  const now: Manifest = existsSync(file)
    ? JSON.parse(readFileSync(file, 'utf8'))
    : { createdAt: new Date().toISOString() }
  writeFileSync(file, JSON.stringify({ ...now, ...part }, null, 2) + '\n')
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST_FILE)
  if (!existsSync(file)) throw new Error(`${dir} is not a backup made by --backup (no ${MANIFEST_FILE})`)
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest
}

/** The newest backup folder, for restore without --dir. */
export function latestBackup(root: string): string {
  const dirs = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(path.join(root, d, MANIFEST_FILE)))
        .sort()
    : []
  if (!dirs.length) throw new Error(`no backups under ${root}; make one with --backup`)
  return path.join(root, dirs[dirs.length - 1])
}

interface SavedTable {
  table: string
  rows: unknown[]
  /** Sequences the table owns (serial and identity columns): RESTART IDENTITY resets them. */
  sequences: { name: string; last_value: string; is_called: boolean }[]
}

/** The database server's own identity (pg_control_system needs a superuser or pg_monitor; null without). */
async function systemIdentifier(db: Database): Promise<string | null> {
  return db.rows<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()').then(
    (r) => r[0]?.id ?? null,
    () => null,
  )
}

/**
 * Every row of every table of the plan and the position of each sequence they own, read by ONE
 * statement, so that all of it comes from one snapshot: rows a worker writes meanwhile are in all
 * tables or in none.
 */
export async function backupTables(b: BackupDir, db: Database, tables: string[]): Promise<void> {
  if (b.dryRun) return out.info(`[dry-run] would save every row of ${tables.join(', ')} to ${b.dir}/${DATABASE_FILE}`)
  const parts = tables.map((t, i) => {
    const sequences = `SELECT coalesce(json_agg(json_build_object('name', s.oid::regclass::text, 'last_value',
      coalesce(pg_sequence_last_value(s.oid), (SELECT q.seqstart FROM pg_sequence q WHERE q.seqrelid = s.oid))::text,
      'is_called', pg_sequence_last_value(s.oid) IS NOT NULL)), '[]'::json)
      FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a',
      'i')
      WHERE s.relkind = 'S' AND d.refobjid = ${literal(quoteIdent(t))}::regclass`
    return `(SELECT coalesce(json_agg(t), '[]'::json) FROM ONLY ${quoteIdent(t)} t) AS r${i}, (${sequences}) AS s${i}`
  })
  const [row] = await db.rows<Record<string, unknown>>(`SELECT ${parts.join(', ')}`)
  mkdirSync(b.dir, { recursive: true })
  const file = path.join(b.dir, DATABASE_FILE)
  writeFileSync(file, '')
  let rows = 0
  for (const [i, table] of tables.entries()) {
    const saved: SavedTable = {
      table,
      rows: row[`r${i}`] as unknown[],
      sequences: row[`s${i}`] as SavedTable['sequences'],
    }
    appendFileSync(file, JSON.stringify(saved) + '\n')
    rows += saved.rows.length
  }
  note(b.dir, { stack: b.stack, database: db.name, system: await systemIdentifier(db), tables })
  out.ok(`backup: ${rows} rows of ${tables.length} tables saved to ${file} (one snapshot)`)
}

/** A backup goes back only into the stack and database server it came from. */
export async function refuseForeignBackup(b: BackupDir, m: Manifest, db: Database | null, kv: Kv | null) {
  const why: string[] = []
  if (m.stack && m.stack !== b.stack) why.push(`it was taken from ${m.stack}, and this is ${b.stack}`)
  if (db && m.database && m.database !== db.name) why.push(`it holds rows of database ${m.database}, not ${db.name}`)
  const system = db ? await systemIdentifier(db) : null
  if (db && m.system && system && m.system !== system)
    why.push(`database ${db.name} is on another server (system identifier ${system}, the backup's ${m.system})`)
  if (kv && m.redisServer && !sameRedis(m.redisServer, kv.server))
    why.push(`its keys come from ${m.redisServer}, and the Redis reached is ${kv.server}`)
  if (why.length)
    throw new RefusedError(`the backup ${b.dir} does not belong here: ${why.join('; ')}. Nothing was restored.`)
}

/** The Redis server's instance, without the address that changes when it restarts. */
const sameRedis = (a: string, b: string) => a.replace(/ \([\d.:a-f]+\)/, '') === b.replace(/ \([\d.:a-f]+\)/, '')

/** Tables ordered so that each comes after the tables its foreign keys point to. */
async function parentsFirst(db: Database, tables: string[]): Promise<string[]> {
  const edges = await db.rows<{ child: string; parent: string }>(
    `SELECT con.conrelid::regclass::text AS child, con.confrelid::regclass::text AS parent FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conrelid <> con.confrelid
       AND con.conrelid = ANY(ARRAY[${tables.map((t) => `${literal(quoteIdent(t))}::regclass`).join(', ')}]::oid[])`,
  )
  const regclass = await db.rows<Record<string, string>>(
    `SELECT ${tables.map((t, i) => `${literal(quoteIdent(t))}::regclass::text AS n${i}`).join(', ')}`,
  )
  const byName = new Map(tables.map((t, i) => [regclass[0][`n${i}`], t]))
  const ordered: string[] = []
  const visiting = new Set<string>()
  const visit = (n: string) => {
    if (ordered.includes(n) || !byName.has(n)) return
    if (visiting.has(n))
      throw new Error(`the foreign keys among ${tables.join(', ')} form a cycle; restore them by hand`)
    visiting.add(n)
    for (const e of edges.filter((e) => e.child === n)) visit(e.parent)
    ordered.push(n)
  }
  for (const n of byName.keys()) visit(n)
  return ordered.map((n) => byName.get(n)!)
}

/**
 * Rows back, in one transaction: the saved tables emptied (ONLY, no CASCADE), reloaded parents first, sequences set.
 */
export async function restoreTables(db: Database, dir: string, lockTimeoutMs: number): Promise<number> {
  const saved = readFileSync(path.join(dir, DATABASE_FILE), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SavedTable)
  const order = await parentsFirst(
    db,
    saved.map((s) => s.table),
  )
  const statements = [
    'BEGIN;',
    `SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms';`,
    `TRUNCATE TABLE ${saved.map((s) => `ONLY ${quoteIdent(s.table)}`).join(', ')};`,
  ]
  for (const table of order) {
    const s = saved.find((x) => x.table === table)!
    if (s.rows.length) {
      statements.push(
        `INSERT INTO ${quoteIdent(table)} OVERRIDING SYSTEM VALUE SELECT * FROM ` +
          `json_populate_recordset(NULL::${quoteIdent(table)}, ${literal(JSON.stringify(s.rows))}::json);`,
      )
    }
    for (const q of s.sequences)
      statements.push(`SELECT setval(${literal(q.name)}, ${Number(q.last_value)}, ${q.is_called});`)
  }
  statements.push('COMMIT;')
  await db.execute(statements.join('\n'))
  return saved.reduce((n, s) => n + s.rows.length, 0)
}

/** DUMP + PTTL of every key the plan removes, one JSON line each, with its database. */
export async function backupKeys(b: BackupDir, kv: Kv, planned: PlannedRedis): Promise<void> {
  if (!kv.client)
    throw new Error(
      '--backup of Redis keys needs a port (the published port, a port-forward or REDIS_URL): REDIS_ACCESS=exec ' +
        'cannot DUMP',
    )
  const patterns = planned.patterns?.map((p) => p.pattern) ?? ['*']
  const dbs = planned.databases.map((d) => d.db)
  if (b.dryRun)
    return out.info(
      `[dry-run] would save the keys of db ${dbs.join(', ')} matching ${patterns.join(', ')} to ${b.dir}/${REDIS_FILE}`,
    )
  const client = kv.client
  mkdirSync(b.dir, { recursive: true })
  const file = path.join(b.dir, REDIS_FILE)
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
            if (value)
              lines.push(
                JSON.stringify({
                  db,
                  key: key.toString('base64'),
                  ttl: ttl > 0 ? ttl : 0,
                  value: value.toString('base64'),
                }),
              )
          }
          if (lines.length) appendFileSync(file, lines.join('\n') + '\n')
          saved += lines.length
        } while (cursor !== '0')
      }
    }
  } finally {
    await client.select(kv.db) // back to the database the phases work in
  }
  note(b.dir, { stack: b.stack, redisKeys: saved, redisDb: kv.db, redisServer: kv.server })
  out.ok(`backup: ${saved} Redis keys saved to ${file}`)
}

/** Keys back with RESTORE ... REPLACE, in the databases they came from, with their TTLs. */
export async function restoreKeys(b: BackupDir, kv: Kv): Promise<number> {
  if (!kv.client)
    throw new Error(
      'restoring Redis keys needs a port (the published port, a port-forward or REDIS_URL): REDIS_ACCESS=exec cannot ' +
        'RESTORE',
    )
  const lines = readFileSync(path.join(b.dir, REDIS_FILE), 'utf8').split('\n').filter(Boolean)
  if (b.dryRun) {
    out.info(`[dry-run] would RESTORE ${lines.length} keys from ${path.join(b.dir, REDIS_FILE)}`)
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
  out.ok(`restored ${lines.length} Redis keys from ${path.join(b.dir, REDIS_FILE)}`)
  return lines.length
}
