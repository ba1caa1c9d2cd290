#!/usr/bin/env -S node --import tsx
// reset-circuit: delete the circuit-breaker keys (SCAN + UNLINK by pattern, in batches), or --all: FLUSHDB of the app's db.
import { definePhase } from '../lib/run/cli.ts'
import { GLOBAL_BREAKER, globMatch } from '../lib/app/circuit.ts'
import { out } from '../lib/util/output.ts'
import { CODE } from '../lib/run/args.ts'
import flushRedis from './flush-redis.mts'

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
  // flush-redis does the work, planned like it: by pattern with CIRCUIT_PATTERNS, or FLUSHDB with --all.
  configure: (config, flags) => (flags.all ? { ...config, redisMode: 'flushdb' } : { ...config, redisMode: 'patterns', redisPatterns: config.circuitPatterns }),
  async run(ctx) {
    const { config } = ctx
    if (config.redisMode === 'patterns') {
      const covering = config.redisPatterns.find((p) => globMatch(p, GLOBAL_BREAKER))
      if (covering) out.info(`${GLOBAL_BREAKER}, the planned single global breaker, is covered by ${covering}`)
      else out.warn(`${GLOBAL_BREAKER} (the planned single global breaker) matches none of ${config.redisPatterns.join(', ')}: it is kept`)
    }
    return flushRedis.run(ctx)
  },
})
