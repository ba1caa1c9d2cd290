// --backup: before rows and keys are deleted, save them under backups/<timestamp>/;
// scripts/restore.mts puts them back.
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs'
import path from 'node:path'
import type { Ctx } from './main.ts'
import type { Kv } from './redis.ts'
import { out } from './output.ts'

export const DATABASE_FILE = 'database.sql'
export const REDIS_FILE = 'redis.jsonl'

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
  out.ok(`backup: ${saved} Redis keys saved to ${file}`)
}
