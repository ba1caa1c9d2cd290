#!/usr/bin/env -S node --import tsx
// reset-circuit: delete the circuit-breaker keys (SCAN + UNLINK by pattern, in batches), or --all: FLUSHDB of the app's db.
import { definePhase, type Ctx } from '../lib/main.ts'
import { GLOBAL_BREAKER, globMatch } from '../lib/circuit.ts'
import { out } from '../lib/output.ts'
import { CODE } from '../lib/recovery.ts'
import { withRedis } from '../lib/redis.ts'
import flushRedis from './flush-redis.mts'

/** flush-redis does the work: patterns mode with CIRCUIT_PATTERNS, or flushdb with --all. */
const asFlush = (ctx: Ctx): Ctx =>
  ctx.options.flags.all
    ? { ...ctx, config: { ...ctx.config, redisMode: 'flushdb' } }
    : { ...ctx, config: { ...ctx.config, redisMode: 'patterns', redisPatterns: ctx.config.circuitPatterns } }

export default definePhase(import.meta, {
  name: 'reset-circuit',
  title: 'reset the circuit-breaker state in Redis',
  exitCode: CODE.redis,
  purpose:
    'Delete the keys matching CIRCUIT_PATTERNS (default circuit_breaker:*, circuit_failures:*, queue_paused:*; circuit_breaker:* also covers the planned circuit_breaker:global) with SCAN + UNLINK in batches of 1000; --all empties the app\'s Redis db (FLUSHDB).',
  flags: [
    ['--circuit-patterns LIST', 'comma-separated SCAN patterns to delete (CIRCUIT_PATTERNS); * alone is refused'],
    ['--all', "FLUSHDB ASYNC of the app's Redis db (REDIS_DB): every key, not only the circuit breaker's"],
  ],
  booleans: ['all'],
  destroys: 'redis',
  async inventory(ctx) {
    return withRedis(ctx, async (kv) => {
      const { config } = asFlush(ctx)
      if (config.redisMode === 'flushdb') return [`redis via ${kv.via}: FLUSHDB of db ${config.redisDb}, all ${await kv.dbsize()} keys (not only the circuit breaker's)`]
      const counts = await kv.countByPatterns(config.redisPatterns)
      const total = Object.values(counts).reduce((a, b) => a + b, 0)
      return [`redis via ${kv.via}: ${total} keys in db ${config.redisDb} matching`, ...Object.entries(counts).map(([p, n]) => `  ${p}: ${n} key${n === 1 ? '' : 's'}`)]
    })
  },
  async run(ctx) {
    const flush = asFlush(ctx)
    const patterns = flush.config.redisPatterns
    if (flush.config.redisMode === 'patterns') {
      const covering = patterns.find((p) => globMatch(p, GLOBAL_BREAKER))
      if (covering) out.info(`${GLOBAL_BREAKER}, the planned single global breaker, is covered by ${covering}`)
      else out.warn(`${GLOBAL_BREAKER} (the planned single global breaker) matches none of ${patterns.join(', ')}: it is kept`)
    }
    return flushRedis.run(flush)
  },
})
