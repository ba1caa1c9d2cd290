#!/usr/bin/env -S node --import tsx
// restart: restart the project's containers (restart, recreate or rebuild), all or the SERVICES
// named, and wait until every one is ready, with one deadline. When the run goes on to clear Redis,
// the worker services are stopped instead, and started once the broker is empty (flush-redis).
import { definePhase } from '../lib/run/cli.ts'
import { servicesToRestart } from '../lib/safety/plan.ts'
import { heldByPlan, holdWorkers } from '../lib/safety/workers.ts'
import { out, seconds } from '../lib/util/output.ts'

export default definePhase(import.meta, 'restart', {
  async run(ctx) {
    const { config, target } = ctx
    const held = heldByPlan(ctx)
    // The services as they are now (while a rollout replaces pods, some have none for a moment);
    // a container left stopped (not required: assess left it alone) stays stopped.
    const listing = await target.instances()
    const all = [...new Set(listing.filter((i) => i.readiness !== 'stopped').map((i) => i.service))]
    const named = await servicesToRestart(config, target, listing)
    const t0 = Date.now()
    // The rest restart together; the held workers stop beside them.
    const nothingLeft = named.length > 0 && named.every((s) => held.includes(s))
    const [command] = await Promise.all([nothingLeft ? Promise.resolve('no service left to restart') : target.restart(named, config.restart.mode, held), holdWorkers(ctx)])
    if (ctx.dryRun) return { mode: config.restart.mode }
    out.ok(`${command}: ${seconds(Date.now() - t0)}`)
    const ready = await target.waitReady({ services: held.length ? all.filter((s) => !held.includes(s)) : undefined, since: t0 })
    const readyMs = Date.now() - t0
    out.ok(`${ready.length} containers ready after ${seconds(readyMs)}${held.length ? ` (${held.join(', ')} held stopped until Redis is cleared)` : ''}`)
    return { mode: config.restart.mode, services: named.join(',') || 'all', containers: ready.length, readySeconds: Number((readyMs / 1000).toFixed(1)) }
  },
})
