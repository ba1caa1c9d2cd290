#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// restore: put back what --backup saved before a reset: every row of the tables of its plan (with
// their sequences) and the Redis keys, through the same connections the phases use — into the
// stack and servers they came from, and nowhere else.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { resolveTables } from '../lib/access/catalog.ts'
import { withDatabase } from '../lib/access/database.ts'
import { withRedis, type Kv } from '../lib/access/redis.ts'
import { stateKey, SUITE_ROOT } from '../lib/config/config.ts'
import { definePhase } from '../lib/run/cli.ts'
import type { Ctx } from '../lib/run/context.ts'
import {
  latestBackup,
  readManifest,
  REDIS_FILE,
  refuseForeignBackup,
  restoreKeys,
  restoreTables,
  TABLES_DIR,
  type BackupDir,
} from '../lib/safety/backup.ts'
import { out } from '../lib/util/output.ts'

const backupOf = (ctx: Ctx): BackupDir => ({
  dir:
    typeof ctx.options.flags.dir === 'string'
      ? path.resolve(ctx.options.flags.dir)
      : latestBackup(path.join(SUITE_ROOT, 'backups')),
  dryRun: ctx.dryRun,
  stack: stateKey(ctx.config),
})

export default definePhase(import.meta, 'restore', {
  title: 'put back the rows and keys a --backup run saved',
  purpose:
    'Restore a backup made with --backup: the saved tables are emptied (no CASCADE) and reloaded with their ' +
    'sequences, the saved Redis keys restored (REPLACE).',
  flags: [['--dir DIR', 'the backup folder (default: the newest under backups/)']],
  async inventory(ctx) {
    const { dir } = backupOf(ctx)
    const m = readManifest(dir)
    return [
      `restore from ${dir} (made ${m.createdAt} from ${m.stack ?? 'an unrecorded stack'}): tables ` +
        `${m.tables?.join(', ') ?? 'none'} of database ${m.database ?? '?'} emptied and reloaded; ` +
        `${m.redisKeys ?? 0} Redis keys replaced`,
    ]
  },
  async run(ctx) {
    const b = backupOf(ctx)
    const manifest = readManifest(b.dir)
    const hasRows = Boolean(manifest.tables?.length)
    const hasKeys = existsSync(path.join(b.dir, REDIS_FILE))
    // Both servers are checked before either is written: a backup goes back only where it came from.
    return withDatabase(
      ctx,
      async (db) => {
        const restore = async (kv: Kv | null) => {
          await refuseForeignBackup(b, manifest, db, kv)
          if (hasRows) await resolveTables(db, manifest.tables!) // each table still exists
          const rows = hasRows ? await restoreRows(ctx, b, db, manifest.tables!) : 0
          return { rows, keys: kv ? await restoreKeys(b, kv) : 0 }
        }
        return hasKeys ? withRedis(ctx, restore, { destructive: true }) : restore(null)
      },
      { destructive: true },
    )
  },
})

async function restoreRows(ctx: Ctx, b: BackupDir, db: Parameters<typeof restoreTables>[0], tables: string[]) {
  if (ctx.dryRun) {
    out.info(
      `[dry-run] would empty ${tables.join(', ')} and COPY them back from ${path.join(b.dir, TABLES_DIR)} in one ` +
        `transaction`,
    )
    return 0
  }
  const n = await restoreTables(db, b.dir, ctx.config.database.lockTimeoutMs)
  out.ok(`restored ${n} rows of ${tables.join(', ')} from ${path.join(b.dir, TABLES_DIR)}`)
  return n
}
