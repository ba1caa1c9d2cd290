#!/usr/bin/env -S node --import tsx
// restart: bring the containers to a clean start. restart (default): the api and the workers — an
// instance whose PID 1 ignores its stop signal is killed at once instead of after the grace period
// — then wait until ready; in-place: nothing restarts but what drifted from its configuration,
// stray processes stop, the workers pause; recreate and rebuild as they say. When the run goes on
// to clear Redis, the workers are held instead (stopped, or paused in place) until it is empty.
import { definePhase } from '../lib/run/cli.ts'
import type { Ctx } from '../lib/run/context.ts'
import { servicesToRestart } from '../lib/safety/plan.ts'
import { heldByPlan, holdWorkers } from '../lib/safety/workers.ts'
import { out, seconds } from '../lib/util/output.ts'

export default definePhase(import.meta, 'restart', {
  async run(ctx) {
    const { config, target } = ctx
    const mode = config.restart.mode
    if (mode === 'in-place') return inPlace(ctx)
    const held = heldByPlan(ctx)
    // The services as they are now (while a rollout replaces pods, some have none for a moment);
    // a container left stopped (not required: assess left it alone) stays stopped.
    const listing = await target.instances()
    const all = [...new Set(listing.filter((i) => i.readiness !== 'stopped').map((i) => i.service))]
    const named = await servicesToRestart(config, target, listing)
    const t0 = Date.now()
    // The rest restart together; the held workers stop beside them.
    const nothingLeft = named.length > 0 && named.every((s) => held.includes(s))
    const [command] = await Promise.all([nothingLeft ? Promise.resolve('no service left to restart') : target.restart(named, mode, held), holdWorkers(ctx)])
    if (ctx.dryRun) return { mode }
    out.ok(`${command}: ${seconds(Date.now() - t0)}`)
    // Every running service is waited for, not only the restarted ones: the stack must be ready
    // for the phases after this one (a database that turned unhealthy fails here, at once).
    const ready = await target.waitReady({ services: all.filter((s) => !held.includes(s)), since: t0 })
    const readyMs = Date.now() - t0
    out.ok(`${ready.length} containers ready after ${seconds(readyMs)}${held.length ? ` (${held.join(', ')} held stopped until Redis is cleared)` : ''}`)
    return { mode, services: named.join(',') || 'all', containers: ready.length, readySeconds: Number((readyMs / 1000).toFixed(1)) }
  },
})

/** In place: only what drifted is recreated, stray processes stop, the workers pause. */
async function inPlace(ctx: Ctx) {
  const { target } = ctx
  const planned = ctx.plan?.containers
  if (!planned) throw new Error('no plan for the containers: the gate did not run')
  const t0 = Date.now()
  const drifted = planned.drift.map((d) => d.service)
  if (drifted.length) {
    for (const d of planned.drift) out.warn(`${d.service}: ${d.why}; recreating it`)
    await target.restart(drifted, 'recreate')
    if (!ctx.dryRun) await target.waitReady({ services: drifted, since: t0 })
  }
  if (planned.strays.length && ctx.dryRun) out.info(`[dry-run] would stop ${planned.strays.map((s) => `${s.instance} pid ${s.pid}`).join(', ')}`)
  else if (planned.strays.length) {
    await target.stopStrays(planned.strays)
    out.ok(`stopped ${planned.strays.length} processes that were not the service itself: ${planned.strays.map((s) => `${s.instance} pid ${s.pid} (${s.command.slice(0, 60)})`).join(', ')}`)
  }
  await holdWorkers(ctx)
  if (!ctx.dryRun) out.ok(`nothing restarted${drifted.length ? ` but ${drifted.join(', ')}` : ''}: ${seconds(Date.now() - t0)}`)
  return { mode: 'in-place', recreated: drifted.join(',') || 'none', strays: planned.strays.length }
}
