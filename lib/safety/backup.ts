// --backup: before the plan is carried out, save exactly what it destroys — every table of the
// plan (all in one snapshot, with the sequences they own) and every Redis key of the databases or
// patterns it empties — through the same connections the phases use, under backups/<timestamp>/,
// with the stack it came from. The rows go out with COPY, one file a table, streamed: a table of
// any size passes through in bounded memory. scripts/restore.mts puts them back, into that stack only.
import {
  appendFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { copyColumns, foreignKeys, sequencePositions, type SequencePosition } from '../access/catalog.ts'
import { copyInSql, copyOutSql, holdsRows, type CopyTable } from '../access/copy.ts'
import type { CopyStep, Database } from '../access/database.ts'
import type { Kv } from '../access/kv.ts'
import { literal, quoteIdent } from '../access/sql.ts'
import { RefusedError } from '../util/errors.ts'
import { out, seconds } from '../util/output.ts'
import type { PlannedRedis } from './plan.ts'

export const TABLES_DIR = 'tables'
export const REDIS_FILE = 'redis.jsonl'
export const MANIFEST_FILE = 'manifest.json'
/** How the rows are saved: COPY's text format, one file a table. */
export const ROWS_FORMAT = 'copy-text'

/** One table of a backup, as its manifest records it. */
export interface SavedTable {
  table: string
  /** r: table, p: partitioned table, f: foreign table */
  kind: string
  /** Its rows (COPY text), relative to the backup folder; null for a partitioned table (its partitions hold them). */
  file: string | null
  /** The columns in the file, in its order. */
  columns: string[]
  /** Columns left out of the file (GENERATED ALWAYS AS ... STORED): PostgreSQL computes them again. */
  generated: string[]
  rows: number
  bytes: number
  /** Sequences the table owns (serial and identity columns): set back to where they stood. */
  sequences: Omit<SequencePosition, 'table'>[]
}

export interface Manifest {
  createdAt: string
  /** The stack it was taken from: the target's key (kind, project or namespace, where it is). */
  stack?: string
  /** The database the rows came from, its server's system identifier, and the tables in the order they were saved. */
  database?: string
  system?: string | null
  tables?: string[]
  /** ROWS_FORMAT; absent in a backup made before COPY (rows as JSON in database.jsonl). */
  format?: string
  saved?: SavedTable[]
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

/** The database server's own identity (pg_control_system needs a superuser or pg_monitor; null without). */
async function systemIdentifier(db: Database): Promise<string | null> {
  return db.rows<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()').then(
    (r) => r[0]?.id ?? null,
    () => null,
  )
}

/**
 * A file written from a stream of COPY rows, counting them (one line each in text format) and their
 * bytes. The rows come in chunks of a few KiB (pg's socket reads): the file is corked until BATCH
 * bytes are in, then written with one writev, so a million rows cost hundreds of system calls, not
 * tens of thousands. It is opened at its first write (or its end): the tables after a failed one
 * open nothing.
 */
export class RowFile extends Writable {
  static readonly BATCH = 256 * 1024
  rows = 0
  bytes = 0
  private file: WriteStream | undefined
  private corked = 0

  constructor(readonly path: string) {
    super()
  }

  private opened(): WriteStream {
    if (!this.file) {
      this.file = createWriteStream(this.path)
      this.file.on('error', (e) => this.destroy(e))
    }
    return this.file
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void) {
    this.bytes += chunk.length
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) this.rows++
    const file = this.opened()
    if (!file.writableCorked) file.cork()
    file.write(chunk)
    if ((this.corked += chunk.length) < RowFile.BATCH) return done()
    this.corked = 0
    file.uncork()
    if (file.writableNeedDrain) file.once('drain', () => done())
    else done()
  }

  override _final(done: (e?: Error | null) => void) {
    const file = this.opened()
    file.end() // uncorks too
    finished(file).then(() => done(), done)
  }

  override _destroy(e: Error | null, done: (e?: Error | null) => void) {
    this.file?.destroy()
    done(e)
  }
}

/** Where a table's rows go in the backup folder. */
export const rowsFile = (table: string) => `${TABLES_DIR}/${table}.copy`

/** What the manifest records of each table: its file, its columns, its counts, its sequences. */
export function savedTables(
  tables: CopyTable[],
  files: Map<string, { rows: number; bytes: number }>,
  sequences: SequencePosition[],
): SavedTable[] {
  return tables.map((t) => ({
    table: t.name,
    kind: t.kind,
    file: holdsRows(t) ? rowsFile(t.name) : null,
    columns: t.columns,
    generated: t.generated,
    rows: files.get(t.name)?.rows ?? 0,
    bytes: files.get(t.name)?.bytes ?? 0,
    sequences: sequences.filter((s) => s.table === t.name).map(({ table: _, ...s }) => s),
  }))
}

/**
 * Every row of every table of the plan, read with COPY in ONE snapshot (a REPEATABLE READ, READ
 * ONLY transaction), so that rows a worker writes meanwhile are in all tables or in none; each
 * table's rows streamed to its own file. The sequences are read after the snapshot: every value a
 * saved row holds was handed out before it, so each sequence then stands at least that far.
 */
export async function backupTables(b: BackupDir, db: Database, tables: string[]): Promise<void> {
  const where = path.join(b.dir, TABLES_DIR)
  if (b.dryRun) return out.info(`[dry-run] would COPY every row of ${tables.join(', ')} to ${where}, one snapshot`)
  const t0 = Date.now()
  const layout = await copyColumns(db, tables)
  mkdirSync(where, { recursive: true })
  const copied = layout.filter(holdsRows)
  const files = copied.map((t) => new RowFile(path.join(b.dir, rowsFile(t.name))))
  await db.copyOut(copied.map((t, i) => ({ sql: copyOutSql(t), into: files[i] })))
  const counts = new Map(copied.map((t, i) => [t.name, { rows: files[i].rows, bytes: files[i].bytes }]))
  const saved = savedTables(layout, counts, await sequencePositions(db, tables))
  const system = await systemIdentifier(db)
  note(b.dir, { stack: b.stack, database: db.name, system, tables, format: ROWS_FORMAT, saved })
  const rows = saved.reduce((n, s) => n + s.rows, 0)
  out.ok(
    `backup: ${rows} rows of ${tables.length} tables saved to ${where} in ${seconds(Date.now() - t0)} (one snapshot)`,
  )
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

/** Tables ordered so that each comes after the tables its foreign keys point to; otherwise as given. */
export function parentsFirst(tables: string[], edges: { child: string; parent: string }[]): string[] {
  const ordered: string[] = []
  const visiting = new Set<string>()
  const visit = (n: string) => {
    if (ordered.includes(n)) return
    if (visiting.has(n))
      throw new Error(`the foreign keys among ${tables.join(', ')} form a cycle; restore them by hand`)
    visiting.add(n)
    for (const e of edges) if (e.child === n && tables.includes(e.parent)) visit(e.parent)
    ordered.push(n)
  }
  for (const n of tables) visit(n)
  return ordered
}

/** The tables a backup saved; one made before COPY is not read (its rows went back with INSERT). */
export function savedOf(m: Manifest, dir: string): SavedTable[] {
  if (m.saved && m.format === ROWS_FORMAT) return m.saved
  if (!m.tables?.length) return []
  throw new Error(
    `${dir} was made by an earlier version of the suite (rows as JSON in database.jsonl, format ` +
      `${m.format ?? 'unnamed'}); restore it with that version, or make a new backup`,
  )
}

/** A saved column that is gone or generated now: the rows cannot go back as they were saved. */
export function changedColumns(saved: SavedTable[], now: CopyTable[]): string[] {
  return saved.flatMap((s) => {
    const t = now.find((n) => n.name === s.table)
    const gone = s.columns.filter((c) => !t?.columns.includes(c))
    return gone.length
      ? [`${s.table}: ${gone.map((c) => `${c} (${t?.generated.includes(c) ? 'now generated' : 'gone'})`).join(', ')}`]
      : []
  })
}

/** A table's file that is missing or not the size the manifest says (a copy cut short): the backup is damaged. */
export function damagedFiles(saved: SavedTable[], dir: string): string[] {
  return saved.flatMap((s) => {
    const size = s.file === null ? s.bytes : statSync(path.join(dir, s.file), { throwIfNoEntry: false })?.size
    return size === s.bytes ? [] : [`${s.file}: ${size === undefined ? 'missing' : `${size} bytes`}, not ${s.bytes}`]
  })
}

/**
 * The restore's one transaction: the saved tables emptied (ONLY, no CASCADE: a table the backup
 * does not hold that points at them makes PostgreSQL refuse), each table's rows copied back in
 * `order` (parents first), then every sequence set where it stood.
 */
export function restoreSteps(saved: SavedTable[], order: string[], dir: string, lockTimeoutMs: number): CopyStep[] {
  const inOrder = order.map((n) => saved.find((s) => s.table === n)!)
  const emptied = saved.filter((s) => s.file !== null)
  const steps: CopyStep[] = [`SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms'`]
  if (emptied.length) steps.push(`TRUNCATE TABLE ${emptied.map((s) => `ONLY ${quoteIdent(s.table)}`).join(', ')}`)
  for (const s of inOrder) {
    if (s.file === null) continue
    const file = path.join(dir, s.file)
    steps.push({ sql: copyInSql({ ...s, name: s.table }), from: () => createReadStream(file), source: file })
  }
  for (const q of inOrder.flatMap((s) => s.sequences)) {
    if (!/^-?\d+$/.test(q.last_value)) throw new Error(`sequence ${q.name}: ${q.last_value} is not a whole number`)
    steps.push(`SELECT setval(${literal(q.name)}, ${q.last_value}, ${q.is_called})`)
  }
  return steps
}

/** Rows back, in one transaction, with COPY from the files; returns how many. */
export async function restoreTables(db: Database, dir: string, lockTimeoutMs: number): Promise<number> {
  const saved = savedOf(readManifest(dir), dir)
  const damaged = damagedFiles(saved, dir)
  if (damaged.length) throw new Error(`the backup ${dir} is damaged, nothing was restored: ${damaged.join('; ')}`)
  const names = saved.map((s) => s.table)
  const changed = changedColumns(saved, await copyColumns(db, names))
  if (changed.length)
    throw new Error(`the tables changed since the backup, nothing was restored: ${changed.join('; ')}`)
  await db.copyIn(restoreSteps(saved, parentsFirst(names, await foreignKeys(db, names)), dir, lockTimeoutMs))
  return saved.reduce((n, s) => n + s.rows, 0)
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
