#!/usr/bin/env -S node --import tsx
// flush-redis: clear Redis as the plan says — FLUSHALL (default), FLUSHDB, or SCAN + UNLINK by
// pattern — check nothing that should be gone is left, then start the worker services the run
// held stopped: the broker they come back to holds no task from before the reset.
import { definePhase } from '../lib/run/cli.ts'
import { withRedis } from '../lib/access/redis.ts'
import { backupKeys } from '../lib/safety/backup.ts'
import { out, seconds } from '../lib/util/output.ts'
import { holdWorkers, releaseWorkers } from '../lib/safety/workers.ts'

export default definePhase(import.meta, {
  name: 'flush-redis',
  purpose: 'Clear Redis (REDIS_MODE flushall | flushdb | patterns, SCAN + UNLINK of REDIS_PATTERNS), then start the worker services held stopped.',
  destroys: 'redis',
  async run(ctx) {
    const { config, options, plan } = ctx
    const planned = plan?.redis
    if (!planned) throw new Error('no plan for Redis: the gate did not run')
    await holdWorkers(ctx)
    const figures = await withRedis(
      ctx,
      async (kv) => {
        if (options.backup) await backupKeys(ctx, kv, planned)
        const t0 = Date.now()
        if (planned.mode === 'patterns') {
          const patterns = planned.patterns!.map((p) => p.pattern)
          const removed = await kv.deleteByPatterns(patterns)
          const count = Object.values(removed).reduce((a, b) => a + b, 0)
          if (options.dryRun) return { keys: count }
          const left = Object.entries(await kv.countByPatterns(patterns)).filter(([, n]) => n > 0)
          if (left.length) throw new Error(`keys still match after deletion: ${left.map(([p, n]) => `${p}=${n}`).join(', ')} (written meanwhile?)`)
          out.ok(`${count} keys removed in ${seconds(Date.now() - t0)}: ${Object.entries(removed).map(([p, n]) => `${p}=${n}`).join(' ')}`)
          return { keys: count }
        }
        const before = planned.databases.reduce((n, d) => n + d.keys, 0)
        await kv.flush(planned.mode)
        if (options.dryRun) return { keys: before }
        const left = planned.mode === 'flushall' ? await kv.keyspace() : [{ db: kv.db, keys: await kv.dbsize() }].filter((d) => d.keys > 0)
        if (left.length) throw new Error(`keys left after ${planned.mode.toUpperCase()}: ${left.map((d) => `db${d.db}=${d.keys}`).join(', ')}`)
        out.ok(`${planned.mode.toUpperCase()} ASYNC in ${seconds(Date.now() - t0)}: ${before} -> 0 keys (${planned.databases.map((d) => `db${d.db}`).join(', ') || 'no keys'})`)
        return { keys: before }
      },
      { destructive: true },
    )
    const workers = await releaseWorkers(ctx)
    return workers ? { ...figures, workersStarted: workers } : figures
  },
})
