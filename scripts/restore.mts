#!/usr/bin/env -S node --import tsx
// restore: put back what --backup saved before a reset: every row of the tables of its plan (with
// their sequences) and the Redis keys, through the same connections the phases use.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/run/cli.ts'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { DATABASE_FILE, latestBackup, readManifest, REDIS_FILE, restoreKeys, restoreTables } from '../lib/safety/backup.ts'
import { resolveTables, withDatabase } from '../lib/access/database.ts'
import { out } from '../lib/util/output.ts'
import { withRedis } from '../lib/access/redis.ts'

const backupDir = (flags: Record<string, unknown>) =>
  typeof flags.dir === 'string' ? path.resolve(flags.dir) : latestBackup(path.join(SUITE_ROOT, 'backups'))

export default definePhase(import.meta, {
  name: 'restore',
  title: 'put back the rows and keys a --backup run saved',
  exitCode: 4,
  purpose: 'Restore a backup made with --backup: the saved tables are emptied (no CASCADE) and reloaded with their sequences, the saved Redis keys restored (REPLACE).',
  flags: [['--dir DIR', 'the backup folder (default: the newest under backups/)']],
  destroys: 'database',
  async inventory(ctx) {
    const dir = backupDir(ctx.options.flags)
    const m = readManifest(dir)
    return [`restore from ${dir} (made ${m.createdAt}): tables ${m.tables?.join(', ') ?? 'none'} of database ${m.database ?? '?'} emptied and reloaded; ${m.redisKeys ?? 0} Redis keys replaced`]
  },
  async run(ctx) {
    const dir = backupDir(ctx.options.flags)
    const manifest = readManifest(dir)
    let rows = 0
    if (manifest.tables?.length && existsSync(path.join(dir, DATABASE_FILE))) {
      const tables = manifest.tables
      rows = await withDatabase(
        ctx,
        async (db) => {
          if (manifest.database && manifest.database !== db.name) throw new Error(`the backup holds rows of database ${manifest.database}, not ${db.name}; nothing was restored`)
          await resolveTables(db, tables) // each table still exists
          if (ctx.options.dryRun) {
            out.info(`[dry-run] would empty ${tables.join(', ')} and reload them from ${path.join(dir, DATABASE_FILE)} in one transaction`)
            return 0
          }
          const n = await restoreTables(ctx, db, dir)
          out.ok(`restored ${n} rows of ${tables.join(', ')} from ${path.join(dir, DATABASE_FILE)}`)
          return n
        },
        { destructive: true },
      )
    }
    const keys = existsSync(path.join(dir, REDIS_FILE)) ? await withRedis(ctx, (kv) => restoreKeys(ctx, kv, dir), { destructive: true }) : 0
    return { rows, keys }
  },
})
