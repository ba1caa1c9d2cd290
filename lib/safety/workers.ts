// The worker services held while the database and Redis are emptied: a task message left in the
// broker (an interrupted test, a retry with a countdown) can then never write into the freshly
// truncated database. In the restart modes they are stopped and started again; in-place they stay
// up and pause (stop consuming, every task revoked) and consume again. The first destructive phase
// that needs it holds them; flush-redis, once the broker is empty, lets them go.
import type { Reach } from '../access/reach.ts'
import { pauseWorkers, resumeWorkers } from '../app/celery.ts'
import { out, seconds } from '../util/output.ts'
import type { DestructionPlan } from './plan.ts'

export type HeldHow = 'stopped' | 'paused'

/** What holding needs of the run: how to reach the stack, the plan, and the record that survives an interruption. */
export interface Holding extends Reach {
  plan: DestructionPlan | null
  record: { readonly held: string[]; readonly heldHow: HeldHow; hold(services: string[], how: HeldHow): void; released(): void }
}

/** The services the plan holds. */
export const heldByPlan = (h: Pick<Holding, 'plan'>): string[] => [...new Set(h.plan?.held.map((i) => i.service) ?? [])]

const howFor = (h: Holding): HeldHow => (h.config.restart.mode === 'in-place' ? 'paused' : 'stopped')

/** Holds the services (once per run; the record remembers across an interruption). */
export async function holdWorkers(h: Holding): Promise<string[]> {
  const services = heldByPlan(h)
  if (services.length === 0) return []
  const how = howFor(h)
  if (h.record.held.length && h.record.heldHow === how && services.every((s) => h.record.held.includes(s))) return services // held already
  if (h.dryRun) {
    if (!h.record.held.length) out.info(`[dry-run] would ${how === 'paused' ? 'pause' : 'stop'} ${services.join(', ')} until Redis is cleared`)
    h.record.hold(services, how) // a dry run keeps no record, but says it once
    return services
  }
  const running = (await h.target.instances()).filter((i) => services.includes(i.service) && i.state === 'running')
  h.record.hold(services, how)
  const t0 = Date.now()
  if (how === 'paused') {
    for (const service of services) {
      const r = await pauseWorkers(h, { service, count: running.filter((i) => i.service === service).length })
      out.ok(`${service}: ${r.workers} workers stopped consuming ${h.config.celery.queues.join(', ')}${r.revoked.length ? `, ${r.revoked.length} tasks revoked` : ''}, none running, in ${seconds(Date.now() - t0)}`)
    }
  } else if (running.length) {
    await h.target.stop(services)
    out.ok(`${services.join(', ')} stopped (${running.length} instances) in ${seconds(Date.now() - t0)}: no queued task can reach the database until Redis is cleared`)
  }
  return services
}

/** Lets the held services go: they consume again (in-place), or start again as the restart mode says; waits until ready. */
export async function releaseWorkers(h: Holding): Promise<number> {
  const services = h.record.held
  if (services.length === 0) return 0
  const paused = h.record.heldHow === 'paused'
  if (h.dryRun) {
    out.info(`[dry-run] would ${paused ? 'let' : 'start'} ${services.join(', ')} ${paused ? 'consume again' : 'and wait until ready'}`)
    h.record.released()
    return 0
  }
  const t0 = Date.now()
  const count = paused ? await resume(h, services) : await restartHeld(h, services, t0)
  h.record.released()
  out.ok(`${services.join(', ')} ${paused ? 'consuming again' : 'started'}: ${count} instances ready after ${seconds(Date.now() - t0)}`)
  return count
}

async function resume(h: Holding, services: string[]): Promise<number> {
  const instances = await h.target.instances()
  let count = 0
  for (const service of services) count += (await resumeWorkers(h, { service, count: instances.filter((i) => i.service === service && i.state === 'running').length })).consuming
  return count
}

async function restartHeld(h: Holding, services: string[], since: number): Promise<number> {
  const mode = h.config.restart.mode
  if (mode === 'recreate' || mode === 'rebuild') await h.target.restart(services, mode)
  else await h.target.start(services)
  return (await h.target.waitReady({ services, since })).length
}
