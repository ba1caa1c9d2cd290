#!/usr/bin/env -S node --import tsx
// check-circuit: the circuit-breaker state of every service (read-only); exit 7 when one is open or its queue paused.
import { definePhase } from '../lib/run/cli.ts'
import { breakerStates, breakerTable, tripped } from '../lib/app/circuit.ts'
import { out } from '../lib/util/output.ts'
import { CheckFailed, CODE } from '../lib/run/args.ts'
import { withRedis } from '../lib/access/redis.ts'

export default definePhase(import.meta, {
  name: 'check-circuit',
  title: 'check the circuit breakers',
  exitCode: CODE.redis,
  purpose:
    'Show state, opened at, failure count and queue of each CIRCUIT_SERVICES breaker (and circuit_breaker:global when present). Exit 7 when any is open, half_open or unreadable, or a queue is paused.',
  flags: [['--circuit-services LIST', 'services to check (CIRCUIT_SERVICES)']],
  destroys: null,
  async run(ctx) {
    return withRedis(ctx, async (kv) => {
      const breakers = await breakerStates(ctx.config.circuitServices, kv)
      out.line(breakerTable(breakers).replace(/^/gm, '    '))
      const bad = breakers.filter(tripped)
      const figures = { breakers: breakers.length, open: breakers.filter((b) => b.state !== 'closed' && b.state !== 'closed (no key)').length, paused: breakers.filter((b) => b.paused).length }
      if (bad.length) throw new CheckFailed(`${bad.length} of ${breakers.length} breakers not closed and running: ${bad.map((b) => `${b.name} ${b.state}${b.paused ? ', queue paused' : ''}`).join('; ')}`)
      out.ok(`all ${breakers.length} breakers closed, no queue paused (${kv.via})`)
      return figures
    })
  },
})
