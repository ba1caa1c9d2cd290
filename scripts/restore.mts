#!/usr/bin/env -S node --import tsx
// restore: put back what --backup saved before a reset: the tables' rows and the Redis keys.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/main.ts'
import { SUITE_ROOT } from '../lib/config.ts'
import { DATABASE_FILE, latestBackup, readManifest, REDIS_FILE, restoreKeys, restoreTables } from '../lib/backup.ts'
import { resolveTables, truncateSql, withDatabase } from '../lib/db.ts'
import { withRedis } from '../lib/redis.ts'

const backupDir = (flags: Record<string, unknown>) =>
  typeof flags.dir === 'string' ? path.resolve(flags.dir) : latestBackup(path.join(SUITE_ROOT, 'backups'))

export default definePhase(import.meta, {
  name: 'restore',
  title: 'put back the rows and keys a --backup run saved',
  exitCode: 4,
  purpose: 'Restore a backup made with --backup: the saved tables are emptied and reloaded, the saved Redis keys restored (REPLACE).',
  flags: [['--dir DIR', 'the backup folder (default: the newest under backups/)']],
  destroys: 'database',
  async inventory(ctx) {
    const dir = backupDir(ctx.options.flags)
    const m = readManifest(dir)
    return [`restore from ${dir} (made ${m.createdAt}): tables ${m.tables?.join(', ') ?? 'none'} emptied and reloaded; ${m.redisKeys ?? 0} Redis keys replaced`]
  },
  async run(ctx) {
    const dir = backupDir(ctx.options.flags)
    const manifest = readManifest(dir)
    let rows = 0
    if (manifest.tables?.length && existsSync(path.join(dir, DATABASE_FILE))) {
      const tables = manifest.tables
      await withDatabase(ctx, (db) => resolveTables(db, tables)) // each table still exists
      const truncate = truncateSql(tables, ctx.config.lockTimeoutMs, ctx.config.statementTimeoutMs).replace(/^(BEGIN|COMMIT);$/gm, '')
      await restoreTables(ctx, dir, tables, truncate)
      rows = tables.length
    }
    const keys = existsSync(path.join(dir, REDIS_FILE)) ? await withRedis(ctx, (kv) => restoreKeys(ctx, kv, dir)) : 0
    return { tables: rows, keys }
  },
})
