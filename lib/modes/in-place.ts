// The in-place mode: what need not restart stays up, and the state afterwards is what a restart
// leaves. A service restarts only when a restart would change what it runs: a file under its bind
// mounts written after its process started (lib/modes/drift.ts), migrations behind the scripts
// (the api runs them when it starts), Compose would recreate it (its image or configuration
// changed), or one of its database sessions holds a lock on the tables (ending it alone would
// leave a dead connection in its pool). Everything else stays: stray processes stop, other
// clients' sessions on the tables end, the Celery workers are paused without being touched
// (lib/app/celery.ts), and after the flush the state is proven from the servers themselves.
import { countRows, endSessions, reachOf, resolveTables, sessionsOn, type Session } from '../access/catalog.ts'
import { withDatabase, type Database } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import {
  brokerState,
  CONTROLLER_TAG,
  giveBack,
  surveyOf,
  quiesce,
  startController,
  workersIn,
  type Consumed,
  type Controller,
  type Queue,
} from '../app/celery.ts'
import { migrationsBehind } from '../app/migrations.ts'
import { requestApi, straysOf } from '../targets/instances.ts'
import type { Instance, ProcessTable } from '../targets/target.ts'
import { out, seconds } from '../util/output.ts'
import { codeChanges } from './drift.ts'
import type { Figures, ModeRun, PausedWorker, PlannedContainers, RestartMode } from './mode.ts'
import { bringBack, heldInstances, originOf, runningServices, servicesOf, stopHeld } from './shared.ts'
import { proofOf } from './proof.ts'
import { reconnects } from './reconnects.ts'

type Change = PlannedContainers['changed'][number]

/** One reason a service, the first found; recreated when any reason asks for it. */
function merged(changes: Change[]): Change[] {
  const by = new Map<string, Change>()
  for (const c of changes) {
    const had = by.get(c.service)
    by.set(c.service, had ? { ...had, recreate: had.recreate || c.recreate } : c)
  }
  return [...by.values()]
}

/** Services SERVICES names: in place, restarted besides what changed. */
const named = (r: Reach) =>
  r.config.restart.services.length ? r.target.servicesFor(r.config.restart.services) : Promise.resolve([])

/** Sessions holding locks on the tables the reset empties (none when a table is missing: the database part says so). */
async function lockingSessions(r: Reach): Promise<Session[]> {
  return withDatabase(r, async (db) => {
    const tables = await resolveTables(db, r.config.database.tables).catch(() => null)
    if (!tables) return []
    return sessionsOn(
      db,
      [...tables, ...(await reachOf(db, tables))].map((t) => t.oid),
    )
  })
}

export class InPlace implements RestartMode {
  readonly name = 'in-place' as const
  private planned: PlannedContainers | null = null
  /** Each paused worker's queues, read from the workers before the first pause. */
  private before: Consumed | null = null
  private revoked: string[] = []
  /** Messages this run set aside: they wait in the broker until the flush (or go back). */
  private setAside = 0

  problems(): string[] {
    return []
  }

  async plan(r: Reach, holds: string[]): Promise<PlannedContainers> {
    const { config, target } = r
    const all = await target.instances()
    const running = runningServices(all)
    const app = [config.services.api, ...config.workerServices].filter((s) => running.includes(s))
    if (holds.length) void startController(this.controller(r, holds)).catch(() => {}) // Python imports Celery meanwhile
    const [drifted, tables, migrations, sessions] = await Promise.all([
      target.drift(running),
      Promise.all(app.map((s) => target.processes(s))).then((t) => t.flat()),
      running.includes(config.services.api) ? migrationsBehind(r) : null,
      lockingSessions(r),
    ])
    const owner = (s: Session) =>
      all.find((i) => s.addr !== null && i.addresses.includes(s.addr) && app.includes(i.service))
    const workers = await this.survey(
      r,
      tables.filter((t) => holds.includes(t.instance.service)),
      holds,
    )
    const changed = merged([
      ...drifted.map((d) => ({ ...d, recreate: true })),
      ...codeChanges(config, tables).map((c) => ({ ...c, recreate: false })),
      ...(migrations ? [{ service: config.services.api, why: migrations, recreate: false }] : []),
      ...sessions.filter(owner).map((s) => ({ service: owner(s)!.service, why: sessionWhy(s), recreate: false })),
      ...workers.filter((w) => w.why).map((w) => ({ service: w.service, why: w.why!, recreate: false })),
      ...(await named(r)).map((service) => ({ service, why: 'named in SERVICES', recreate: false })),
    ])
    const restarts = (s: string) => changed.some((c) => c.service === s)
    const held = heldInstances(all, holds, (s) => (restarts(s) ? 'stopped' : 'paused'))
    this.planned = {
      mode: this.name,
      origin: originOf(r, all),
      restart: all
        .filter((i) => restarts(i.service) && !holds.includes(i.service) && i.readiness !== 'stopped')
        .map(nameOf),
      changed,
      strays: tables.flatMap(straysIn),
      held,
      workers: workers.filter((w) => !restarts(w.service)).map(({ why: _, ...w }) => w),
      sessions: sessions.filter((s) => !owner(s)),
      wipesVolumes: false,
    }
    return this.planned
  }

  /**
   * The Celery workers of the held services, each with the queues it says it consumes; one that
   * consumes nothing (deaf since a broker reconnect) or does not answer needs its restart.
   */
  private async survey(
    r: Reach,
    tables: ProcessTable[],
    services: string[],
  ): Promise<(PausedWorker & { why?: string })[]> {
    const found = tables.flatMap(workersIn)
    const empty = tables.filter((t) => !found.some((w) => w.instance === t.instance.name)).map((t) => t.instance.name)
    if (empty.length) {
      throw new Error(
        `no Celery worker process in ${empty.join(', ')}: the in-place mode pauses Celery workers only. ` +
          'Leave that service out of WORKER_SERVICES, or use --restart-mode restart.',
      )
    }
    const [{ consumed, silent, scheduled }, reconnected] = await Promise.all([
      surveyOf(
        this.controller(r, services),
        found.map((w) => w.name),
        3,
      ),
      reconnects(r, tables),
    ])
    return found.map((w) => {
      const queues = (consumed[w.name] ?? []).map((q) => q.name)
      const why = restartReason(w, queues, {
        silent: silent.includes(w.name),
        reconnected: reconnected.get(w.instance),
        scheduled: scheduled[w.name],
      })
      return { ...w, queues, why }
    })
  }

  /** The Celery program runs in an instance of these services (the ones that stay up). */
  private controller(r: Reach, services: string[]): Controller {
    return { r, services }
  }

  lines(c: PlannedContainers): string[] {
    const restarted = c.restart.length ? `restarted: ${c.restart.map((i) => i.name).join(', ')}` : 'nothing restarted'
    const lines = [`containers, mode in-place (${c.origin}): ${restarted}`]
    const heldStopped = servicesOf(c.held, 'stopped')
    for (const x of c.changed) {
      const how = heldStopped.includes(x.service)
        ? 'held stopped and started after Redis is cleared'
        : x.recreate
          ? 'recreated'
          : 'restarted'
      lines.push(`  ${x.service} ${how}: ${x.why}`)
    }
    for (const s of c.strays) lines.push(`  stopped, not the service itself: ${s.instance} pid ${s.pid}: ${s.command}`)
    for (const s of c.sessions)
      lines.push(`  session ended before the truncation (it holds a lock on the tables): pid ${s.pid}, ${s.detail}`)
    if (c.workers.length)
      lines.push(`paused in place while the database and Redis are emptied: ${pausedLine(c.workers)}`)
    const stopped = c.held.filter((h) => h.as === 'stopped')
    if (stopped.length)
      lines.push(
        `held stopped while the database and Redis are emptied, then started: ${stopped.map((i) => i.name).join(', ')}`,
      )
    return lines
  }

  private need(): PlannedContainers {
    if (!this.planned) throw new Error('no plan for the containers: the gate did not run')
    return this.planned
  }

  async restart(r: ModeRun): Promise<Figures> {
    const planned = this.need()
    const t0 = Date.now()
    await this.stopStrays(r, planned.strays)
    const now = planned.changed.filter((c) => planned.restart.some((i) => i.service === c.service))
    for (const c of now) out.warn(`${c.service}: ${c.why}; ${c.recreate ? 'recreating' : 'restarting'} it`)
    const recreate = now.filter((c) => c.recreate).map((c) => c.service)
    const restart = now.filter((c) => !c.recreate).map((c) => c.service)
    const [recreated, restarted] = await Promise.all([
      recreate.length ? r.target.recreate(recreate) : '',
      restart.length ? r.target.restart(restart) : '',
      this.hold(r),
    ])
    if (r.dryRun) return { mode: this.name }
    for (const c of now) r.record.changed(`${c.recreate ? 'recreated' : 'restarted'} ${c.service}`)
    // Every running service, restarted or not: the stack must be ready for the phases after this one.
    const held = servicesOf(planned.held)
    const running = runningServices(await r.target.instances()).filter((s) => !held.includes(s))
    await r.target.waitReady({ services: running, since: t0 })
    const commands = [recreated, restarted].filter(Boolean).join(' & ')
    const what = now.length
      ? `restarted ${now.map((c) => c.service).join(', ')}, nothing else (${commands})`
      : 'nothing restarted'
    out.ok(`${what}: ${seconds(Date.now() - t0)}`)
    return { mode: this.name, restarted: now.map((c) => c.service).join(',') || 'none', strays: planned.strays.length }
  }

  private async stopStrays(r: ModeRun, strays: PlannedContainers['strays']): Promise<void> {
    if (!strays.length) return
    const list = strays.map((s) => `${s.instance} pid ${s.pid} (${s.command.slice(0, 60)})`).join(', ')
    if (r.dryRun) return out.info(`[dry-run] would stop ${list}`)
    const instances = await r.target.current()
    const by = (name: string) => instances.find((i) => i.name === name)
    await Promise.all(
      [...new Set(strays.map((s) => s.instance))].map((name) => {
        const instance = by(name)
        return (
          instance &&
          r.target.stopProcesses(
            instance,
            strays.filter((s) => s.instance === name),
          )
        )
      }),
    )
    r.record.changed(`stopped ${strays.length} stray processes`)
    out.ok(`stopped ${strays.length} processes that were not the service itself: ${list}`)
  }

  async hold(r: ModeRun): Promise<void> {
    const planned = this.planned
    if (!planned) return // the run holds no worker (it does not clear Redis)
    const stopped = servicesOf(planned.held, 'stopped')
    const paused = servicesOf(planned.held, 'paused')
    if (!stopped.length && !paused.length) return
    if (r.dryRun) {
      const what = [paused.length && `pause ${paused.join(', ')}`, stopped.length && `stop ${stopped.join(', ')}`]
      if (!r.record.held.length)
        out.info(`[dry-run] would ${what.filter(Boolean).join(' and ')} until Redis is cleared`)
      return r.record.hold([...stopped, ...paused])
    }
    r.record.hold([...stopped, ...paused])
    await Promise.all([stopHeld(r, stopped), paused.length ? this.pause(r, paused) : undefined])
  }

  /** Every worker of the services, read anew (one that appeared since the plan too), quiesced. */
  private async pause(r: ModeRun, services: string[]): Promise<void> {
    const t0 = Date.now()
    const names = (await this.workersNow(r, services)).map((w) => w.name)
    const c = this.controller(r, services)
    const { consumed, silent } = await surveyOf(c, names)
    if (silent.length)
      throw new Error(
        `no answer from the Celery worker${silent.length > 1 ? 's' : ''} ${silent.join(', ')} within 10 s`,
      )
    this.before = { ...consumed, ...this.before }
    const queues = [...new Set(Object.values(consumed).flatMap((qs) => qs.map((q) => q.name)))]
    const known = this.revoked.length
    const q = await quiesce(c, names, queues, this.revoked)
    this.revoked = q.revoked
    this.setAside += q.setAside
    const of = services.join(', ')
    if (q.setAside) r.record.changed(`set aside ${q.setAside} messages waiting for ${of}`)
    if (q.revoked.length > known) r.record.changed(`revoked ${q.revoked.length - known} tasks of ${of}`)
    const parts = [`${names.length} Celery workers paused in place (${queuesLine(consumed)}), none running`]
    if (q.setAside) parts.push(`${q.setAside} waiting messages set aside`)
    if (q.revoked.length > known) parts.push(`${q.revoked.length - known} tasks revoked`)
    if (q.scheduled) parts.push(`${q.scheduled} scheduled for later, which Celery discards at their due time`)
    out.ok(`${services.join(', ')}: ${parts.join(', ')}, in ${seconds(Date.now() - t0)}`)
  }

  /** The planned workers still running, and those of instances that appeared since the plan. */
  private async workersNow(r: ModeRun, services: string[]): Promise<{ name: string }[]> {
    const planned = this.need().workers
    const now = (await r.target.instances()).filter((i) => services.includes(i.service) && i.state === 'running')
    const fresh = now.filter((i) => !planned.some((w) => w.instance === i.name))
    const known = planned.filter((w) => now.some((i) => i.name === w.instance))
    if (!fresh.length) return known
    const tables = (
      await Promise.all([...new Set(fresh.map((i) => i.service))].map((s) => r.target.processes(s)))
    ).flat()
    const added = tables.filter((t) => fresh.some((i) => i.name === t.instance.name)).flatMap(workersIn)
    out.warn(
      `${fresh.map((i) => i.name).join(', ')} appeared since the plan: ${added.length} Celery workers there are ` +
        `paused too`,
    )
    return [...known, ...added]
  }

  async beforeTruncate(r: ModeRun, db: Database, oids: number[]): Promise<void> {
    const sessions = await sessionsOn(db, oids)
    if (!sessions.length) return
    const list = sessions.map((s) => `pid ${s.pid} (${s.detail})`).join('; ')
    if (r.dryRun)
      return out.info(`[dry-run] would end ${sessions.length} sessions holding locks on the tables: ${list}`)
    const ended = await endSessions(
      db,
      sessions.map((s) => s.pid),
    )
    r.record.changed(`ended ${ended} database sessions holding locks on the tables`)
    out.ok(
      `ended ${ended} sessions holding locks on the tables (a restart would have ended them, or waited for them): ` +
        `${list}`,
    )
  }

  async release(r: ModeRun): Promise<string | null> {
    const planned = this.planned
    if (!planned?.held.length) return null
    const stopped = servicesOf(planned.held, 'stopped')
    const queues = Object.values(this.before ?? {}).flat()
    if (r.dryRun) {
      r.record.released()
      return `[dry-run] would put back what was set aside${stopped.length ? ` and start ${stopped.join(', ')}` : ''}`
    }
    const lines: string[] = []
    if (stopped.length) lines.push(await bringBack(r, stopped, () => this.bring(r, stopped)))
    if (queues.length) {
      const back = await giveBack(this.controller(r, servicesOf(planned.held, 'paused')), uniqueQueues(queues))
      if (back) r.record.changed(`put back ${back} set-aside messages`)
      lines.push(
        `${servicesOf(planned.held, 'paused').join(', ')}: consuming as ` +
          `before${back ? `; ${back} set-aside messages put back in their queues` : ''}`,
      )
    }
    r.record.released()
    return lines.join('; ') || null
  }

  /** Starts the services held stopped; those whose configuration changed are recreated. */
  private async bring(r: ModeRun, services: string[]): Promise<void> {
    const recreate = this.need()
      .changed.filter((c) => c.recreate && services.includes(c.service))
      .map((c) => c.service)
    const start = services.filter((s) => !recreate.includes(s))
    await Promise.all([recreate.length && r.target.recreate(recreate), start.length && r.target.start(start)])
  }

  async prove(r: ModeRun, tables: string[]): Promise<string | null> {
    const planned = this.planned
    if (!planned?.held.length) return null // nothing was paused: the run did not clear the broker
    const services = servicesOf(planned.held)
    const workers = (await Promise.all(services.map((s) => r.target.processes(s)))).flat().flatMap(workersIn)
    const queues = [
      ...new Set(
        Object.values(this.before ?? {})
          .flat()
          .map((q) => q.name),
      ),
    ]
    const { config, target } = r
    const [state, rows, api] = await Promise.all([
      workers.length
        ? brokerState(
            this.controller(r, services),
            workers.map((w) => w.name),
            queues,
            this.revoked,
          )
        : null,
      tables.length ? withDatabase(r, (db) => countRows(db, tables)) : {},
      config.apiHealthPath ? requestApi(target, config.services.api, config.apiPort, config.apiHealthPath) : null,
    ])
    return proofOf({ before: this.before ?? {}, state, rows, api })
  }

  heldNote(r: ModeRun): string | null {
    const planned = this.planned
    if (!planned || !r.record.held.length) return null
    const stopped = servicesOf(planned.held, 'stopped')
    const paused = servicesOf(planned.held, 'paused')
    const parts = [
      ...(this.setAside
        ? [`${this.setAside} messages for ${paused.join(', ')} wait set aside (reset-and-test:held:*)`]
        : []),
      ...(stopped.length ? [`${stopped.join(', ')} ${stopped.length > 1 ? 'are' : 'is'} held stopped`] : []),
    ]
    if (!parts.length) return null // paused workers consume as always: nothing waits
    return `${parts.join('; ')} until flush-redis runs (--resume runs it; ./scripts/assess.mts starts what is stopped).`
  }
}

const nameOf = (i: Instance) => ({ name: i.name, service: i.service })

/** The strays of an instance; the suite's own Celery program (started while the plan is made) is not one. */
const straysIn = (t: ProcessTable) =>
  straysOf(t)
    .filter((p) => !p.argv.includes(CONTROLLER_TAG))
    .map((p) => ({
      pid: p.pid,
      hostPid: p.hostPid,
      instance: t.instance.name,
      service: t.instance.service,
      command: p.argv.join(' ').replace(/\s+/g, ' ').slice(0, 200),
    }))

const sessionWhy = (s: Session) =>
  `its database session pid ${s.pid} holds a lock on the tables (${s.detail}); ending it alone would leave a dead ` +
  `connection in its pool`

const uniqueQueues = (queues: Queue[]) => [
  ...new Map(queues.map((q) => [`${q.exchange}|${q.key}|${q.name}`, q])).values(),
]

/** "celery ×8, email ×1": how many workers consume each queue, by name (the workers answer in any order). */
export function queuesLine(consumed: Consumed): string {
  const count = new Map<string, number>()
  for (const qs of Object.values(consumed)) for (const q of qs) count.set(q.name, (count.get(q.name) ?? 0) + 1)
  const names = [...count.keys()].sort()
  return names.map((q) => `${q} ×${count.get(q)}`).join(', ') || 'no queue'
}

/** "8 Celery workers of worker, 1 of worker-email (celery, email): ..." */
function pausedLine(workers: PausedWorker[]): string {
  const by = new Map<string, number>()
  for (const w of workers) by.set(w.service, (by.get(w.service) ?? 0) + 1)
  const counts = [...by].map(([s, n], i) => (i === 0 ? `${n} Celery workers of ${s}` : `${n} of ${s}`)).join(', ')
  const queues = [...new Set(workers.flatMap((w) => w.queues))].join(', ')
  return (
    `${counts} (queues ${queues}): the messages waiting in their queues set aside, their tasks revoked (running ` +
    `ones killed); what they consume is not touched`
  )
}

/** Why a worker cannot be paused in place and needs its restart; undefined when it can be paused. */
function restartReason(
  w: { name: string; instance: string },
  queues: string[],
  seen: { silent: boolean; reconnected?: string; scheduled?: number },
): string | undefined {
  if (seen.silent) return `${w.name} does not answer Celery's remote control within 3 s`
  if (seen.reconnected)
    return (
      `${w.instance} retried or lost its broker connection since it started (its log: "${seen.reconnected}"); ` +
      'kombu < 5.4 can leave a worker deaf after that (celery#8030), and a restart makes it consume again'
    )
  if (!queues.length)
    return `${w.name} consumes no queue (deaf since a broker reconnect?); a restart makes it consume again`
  if (seen.scheduled)
    return (
      `${w.name} holds ${seen.scheduled} tasks scheduled for later (a countdown); only a restart discards them ` +
      'without a trace'
    )
  return undefined
}
