// What the modes that restart containers share (restart, recreate, rebuild): the restart phase
// restarts what the mode chooses while the held workers stop beside it; after Redis is cleared the
// workers come back (started, or recreated as the mode says). A restart vouches for the state, so
// there is nothing to prove.
import type { Database } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import type { Config } from '../config/config.ts'
import { out, seconds } from '../util/output.ts'
import type { Figures, ModeName, ModeRun, PlannedContainers, RestartMode } from './mode.ts'
import { bringBack, heldInstances, originOf, runningServices, servicesOf, stopHeld } from './shared.ts'

export abstract class Restarting implements RestartMode {
  abstract readonly name: ModeName
  /** The verb for the plan: "restarted", "recreated". */
  protected abstract readonly verb: string
  protected planned: PlannedContainers | null = null
  /** The services the restart phase names ([] = all). */
  protected services: string[] = []

  /** The services the mode restarts when SERVICES names none ([] = all). */
  protected abstract chosen(config: Config, running: string[]): string[]
  /** Restarts (or recreates) the services, the held ones left out; returns the commands. */
  protected abstract apply(r: Reach, services: string[], held: string[]): Promise<string>
  /** Brings the held services back as the mode says. */
  protected abstract restore(r: Reach, services: string[]): Promise<unknown>

  problems(_config: Config): string[] {
    return []
  }

  async plan(r: Reach, holds: string[]): Promise<PlannedContainers> {
    const { config, target } = r
    const all = await target.instances()
    const running = runningServices(all)
    this.services = config.restart.services.length
      ? await target.servicesFor(config.restart.services)
      : this.chosen(config, running)
    const named = (s: string) => this.services.length === 0 || this.services.includes(s)
    const restart = all.filter((i) => named(i.service) && !holds.includes(i.service) && i.readiness !== 'stopped')
    this.planned = {
      ...{ mode: this.name, origin: originOf(r, all), changed: [], strays: [], workers: [], sessions: [] },
      restart: restart.map((i) => ({ name: i.name, service: i.service })),
      held: heldInstances(all, holds, () => 'stopped'),
      wipesVolumes: this.wipes(),
    }
    return this.planned
  }

  /** Whether the mode removes the volumes. */
  protected wipes(): boolean {
    return false
  }

  lines(c: PlannedContainers): string[] {
    const names = c.restart.map((i) => i.name).join(', ') || 'none'
    const lines = [`containers, mode ${c.mode} (${c.origin}): ${c.restart.length} ${this.verb}: ${names}`]
    if (c.wipesVolumes)
      lines.push('  rebuild removes the volumes: every database of the stack is wiped, not only the tables below')
    if (c.held.length)
      lines.push(
        `held stopped while the database and Redis are emptied, then started: ${c.held.map((i) => i.name).join(', ')}`,
      )
    return lines
  }

  protected need(): PlannedContainers {
    if (!this.planned) throw new Error('no plan for the containers: the gate did not run')
    return this.planned
  }

  async restart(r: ModeRun): Promise<Figures> {
    const held = servicesOf(this.need().held)
    // The services as they are now; a container left stopped (not required: assess left it alone) stays stopped.
    const all = runningServices(await r.target.instances())
    const t0 = Date.now()
    const nothingLeft = this.services.length > 0 && this.services.every((s) => held.includes(s))
    const restarting = nothingLeft ? Promise.resolve('no service left to restart') : this.apply(r, this.services, held)
    const [command] = await Promise.all([restarting, this.hold(r)])
    if (r.dryRun) return { mode: this.name }
    const named = this.services.filter((s) => !held.includes(s)).join(', ') || 'every service'
    if (!nothingLeft) r.record.changed(`${this.verb} ${named} (${command})`)
    out.ok(`${command}: ${seconds(Date.now() - t0)}`)
    // Every running service is waited for, not only the restarted ones: the stack must be ready
    // for the phases after this one (a database that turned unhealthy fails here, at once).
    const ready = await r.target.waitReady({ services: all.filter((s) => !held.includes(s)), since: t0 })
    const readyMs = Date.now() - t0
    const note = held.length ? ` (${held.join(', ')} held stopped until Redis is cleared)` : ''
    out.ok(`${ready.length} containers ready after ${seconds(readyMs)}${note}`)
    const figures = { mode: this.name, services: this.services.join(',') || 'all', containers: ready.length }
    return { ...figures, readySeconds: Number((readyMs / 1000).toFixed(1)) }
  }

  async hold(r: ModeRun): Promise<void> {
    const services = servicesOf(this.planned?.held ?? [])
    if (!services.length) return
    if (r.dryRun) {
      if (!r.record.held.length) out.info(`[dry-run] would stop ${services.join(', ')} until Redis is cleared`)
      return r.record.hold(services) // a dry run keeps no record, but says it once
    }
    r.record.hold(services)
    await stopHeld(r, services)
  }

  async beforeTruncate(_r: ModeRun, _db: Database, _oids: number[]): Promise<void> {}

  async release(r: ModeRun): Promise<string | null> {
    const services = [...new Set([...servicesOf(this.planned?.held ?? []), ...r.record.held])]
    if (!services.length) return null
    if (r.dryRun) {
      r.record.released()
      return `[dry-run] would start ${services.join(', ')} and wait until ready`
    }
    const line = await bringBack(r, services, () => this.restore(r, services))
    r.record.released()
    return line
  }

  async prove(): Promise<string | null> {
    return null
  }

  heldNote(r: ModeRun): string | null {
    const held = r.record.held
    if (!held.length) return null
    const verb = held.length > 1 ? 'are' : 'is'
    return (
      `${held.join(', ')} ${verb} held stopped until flush-redis runs (--resume runs it; ./scripts/assess.mts ` +
      `starts them too).`
    )
  }
}
