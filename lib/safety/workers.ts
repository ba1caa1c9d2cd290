// The worker services held stopped while the database and Redis are emptied: a task message left
// in the broker (an interrupted test, a retry with a countdown) can then never write into the
// freshly truncated database. The first destructive phase that needs it stops them; flush-redis,
// once the broker is empty, starts them and waits until they are ready.
import type { Ctx } from '../run/context.ts'
import { out, seconds } from '../util/output.ts'

/** The services the plan holds. */
export const heldByPlan = (ctx: Ctx): string[] => [...new Set(ctx.plan?.held.map((i) => i.service) ?? [])]

/** Stops the held services (once per run; the record remembers across an interruption). */
export async function holdWorkers(ctx: Ctx): Promise<string[]> {
  const services = heldByPlan(ctx)
  if (services.length === 0) return []
  if (ctx.options.dryRun) {
    if (!ctx.record.held?.length) out.info(`[dry-run] would stop ${services.join(', ')} until Redis is cleared`)
    ctx.record.held = services // a dry run keeps no record, but says it once
    return services
  }
  const running = (await ctx.target.instances()).filter((i) => services.includes(i.service) && i.state === 'running')
  ctx.record.held = services
  ctx.saveRecord()
  if (running.length) {
    const t0 = Date.now()
    await ctx.target.stop(services)
    out.ok(`${services.join(', ')} stopped (${running.length} instances) in ${seconds(Date.now() - t0)}: no queued task can reach the database until Redis is cleared`)
  }
  return services
}

/** Starts the held services again (restarted, or recreated as the restart mode says) and waits until they are ready. */
export async function releaseWorkers(ctx: Ctx): Promise<number> {
  const services = ctx.record.held ?? []
  if (services.length === 0) return 0
  if (ctx.options.dryRun) {
    out.info(`[dry-run] would start ${services.join(', ')} and wait until ready`)
    ctx.record.held = undefined
    return 0
  }
  const t0 = Date.now()
  const mode = ctx.phases.includes('restart') ? ctx.config.restartMode : 'restart'
  if (mode === 'restart') await ctx.target.start(services)
  else await ctx.target.restart(services, mode)
  const ready = await ctx.target.waitReady({ services })
  ctx.record.held = undefined
  ctx.saveRecord()
  out.ok(`${services.join(', ')} started: ${ready.length} instances ready after ${seconds(Date.now() - t0)}`)
  return ready.length
}
