// --backup: before rows and keys are deleted, save them under backups/<timestamp>/;
// scripts/restore.mts puts them back.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Ctx } from './main.ts'
import type { Kv } from './redis.ts'
import { out } from './output.ts'

export const DATABASE_FILE = 'database.sql'
export const REDIS_FILE = 'redis.jsonl'
export const MANIFEST_FILE = 'manifest.json'

export interface Manifest {
  createdAt: string
  tables?: string[]
  redisKeys?: number
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

/** The newest backup folder, for restore without --from. */
export function latestBackup(root: string): string {
  const dirs = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, MANIFEST_FILE))).sort() : []
  if (!dirs.length) throw new Error(`no backups under ${root}; make one with --backup`)
  return path.join(root, dirs[dirs.length - 1])
}

/** Data-only pg_dump of the tables, run inside the postgres container. */
export async function backupTables(ctx: Ctx, tables: string[]): Promise<void> {
  const { config, options } = ctx
  const compose = await ctx.compose()
  const { user, password, db } = config.postgres
  const argv = ['pg_dump', '-U', user, '-d', db, '--data-only', '--no-owner', ...tables.flatMap((t) => ['-t', t])]
  if (options.dryRun) return out.info(`[dry-run] would save ${tables.join(', ')} with ${argv.join(' ')} to ${options.backupDir}/${DATABASE_FILE}`)
  const dump = await compose.exec(config.services.postgres, argv, { env: { PGPASSWORD: password }, envNames: ['PGPASSWORD'], timeoutMs: config.commandTimeoutMs * 5 })
  mkdirSync(options.backupDir, { recursive: true })
  const file = path.join(options.backupDir, DATABASE_FILE)
  writeFileSync(file, dump.stdout)
  note(options.backupDir, { tables })
  out.ok(`backup: ${tables.length} tables saved to ${file} (${dump.stdout.length} bytes)`)
}

/** DUMP + PTTL of every key matching the patterns, one JSON line each, in every database that FLUSHALL would empty. */
export async function backupKeys(ctx: Ctx, kv: Kv, patterns: string[]): Promise<void> {
  const { config, options } = ctx
  if (!kv.client) throw new Error('--backup of Redis keys needs the published port or REDIS_URL (REDIS_ACCESS=exec cannot DUMP)')
  if (options.dryRun) return out.info(`[dry-run] would save keys matching ${patterns.join(', ')} to ${options.backupDir}/${REDIS_FILE}`)
  const client = kv.client
  const dbs = config.redisMode === 'flushall' ? [...(await client.info('keyspace')).matchAll(/^db(\d+):/gm)].map((m) => Number(m[1])) : [config.redisDb]
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
    await client.select(config.redisDb)
  }
  note(options.backupDir, { redisKeys: saved })
  out.ok(`backup: ${saved} Redis keys saved to ${file}`)
}

/** Rows back: the tables emptied and reloaded from the dump in one psql transaction inside the container. */
export async function restoreTables(ctx: Ctx, dir: string, tables: string[], truncate: string): Promise<void> {
  const { config } = ctx
  const compose = await ctx.compose()
  const { user, password, db } = config.postgres
  const dump = readFileSync(path.join(dir, DATABASE_FILE), 'utf8')
  await compose.exec(config.services.postgres, ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-U', user, '-d', db, '-f', '-'], {
    input: `${truncate}\n${dump}`,
    env: { PGPASSWORD: password },
    envNames: ['PGPASSWORD'],
    mutates: true,
    timeoutMs: config.commandTimeoutMs * 5,
  })
  out.ok(`restored ${tables.join(', ')} from ${path.join(dir, DATABASE_FILE)}`)
}

/** Keys back with RESTORE ... REPLACE, in the databases they came from, with their TTLs. */
export async function restoreKeys(ctx: Ctx, kv: Kv, dir: string): Promise<number> {
  if (!kv.client) throw new Error('restoring Redis keys needs the published port or REDIS_URL (REDIS_ACCESS=exec cannot RESTORE)')
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
    await client.select(ctx.config.redisDb)
  }
  out.ok(`restored ${lines.length} Redis keys from ${path.join(dir, REDIS_FILE)}`)
  return lines.length
}
