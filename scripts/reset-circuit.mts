#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// reset-circuit: delete the circuit-breaker keys (SCAN + UNLINK by pattern, in batches), or --all: FLUSHDB of the app's
// db.
import { GLOBAL_BREAKER, globMatch } from '../lib/app/circuit.ts'
import { definePhase } from '../lib/run/cli.ts'
import { out } from '../lib/util/output.ts'
import flushRedis from './flush-redis.mts'

export default definePhase(import.meta, 'reset-circuit', {
  title: 'reset the circuit-breaker state in Redis',
  purpose:
    'Delete the keys matching CIRCUIT_PATTERNS (circuit_breaker:* also covers the planned circuit_breaker:global) ' +
    "with SCAN + UNLINK in batches of 1000; --all empties the app's Redis db (FLUSHDB).",
  flags: [['--all', "FLUSHDB ASYNC of the app's Redis db (REDIS_DB): every key, not only the circuit breaker's"]],
  settings: ['CIRCUIT_PATTERNS'],
  // flush-redis does the work, planned like it: by pattern with CIRCUIT_PATTERNS, or FLUSHDB with --all.
  configure: (config, options) => ({
    ...config,
    redis: options.flags.all
      ? { ...config.redis, mode: 'flushdb' }
      : { ...config.redis, mode: 'patterns', patterns: config.recovery.circuitPatterns },
  }),
  async run(ctx) {
    const { redis } = ctx.config
    if (redis.mode === 'patterns') {
      const covering = redis.patterns.find((p) => globMatch(p, GLOBAL_BREAKER))
      if (covering) out.info(`${GLOBAL_BREAKER}, the planned single global breaker, is covered by ${covering}`)
      else
        out.warn(
          `${GLOBAL_BREAKER} (the planned single global breaker) matches none of ${redis.patterns.join(', ')}: it is ` +
            `kept`,
        )
    }
    return flushRedis.run(ctx)
  },
})
