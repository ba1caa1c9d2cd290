// The worker services held stopped while the database and Redis are emptied: a task message left
// in the broker (an interrupted test, a retry with a countdown) can then never write into the
// freshly truncated database. The first destructive phase that needs it stops them; flush-redis,
// once the broker is empty, starts them and waits until they are ready.
import type { RestartMode } from '../config/config.ts'
import type { Target } from '../targets/target.ts'
import { out, seconds } from '../util/output.ts'
import type { DestructionPlan } from './plan.ts'

/** What holding needs of the run: the target, the plan, and the record that survives an interruption. */
export interface Holding {
  target: Target
  dryRun: boolean
  plan: DestructionPlan | null
  record: { readonly held: string[]; hold(services: string[]): void; released(): void }
}

/** Whether a run of these phases holds the workers: it clears the broker, and empties something before that. */
export const holdsWorkers = (phases: string[]) => phases.includes('flush-redis') && phases.some((p) => ['restart', 'truncate-db', 'flush-redis'].includes(p))

/** The worker services a run of these phases holds stopped, of those present. */
export const heldServices = (phases: string[], workerServices: string[], present: string[]) => (holdsWorkers(phases) ? workerServices.filter((s) => present.includes(s)) : [])

/** The services the plan holds. */
export const heldByPlan = (h: Pick<Holding, 'plan'>): string[] => [...new Set(h.plan?.held.map((i) => i.service) ?? [])]

/** Stops the held services (once per run; the record remembers across an interruption). */
export async function holdWorkers(h: Holding): Promise<string[]> {
  const services = heldByPlan(h)
  if (services.length === 0) return []
  if (h.dryRun) {
    if (!h.record.held.length) out.info(`[dry-run] would stop ${services.join(', ')} until Redis is cleared`)
    h.record.hold(services) // a dry run keeps no record, but says it once
    return services
  }
  const running = (await h.target.instances()).filter((i) => services.includes(i.service) && i.state === 'running')
  h.record.hold(services)
  if (running.length) {
    const t0 = Date.now()
    await h.target.stop(services)
    out.ok(`${services.join(', ')} stopped (${running.length} instances) in ${seconds(Date.now() - t0)}: no queued task can reach the database until Redis is cleared`)
  }
  return services
}

/** Starts the held services again (restarted, or recreated as the restart mode says) and waits until they are ready. */
export async function releaseWorkers(h: Holding, mode: RestartMode): Promise<number> {
  const services = h.record.held
  if (services.length === 0) return 0
  if (h.dryRun) {
    out.info(`[dry-run] would start ${services.join(', ')} and wait until ready`)
    h.record.released()
    return 0
  }
  const t0 = Date.now()
  if (mode === 'restart') await h.target.start(services)
  else await h.target.restart(services, mode)
  const ready = await h.target.waitReady({ services, since: t0 })
  h.record.released()
  out.ok(`${services.join(', ')} started: ${ready.length} instances ready after ${seconds(Date.now() - t0)}`)
  return ready.length
}
