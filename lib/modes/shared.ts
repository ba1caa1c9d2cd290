// What every mode does the same way: where the containers came from, the services a plan holds,
// stopping held workers and starting them again.
import type { Reach } from '../access/reach.ts'
import type { Instance } from '../targets/target.ts'
import { out, seconds } from '../util/output.ts'
import type { HeldAs, HeldInstance, ModeRun } from './mode.ts'

/** "created from /path" (Compose's labels), else the target itself. */
export function originOf(r: Reach, all: Instance[]): string {
  const origins = [...new Set(all.map((i) => i.origin?.workingDir).filter(Boolean))]
  return origins.length ? `created from ${origins.join(', ')}` : r.target.describe()
}

/** Services that have an instance not left stopped. */
export const runningServices = (all: Instance[]) => [
  ...new Set(all.filter((i) => i.readiness !== 'stopped').map((i) => i.service)),
]

/** The services of held instances (held in that way). */
export const servicesOf = (held: HeldInstance[], as?: HeldAs) => [
  ...new Set(held.filter((h) => !as || h.as === as).map((h) => h.service)),
]

/** The instances of the services to hold, held as `as` says for each service. */
export const heldInstances = (all: Instance[], holds: string[], as: (service: string) => HeldAs): HeldInstance[] =>
  all.filter((i) => holds.includes(i.service)).map((i) => ({ name: i.name, service: i.service, as: as(i.service) }))

/** Stops the services' running instances: no task can reach the database until Redis is cleared. */
export async function stopHeld(r: ModeRun, services: string[]): Promise<void> {
  const running = (await r.target.instances()).filter((i) => services.includes(i.service) && i.state === 'running')
  if (!running.length) return
  const t0 = Date.now()
  await r.target.stop(services)
  r.record.changed(`stopped ${services.join(', ')}`)
  const what = `${services.join(', ')} stopped (${running.length} instances) in ${seconds(Date.now() - t0)}`
  out.ok(`${what}: no queued task can reach the database until Redis is cleared`)
}

/** Brings held services back (`bring` starts or recreates them) and waits until they are ready. */
export async function bringBack(r: ModeRun, services: string[], bring: () => Promise<unknown>): Promise<string> {
  const t0 = Date.now()
  await bring()
  r.record.changed(`started ${services.join(', ')} again`)
  const ready = await r.target.waitReady({ services, since: t0 })
  return `${services.join(', ')} started: ${ready.length} instances ready after ${seconds(Date.now() - t0)}`
}
