#!/usr/bin/env -S node --import tsx
// flush-redis: clear Redis with FLUSHALL (default), FLUSHDB, or SCAN + UNLINK by pattern,
// then check nothing that should be gone is left.
import { definePhase } from '../lib/main.ts'
import { withRedis } from '../lib/redis.ts'
import { backupKeys } from '../lib/backup.ts'
import { out, seconds } from '../lib/output.ts'

export default definePhase(import.meta, {
  name: 'flush-redis',
  purpose: 'Clear Redis: REDIS_MODE flushall (default) | flushdb | patterns (SCAN + UNLINK of REDIS_PATTERNS).',
  destroys: 'redis',
  async run(ctx) {
    const { config, options } = ctx
    return withRedis(ctx, async (kv) => {
      const before = await kv.dbsize()
      out.info(`before: ${before} keys in db ${config.redisDb} (${kv.via})`)
      if (options.backup) await backupKeys(ctx, kv, config.redisMode === 'patterns' ? config.redisPatterns : ['*'])
      const t0 = Date.now()

      if (config.redisMode === 'patterns') {
        const removed = await kv.deleteByPatterns(config.redisPatterns)
        const count = Object.values(removed).reduce((a, b) => a + b, 0)
        if (options.dryRun) return { keys: count }
        const left = Object.entries(await kv.countByPatterns(config.redisPatterns)).filter(([, n]) => n > 0)
        if (left.length) throw new Error(`keys still match after deletion: ${left.map(([p, n]) => `${p}=${n}`).join(', ')} (written meanwhile?)`)
        out.ok(`${count} keys removed in ${seconds(Date.now() - t0)}: ${Object.entries(removed).map(([p, n]) => `${p}=${n}`).join(' ')}`)
        return { keys: count }
      }

      await kv.flush(config.redisMode)
      if (options.dryRun) return { keys: before }
      const after = await kv.dbsize()
      if (after !== 0) throw new Error(`${after} keys left in db ${config.redisDb} after ${config.redisMode.toUpperCase()}`)
      out.ok(`${config.redisMode.toUpperCase()} ASYNC in ${seconds(Date.now() - t0)}: ${before} -> 0 keys`)
      return { keys: before }
    })
  },
})
