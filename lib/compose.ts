// The compose stack: which compose command to use (decided once), its command lines,
// and the project's containers, found by their compose labels (Compose v1 and v2 alike).
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import type { Config } from './config.ts'
import type { Ctx } from './main.ts'
import { progress } from './output.ts'
import { indent, type Runner, type RunOptions, type RunResult } from './run.ts'
import { allOf, waitFor, WaitError, type Probe } from './wait.ts'

export const PROJECT_LABEL = 'com.docker.compose.project'
export const SERVICE_LABEL = 'com.docker.compose.service'
const NUMBER_LABEL = 'com.docker.compose.container-number'
const ONEOFF_LABEL = 'com.docker.compose.oneoff'

export interface Container {
  id: string
  name: string
  service: string
  number: number
  /** created, running, restarting, exited, paused, dead */
  state: string
  /** healthy, unhealthy, starting; null when the service has no healthcheck */
  health: string | null
  exitCode: number
  healthLog: string[]
  restartPolicy: string
  /** "5432/tcp" -> host port, for published ports */
  ports: Record<string, number>
  /** The container's addresses on its networks */
  addresses: string[]
}

/** An executable of that name on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  return null
}

/**
 * `docker compose` (v2) when the plugin answers, else `docker-compose` (v1) when it is on PATH;
 * COMPOSE_CMD wins. v1 is found, not run: its Python start-up costs half a second.
 */
export async function detectCompose(run: Runner, override: string[] | null, which: (name: string) => string | null = onPath): Promise<string[]> {
  if (override) return override
  const v2 = await run(['docker', 'compose', 'version'], { allowFailure: true }).catch(() => null)
  if (v2 && v2.code === 0) return ['docker', 'compose']
  if (which('docker-compose')) return ['docker-compose']
  throw new Error(
    'no Docker Compose found: neither `docker compose` nor `docker-compose` answers. Install the compose plugin (v2) or docker-compose (v1), or set COMPOSE_CMD.',
  )
}

export function parseInspect(json: string): Container[] {
  const items = JSON.parse(json) as any[]
  return items
    .filter((c) => c.Config?.Labels?.[ONEOFF_LABEL] !== 'True')
    .map((c) => {
      const ports: Record<string, number> = {}
      for (const [port, bindings] of Object.entries((c.NetworkSettings?.Ports ?? {}) as Record<string, any[] | null>)) {
        const host = bindings?.find((b) => b.HostPort)?.HostPort
        if (host) ports[port] = Number(host)
      }
      return {
        id: c.Id.slice(0, 12),
        name: String(c.Name).replace(/^\//, ''),
        service: c.Config.Labels[SERVICE_LABEL],
        number: Number(c.Config.Labels[NUMBER_LABEL] ?? 1),
        state: c.State.Status,
        health: c.State.Health?.Status ?? null,
        exitCode: c.State.ExitCode,
        healthLog: (c.State.Health?.Log ?? []).map((l: any) => String(l.Output).trim()).filter(Boolean),
        restartPolicy: c.HostConfig?.RestartPolicy?.Name ?? '',
        ports,
        addresses: Object.values((c.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>)
          .map((n) => n.IPAddress ?? '')
          .filter(Boolean),
      }
    })
    .sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number)
}

/**
 * Is this container where it should be, can it still get there, or never? An exited container
 * counts as done only when it is a one-shot: exit code 0, not a required service, not restarted.
 */
export function readiness(c: Container, required: string[] = []): 'ready' | 'waiting' | 'failed' {
  if (c.state === 'exited' || c.state === 'dead') return c.exitCode === 0 && !required.includes(c.service) && c.restartPolicy !== 'always' ? 'ready' : 'failed'
  if (c.state !== 'running') return 'waiting'
  if (c.health === null || c.health === 'healthy') return 'ready'
  return c.health === 'unhealthy' ? 'failed' : 'waiting'
}

export function describe(c: Container): string {
  const health = c.health ? ` (${c.health})` : ''
  const exit = c.state === 'exited' ? ` with code ${c.exitCode}` : ''
  const service = c.name.includes(c.service) ? '' : ` (service ${c.service})`
  return `${c.name}${service}: ${c.state}${exit}${health}`
}

export class Compose {
  private cmd: string[] | undefined
  private detect: () => Promise<string[]>
  /** The last container listing; compose commands that change something drop it. */
  private snapshot: Container[] | undefined

  constructor(
    private run: Runner,
    cmd: string[] | (() => Promise<string[]>),
    private config: Pick<Config, 'composeFile' | 'project' | 'commandTimeoutMs'>,
  ) {
    if (Array.isArray(cmd)) this.cmd = cmd
    this.detect = Array.isArray(cmd) ? async () => cmd : cmd
  }

  /** The compose command, detected on first use: most work needs only `docker`, not compose. */
  async command(): Promise<string[]> {
    return (this.cmd ??= await this.detect())
  }

  /** The full command line for a compose subcommand of this project. */
  args(...rest: string[]): string[] {
    return [...(this.cmd ?? ['docker', 'compose']), '-f', this.config.composeFile, '-p', this.config.project, ...rest]
  }

  async compose(rest: string[], options: RunOptions = {}) {
    await this.command()
    if (options.mutates) this.snapshot = undefined
    return this.run(this.args(...rest), options)
  }

  /** Every container of the project, one-off `run` containers excluded. */
  async containers(): Promise<Container[]> {
    const ids = await this.run(['docker', 'ps', '-aq', '--filter', `label=${PROJECT_LABEL}=${this.config.project}`])
    const list = ids.stdout.split('\n').filter(Boolean)
    if (list.length === 0) return (this.snapshot = [])
    // A container can vanish between ps and inspect (recreate); inspect what is still there.
    const out = await this.run(['docker', 'inspect', ...list], { allowFailure: true })
    return (this.snapshot = parseInspect(out.stdout.trim() || '[]'))
  }

  /** The latest listing, taken now if there is none. */
  async current(): Promise<Container[]> {
    return this.snapshot ?? this.containers()
  }

  /** The first running container of a service, or an error saying how to start it. */
  async container(service: string, all?: Container[]): Promise<Container> {
    const found = (all ?? this.snapshot ?? (await this.containers())).filter((c) => c.service === service)
    const running = found.find((c) => c.state === 'running')
    if (running) return running
    const states = found.length ? found.map(describe).join(', ') : 'no container'
    this.snapshot = undefined
    throw new Error(
      `service ${service} of project ${this.config.project} is not running (${states}). Start it with ./scripts/assess.mts (starts missing services) or: ${this.args('up', '-d', service).join(' ')}`,
    )
  }

  /** `docker exec` in the service's container: faster than `compose exec` and the same for v1 and v2. */
  async exec(service: string, argv: string[], options: RunOptions & { tty?: boolean; interactive?: boolean; envNames?: string[] } = {}) {
    const c = await this.container(service)
    const flags = [...(options.interactive || options.input !== undefined ? ['-i'] : []), ...(options.tty ? ['-t'] : [])]
    for (const name of options.envNames ?? []) flags.push('-e', name)
    return this.run(['docker', 'exec', ...flags, c.id, ...argv], options)
  }

  /** Service names for a list of service or container names (v1 `p_api_1` and v2 `p-api-1` alike). */
  async servicesFor(names: string[]): Promise<string[]> {
    const all = await this.containers()
    const known = new Set(all.map((c) => c.service))
    const services = names.map((n) => (known.has(n) ? n : all.find((c) => c.name === n)?.service))
    const unknown = names.filter((_, i) => !services[i])
    if (unknown.length) throw new Error(`no service or container named ${unknown.join(', ')} in project ${this.config.project}; services are ${[...known].sort().join(', ')}`)
    return [...new Set(services as string[])]
  }

  /** The host port a service publishes for a container port, or null. */
  async publishedPort(service: string, port: number): Promise<number | null> {
    const c = await this.container(service)
    return c.ports[`${port}/tcp`] ?? null
  }

  /** Last lines of a service's container logs, for diagnostics. */
  async logTail(container: Container, lines = 20): Promise<string> {
    const out = await this.run(['docker', 'logs', '--tail', String(lines), container.id], { allowFailure: true, timeoutMs: 10_000 })
    return (out.stdout + out.stderr).trim()
  }
}

/** Every container of the project ready, and each required service present. */
export function containersReady(compose: Compose, project: string, required: string[], initial?: Container[]): Probe<Container[]> {
  let listing = initial // a listing just taken serves the first check
  return {
    what: `every container of ${project} to be healthy or running`,
    async check() {
      const all = listing ?? (await compose.containers())
      listing = undefined
      const missing = required.filter((s) => !all.some((c) => c.service === s))
      const failed = all.filter((c) => readiness(c, required) === 'failed')
      if (failed.length) return { ready: false, fatal: true, detail: failed.map(describe).join(', ') }
      const waiting = all.filter((c) => readiness(c, required) === 'waiting')
      if (missing.length === 0 && waiting.length === 0) return { ready: true, value: all }
      const parts = [...missing.map((s) => `${s}: no container`), ...waiting.map(describe)]
      const done = all.length - waiting.length
      return { ready: false, detail: `${done}/${all.length} ready; waiting for ${parts.join(', ')}` }
    },
  }
}

/** The api answers its health URL on its published port (skipped when none is published). */
export function apiAnswers(compose: Compose, service: string, healthPath: string): Probe<void> {
  return {
    what: `${service} to answer ${healthPath}`,
    async check() {
      const port = await compose.publishedPort(service, 8000).catch(() => null)
      if (port === null) return { ready: true, value: undefined }
      try {
        const res = await fetch(`http://127.0.0.1:${port}${healthPath}`, { signal: AbortSignal.timeout(2000) })
        return res.ok ? { ready: true, value: undefined } : { ready: false, detail: `HTTP ${res.status}` }
      } catch (e) {
        return { ready: false, detail: `no answer on port ${port} (${(e as Error).message})` }
      }
    },
  }
}

/**
 * Waits until every container of the project is healthy (with a healthcheck) or running (without),
 * every required service has a container, and the api answers. On failure the error names each
 * service that is not ready, with its health log and log tail.
 */
export async function waitUntilReady(ctx: Ctx, timeoutMs = ctx.config.readyTimeoutMs, initial?: Container[]): Promise<Container[]> {
  const { config } = ctx
  const compose = await ctx.compose()
  const probes: Probe<unknown>[] = [containersReady(compose, config.project, config.requiredServices, initial)]
  if (config.apiHealthPath && config.requiredServices.includes(config.services.api)) probes.push(apiAnswers(compose, config.services.api, config.apiHealthPath))
  try {
    await waitFor(allOf(`the ${config.project} stack to be ready`, probes), {
      timeoutMs,
      clock: ctx.clock,
      signal: ctx.signal,
      onProgress: progress('waiting for containers'),
    })
    return await compose.current()
  } catch (e) {
    if (!(e instanceof WaitError)) throw e
    const all = await compose.containers().catch(() => [] as Container[])
    const bad = all.filter((c) => readiness(c, config.requiredServices) !== 'ready')
    const lines = [e.message]
    for (const c of bad) {
      lines.push(`  ${describe(c)}`)
      if (c.healthLog.length) lines.push(`    last health check: ${c.healthLog[c.healthLog.length - 1].split('\n').slice(-3).join(' | ')}`)
      const tail = await compose.logTail(c, 10)
      if (tail) lines.push(indent(tail, '    | '))
    }
    throw new Error(lines.join('\n'))
  }
}

/**
 * Runs a command inside a container so that it can be stopped later: the shell records its pid
 * in a file ($0), then becomes the command ($1). Used as: sh -c TRACKED <pidfile> <command>.
 */
const TRACKED = 'echo $$ > "$0"; exec sh -c "$1"'

/** Stops a TRACKED process and its children inside the container: TERM, then KILL after 5 s. */
const STOP = `
p=$(cat "$0" 2>/dev/null) || { echo "no process recorded"; exit 0; }
tree() { echo "$1"; for s in /proc/[0-9]*/stat; do set -- "$1" $(cat "$s" 2>/dev/null); [ "$5" = "$1" ] && tree "$2"; done; }
pids=$(tree "$p")
kill -TERM $pids 2>/dev/null
i=0; while [ $i -lt 50 ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL $pids 2>/dev/null && echo "killed pid $p and its children" || echo "stopped pid $p and its children"
rm -f "$0"`

async function stopInContainer(ctx: Ctx, containerId: string, pidFile: string): Promise<string> {
  const res = await ctx.run(['docker', 'exec', containerId, 'sh', '-c', STOP, pidFile], { allowFailure: true, timeoutMs: 20_000 })
  return res.code === 0 ? res.stdout.trim() || 'stopped it in the container' : `could not stop it in the container: ${res.stderr.trim()}`
}

/**
 * Runs shell text in a service's container so that its deadline, or Ctrl-C, stops it inside the
 * container too, not only the local docker client. Never throws for the command's own exit
 * code: a timed-out result says in `stopped` what was killed; an interruption rethrows.
 */
export async function execTracked(
  ctx: Ctx,
  service: string,
  command: string,
  options: RunOptions & { tty?: boolean; envNames?: string[] } = {},
): Promise<RunResult & { stopped?: string }> {
  const compose = await ctx.compose()
  const container = await compose.container(service)
  const pidFile = `/tmp/reset-and-test-${process.pid}-${Date.now()}.pid`
  const res = await compose.exec(service, ['sh', '-c', TRACKED, pidFile, command], { ...options, allowFailure: true, signal: ctx.signal })
  if (res.timedOut || ctx.signal.aborted) {
    const stopped = await stopInContainer(ctx, container.id, pidFile)
    if (ctx.signal.aborted) throw ctx.signal.reason
    return { ...res, stopped }
  }
  await ctx.run(['docker', 'exec', container.id, 'rm', '-f', pidFile], { allowFailure: true })
  return res
}
