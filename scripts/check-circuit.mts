#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// check-circuit: the circuit-breaker state of every service (read-only); exit 7 when one is open or its queue paused.
import { withRedis } from '../lib/access/redis.ts'
import { breakerStates, breakerTable, tripped } from '../lib/app/circuit.ts'
import { definePhase } from '../lib/run/cli.ts'
import { CheckFailed } from '../lib/util/errors.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'check-circuit', {
  title: 'check the circuit breakers',
  purpose:
    'Show state, opened at, failure count and queue of each CIRCUIT_SERVICES breaker (and circuit_breaker:global ' +
    'when present). Exit 7 when any is open, half_open or unreadable, or a queue is paused.',
  settings: ['CIRCUIT_SERVICES'],
  async run(ctx) {
    return withRedis(ctx, async (kv) => {
      const breakers = await breakerStates(ctx.config.recovery.circuitServices, kv)
      out.line(breakerTable(breakers).replace(/^/gm, '    '))
      const bad = breakers.filter(tripped)
      const figures = {
        breakers: breakers.length,
        open: breakers.filter((b) => b.state !== 'closed' && b.state !== 'closed (no key)').length,
        paused: breakers.filter((b) => b.paused).length,
      }
      if (bad.length)
        throw new CheckFailed(
          `${bad.length} of ${breakers.length} breakers not closed and running: ` +
            `${bad.map((b) => `${b.name} ${b.state}${b.paused ? ', queue paused' : ''}`).join('; ')}`,
        )
      out.ok(`all ${breakers.length} breakers closed, no queue paused (${kv.via})`)
      return figures
    })
  },
})
