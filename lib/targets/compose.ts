// The Compose target: the project's containers, found by their compose labels (v1 and v2 alike)
// and refused when they were created from another directory; compose command lines built from
// the files and project name Compose itself would use; the log file on this machine.
import {
  accessSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  statSync,
  truncateSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { RefusedError } from '../util/errors.ts'
import { BaseTarget } from './base.ts'
import { waitForStack } from './instances.ts'
import { out, ticker } from '../util/output.ts'
import { matchingLines, type Runner, type RunOptions, type RunResult } from '../util/command.ts'
import type {
  Endpoint,
  ExecOptions,
  Instance,
  LogFile,
  Proc,
  ProcessTable,
  RecreateOptions,
  Target,
  WaitReadyOptions,
} from './target.ts'
import { hostProcessTable, stopHostProcesses } from './host-processes.ts'
import type { Clock } from '../util/wait.ts'

export const PROJECT_LABEL = 'com.docker.compose.project'
export const SERVICE_LABEL = 'com.docker.compose.service'
export const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir'
export const CONFIG_FILES_LABEL = 'com.docker.compose.project.config_files'
const NUMBER_LABEL = 'com.docker.compose.container-number'
const ONEOFF_LABEL = 'com.docker.compose.oneoff'

export interface ComposeSettings {
  /** The project directory: where the compose files and the app's .env are. */
  appDir: string
  /** The compose files Compose would load, in order (absolute). */
  composeFiles: string[]
  project: string
  /** COMPOSE_CMD as argv, or null to detect. */
  composeCmd: string[] | null
  commandTimeoutMs: number
  readyTimeoutMs: number
  requiredServices: string[]
  services: { api: string }
  apiHealthPath: string
  apiPort: number
  logFile: string
  /** Every service of the compose files. */
  allServices: string[]
  /** Hosts and endpoints the user declares theirs (SAFE_HOSTS): a Docker endpoint named here may be used. */
  safeHosts: string[]
  /** The files whose change changes what Compose would make (compose files, .env, env_file). */
  inputs: string[]
}

/** The local engine's socket: the only endpoint used without SAFE_HOSTS naming it. */
export const LOCAL_DOCKER = 'unix:///var/run/docker.sock'

/**
 * The Docker endpoint the docker CLI talks to: DOCKER_HOST, else the context (DOCKER_CONTEXT, else
 * the current one in ~/.docker/config.json) asked for its endpoint; the local socket for the default.
 */
export async function dockerEndpoint(run: Runner, env = process.env): Promise<string> {
  if (env.DOCKER_HOST) return env.DOCKER_HOST
  let context = env.DOCKER_CONTEXT
  if (!context) {
    try {
      context = JSON.parse(
        readFileSync(path.join(env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json'), 'utf8'),
      ).currentContext
    } catch {}
  }
  if (!context || context === 'default') return LOCAL_DOCKER
  const res = await run(['docker', 'context', 'inspect', context, '--format', '{{.Endpoints.docker.Host}}'], {
    allowFailure: true,
    timeoutMs: 15_000,
  })
  return res.code === 0
    ? res.stdout.trim()
    : `the docker context ${context} (${(res.stderr || res.stdout).trim().split('\n')[0]})`
}

/** Does SAFE_HOSTS name this endpoint (whole, host:port, or host)? */
export function namedSafe(endpoint: string, safeHosts: string[]): boolean {
  let hostPort = ''
  let host = ''
  try {
    const u = new URL(endpoint)
    hostPort = u.host
    host = u.hostname.replace(/^\[|\]$/g, '')
  } catch {}
  return safeHosts.some((h) => h === endpoint || (hostPort && h === hostPort) || (host && h === host))
}

/** A signal's number from its name (SIGTERM, TERM) or number ("15"); null when unknown. */
export function signalNumber(signal: string): number | null {
  if (/^\d+$/.test(signal)) return Number(signal)
  const name = signal.toUpperCase().replace(/^SIG/, '')
  const n = (os.constants.signals as Record<string, number>)[`SIG${name}`]
  return n ?? null
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
export async function detectCompose(
  run: Runner,
  override: string[] | null,
  which: (name: string) => string | null = onPath,
): Promise<string[]> {
  if (override) return override
  const v2 = await run(['docker', 'compose', 'version'], { allowFailure: true }).catch(() => null)
  if (v2 && v2.code === 0) return ['docker', 'compose']
  if (which('docker-compose')) return ['docker-compose']
  throw new Error(
    'no Docker Compose found: neither `docker compose` nor `docker-compose` answers. Install the compose plugin (v2) ' +
      'or docker-compose (v1), or set COMPOSE_CMD.',
  )
}

/**
 * Does this dry-run output of `up` recreate a container of the service (named `<project>-<service>-<n>`, perhaps behind
 * an id prefix)?
 */
export function recreatedBy(output: string, project: string, service: string): boolean {
  return [...output.matchAll(/Container (\S+)\s+Recreate\s*$/gm)].some(([, token]) => {
    const name = token.replace(/^[0-9a-f]{12}_/, '')
    return [`${project}-${service}-`, `${project}_${service}_`].some(
      (prefix) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)),
    )
  })
}

/**
 * Is this container where it should be, can it still get there, or never? An exited container
 * counts as done when it is a one-shot (exit code 0, not required, not restarted by Docker); one
 * of a required service has failed; any other one that is not running was stopped (by the user,
 * by an engine restart) and is left alone.
 */
export function readiness(
  c: Pick<Instance, 'state' | 'exitCode' | 'service' | 'health'> & { restartPolicy: string },
  required: string[] = [],
): Instance['readiness'] {
  const isRequired = required.includes(c.service)
  if (c.state === 'exited' || c.state === 'dead') {
    if (c.exitCode === 0 && !isRequired && c.restartPolicy !== 'always') return 'ready'
    return isRequired ? 'failed' : 'stopped'
  }
  if (c.state === 'created' && !isRequired) return 'stopped'
  if (c.state !== 'running') return 'waiting'
  if (c.health === null || c.health === 'healthy') return 'ready'
  return c.health === 'unhealthy' ? 'failed' : 'waiting'
}

/** Docker's "0001-01-01T00:00:00Z" means never. */
const time = (iso: unknown): number | null => {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN
  return Number.isFinite(t) && t > 0 ? t : null
}

export function parseInspect(json: string, required: string[] = []): Instance[] {
  const items = JSON.parse(json) as any[]
  return items
    .filter((c) => c.Config?.Labels?.[ONEOFF_LABEL] !== 'True')
    .map((c) => {
      const labels = (c.Config?.Labels ?? {}) as Record<string, string>
      const ports: Record<string, number> = {}
      for (const [port, bindings] of Object.entries((c.NetworkSettings?.Ports ?? {}) as Record<string, any[] | null>)) {
        const host = bindings?.find((b) => b.HostPort)?.HostPort
        if (host) ports[port] = Number(host)
      }
      const base = {
        id: String(c.Id).slice(0, 12),
        name: String(c.Name).replace(/^\//, ''),
        service: labels[SERVICE_LABEL],
        number: Number(labels[NUMBER_LABEL] ?? 1),
        state: String(c.State.Status),
        health: (c.State.Health?.Status as string | undefined) ?? null,
        exitCode: Number(c.State.ExitCode),
        finishedAt: time(c.State.FinishedAt),
        startedAt: time(c.State.StartedAt),
        restarts: Number(c.RestartCount ?? 0),
        healthLog: ((c.State.Health?.Log ?? []) as any[]).map((l) => String(l.Output).trim()).filter(Boolean),
        ports,
        addresses: Object.values((c.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>)
          .map((n) => n.IPAddress ?? '')
          .filter(Boolean),
        origin: labels[WORKING_DIR_LABEL]
          ? {
              workingDir: labels[WORKING_DIR_LABEL],
              configFiles: (labels[CONFIG_FILES_LABEL] ?? '').split(',').filter(Boolean),
            }
          : null,
        image: { ref: String(c.Config?.Image ?? ''), id: String(c.Image ?? '') },
        stopSignal: String(c.Config?.StopSignal || 'SIGTERM'),
        mounts: ((c.Mounts ?? []) as any[])
          .filter((m) => m.Type === 'bind')
          .map((m) => ({ source: String(m.Source), destination: String(m.Destination) })),
        hostPid: Number(c.State?.Pid) || undefined,
        createdAt: time(c.Created) ?? undefined,
        hostname: String(c.Config?.Hostname ?? ''),
      }
      return {
        ...base,
        readiness: readiness({ ...base, restartPolicy: c.HostConfig?.RestartPolicy?.Name ?? '' }, required),
      }
    })
    .sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number)
}

const real = (p: string) => {
  try {
    return realpathSync(p)
  } catch {
    return path.resolve(p)
  }
}

/**
 * Why these containers are not this project's, or null when every one was created from the
 * project directory with one of its compose files (by their compose labels).
 */
export function foreignOrigin(
  list: Instance[],
  settings: Pick<ComposeSettings, 'appDir' | 'composeFiles' | 'project'>,
): string | null {
  const dir = real(settings.appDir)
  const files = new Set(settings.composeFiles.map(real))
  const unknown = list.filter((i) => i.origin === null)
  if (unknown.length)
    return (
      `${unknown.map((i) => i.name).join(', ')} carry the project label ${settings.project} but no ` +
      `${WORKING_DIR_LABEL} label: they were not created by Compose from ${dir}`
    )
  const elsewhere = list.filter((i) => real(i.origin!.workingDir) !== dir)
  if (elsewhere.length) {
    const dirs = [...new Set(elsewhere.map((i) => i.origin!.workingDir))]
    return `containers of compose project ${settings.project} (${elsewhere
      .map((i) => i.name)
      .slice(0, 3)
      .join(', ')}${elsewhere.length > 3 ? ', ...' : ''}) were created from ${dirs.join(', ')}, not from ${dir}`
  }
  const otherFiles = list.filter(
    (i) => i.origin!.configFiles.length && !i.origin!.configFiles.some((f) => files.has(real(path.resolve(dir, f)))),
  )
  if (otherFiles.length)
    return (
      `containers of compose project ${settings.project} were created from ` +
      `${otherFiles[0].origin!.configFiles.join(', ')}, none of which is this project's compose file ` +
      `(${[...files].join(', ')})`
    )
  return null
}

export class ComposeTarget extends BaseTarget implements Target {
  readonly kind = 'compose' as const
  protected readonly noun = 'container'
  private cmd: string[] | undefined
  readonly log: LogFile

  constructor(
    run: Runner,
    private settings: ComposeSettings,
    clock: Clock,
    signal: AbortSignal,
  ) {
    super(run, clock, signal)
    this.log = hostLogFile(settings.logFile)
  }

  describe(): string {
    return `compose project ${this.settings.project} in ${this.settings.appDir}`
  }

  async tool(): Promise<string> {
    return (await this.command()).join(' ')
  }

  /** The compose command, detected on first use: most work needs only `docker`, not compose. */
  async command(): Promise<string[]> {
    return (this.cmd ??= await detectCompose(this.run, this.settings.composeCmd))
  }

  /** The full command line for a compose subcommand of this project. */
  args(...rest: string[]): string[] {
    const files = this.settings.composeFiles.flatMap((f) => ['-f', f])
    return [
      ...(this.cmd ?? ['docker', 'compose']),
      ...files,
      '--project-directory',
      this.settings.appDir,
      '-p',
      this.settings.project,
      ...rest,
    ]
  }

  /** A compose subcommand; long ones (builds, up) print what they are doing every few seconds. */
  async compose(rest: string[], options: RunOptions & { long?: string } = {}): Promise<RunResult> {
    await this.command()
    if (options.mutates) this.snapshot = undefined
    const { long, ...runOptions } = options
    if (!long || (options.mutates && this.dryRun(options)))
      return this.run(this.args(...rest), { signal: this.signal, ...runOptions })
    const tick = ticker(long)
    try {
      return await this.run(this.args(...rest), {
        signal: this.signal,
        ...runOptions,
        onOutput: (chunk) => (tick.output(chunk), options.onOutput?.(chunk)),
      })
    } finally {
      tick.stop()
    }
  }

  private dryRun(options: RunOptions): boolean {
    return Boolean(options.mutates) && this.run.dryRun
  }

  async ping(): Promise<string> {
    const engine = await this.run(['docker', 'info', '--format', '{{.ServerVersion}}'], {
      allowFailure: true,
      timeoutMs: 15_000,
    })
    if (engine.code !== 0) {
      throw new Error(
        `the Docker engine does not answer (${(engine.stderr || engine.stdout).trim().split('\n')[0]}). Start it ` +
          `(Docker Desktop, or \`sudo systemctl start docker\`; on a Debian CI host: sudo scripts/ensure-docker.sh).`,
      )
    }
    return `Docker engine ${engine.stdout.trim()}`
  }

  /** A Compose project runs here; its containers prove themselves by their labels (instances()). */
  async signals(): Promise<string[]> {
    return []
  }

  /** The engine read once a run: the preflight and the plan both ask. */
  private engineRead?: Promise<{ line: string; problem: string | null }>

  engine(): Promise<{ line: string; problem: string | null }> {
    return (this.engineRead ??= this.readEngine())
  }

  private async readEngine(): Promise<{ line: string; problem: string | null }> {
    const endpoint = await dockerEndpoint(this.run)
    const info = await this.run(['docker', 'info', '--format', '{{.Name}}|{{.ID}}|{{.ServerVersion}}'], {
      allowFailure: true,
      timeoutMs: 15_000,
    })
    const [name, id, version] = info.code === 0 ? info.stdout.trim().split('|') : ['?', '?', '?']
    const line = `Docker engine ${version} on ${name} (ID ${id}) at ${endpoint}`
    const local = endpoint === LOCAL_DOCKER || namedSafe(endpoint, this.settings.safeHosts)
    return {
      line,
      problem: local
        ? null
        : `the Docker engine at ${endpoint} (${name}, ID ${id}) is not this machine's local engine ` +
          `(${LOCAL_DOCKER}): a stack there may be someone else's. Nothing was changed. If that engine is yours, ` +
          `name it in SAFE_HOSTS (e.g. SAFE_HOSTS=${endpoint}).`,
    }
  }

  /** Every container of the project (one-off `run` containers excluded); refuses another directory's. */
  async instances(): Promise<Instance[]> {
    const ids = await this.run(['docker', 'ps', '-aq', '--filter', `label=${PROJECT_LABEL}=${this.settings.project}`])
    const list = ids.stdout.split('\n').filter(Boolean)
    if (list.length === 0) return (this.snapshot = [])
    // A container can vanish between ps and inspect (recreate); inspect what is still there.
    const res = await this.run(['docker', 'inspect', ...list], { allowFailure: true })
    const found = parseInspect(res.stdout.trim() || '[]', this.settings.requiredServices)
    const foreign = foreignOrigin(found, this.settings)
    if (foreign) {
      throw new RefusedError(
        `${foreign}: they belong to another checkout or stack. Nothing was changed. Point APP_DIR at that directory ` +
          `to reset it, or give this app its own project name (COMPOSE_PROJECT_NAME in its .env).`,
      )
    }
    return (this.snapshot = found)
  }

  protected usable(c: Instance): boolean {
    return c.state === 'running'
  }

  protected unavailable(service: string, states: string): string {
    return (
      `service ${service} of project ${this.settings.project} is not running (${states}). Start it with ` +
      `./scripts/assess.mts (starts missing services) or: ${this.args('up', '-d', service).join(' ')}`
    )
  }

  /** `docker exec` in a container: faster than `compose exec` and the same for v1 and v2. */
  protected execIn(container: Instance, argv: string[], options: ExecOptions = {}) {
    const flags = [...(options.input !== undefined ? ['-i'] : []), ...(options.tty ? ['-t'] : [])]
    for (const name of Object.keys(options.env ?? {})) flags.push('-e', name)
    return this.run(['docker', 'exec', ...flags, container.id, ...argv], { signal: this.signal, ...options })
  }

  protected execLine(container: Instance, argv: string[], env: Record<string, string>) {
    return {
      argv: ['docker', 'exec', '-i', ...Object.keys(env).flatMap((name) => ['-e', name]), container.id, ...argv],
      env,
    }
  }

  async runOneOff(service: string, argv: string[], options: ExecOptions = {}): Promise<RunResult> {
    return this.compose(['run', '--rm', '-T', service, ...argv], options)
  }

  /**
   * `compose start` for services that have containers: it never creates or recreates one, so a
   * dependency Compose thinks has drifted (another Compose version made it, the file changed)
   * is not replaced behind the plan's back. `up --no-deps` only for services with no container.
   */
  async start(services: string[]): Promise<void> {
    const made = new Set((await this.instances()).map((i) => i.service))
    const existing = services.filter((s) => made.has(s))
    const missing = services.filter((s) => !made.has(s))
    const timeoutMs = this.settings.readyTimeoutMs + 1_800_000
    if (existing.length)
      await this.compose(['start', ...existing], { mutates: true, timeoutMs, long: `starting ${existing.join(', ')}` })
    if (missing.length)
      await this.compose(['up', '-d', '--no-deps', ...missing], {
        mutates: true,
        timeoutMs,
        long: `creating and starting ${missing.join(', ')}`,
      })
  }

  async stop(services: string[]): Promise<void> {
    if (!services.length) return
    await this.closeSessions(services)
    await this.compose(['stop', ...services], { mutates: true, timeoutMs: this.settings.commandTimeoutMs })
  }

  /**
   * The services a command names: those given but `except`, or with none given, every service but
   * `except` (none named: the whole project). An `up` over named services carries `--no-deps`:
   * Compose would otherwise also recreate a dependency it thinks has drifted, or start a held
   * worker that another service depends on.
   */
  static named(services: string[], except: string[] = [], all: string[] = []): string[] {
    if (services.length) return services.filter((s) => !except.includes(s))
    return except.length ? all.filter((s) => !except.includes(s)) : []
  }

  /** `up -d --force-recreate`, with `--build` when asked, over the named services. */
  static recreateCommand(services: string[], options: RecreateOptions = {}, all: string[] = []): string[] {
    const some = ComposeTarget.named(services, options.except, all)
    return [
      'up',
      '-d',
      '--force-recreate',
      ...(options.build ? ['--build'] : []),
      ...(some.length ? ['--no-deps', ...some] : []),
    ]
  }

  async restart(services: string[], except: string[] = []): Promise<string> {
    return this.restartPromptly(ComposeTarget.named(services, except, this.settings.allServices))
  }

  async recreate(services: string[], options: RecreateOptions = {}): Promise<string> {
    const step = ComposeTarget.recreateCommand(services, options, this.settings.allServices)
    const what = options.build
      ? `rebuilding and starting ${services.join(', ') || 'every service'}`
      : 'recreating containers'
    await this.compose(step, {
      mutates: true,
      timeoutMs: options.build ? 1_800_000 : this.settings.readyTimeoutMs,
      long: what,
    })
    return this.args(...step).join(' ')
  }

  async wipe(): Promise<string> {
    await this.compose(['down', '-v'], {
      mutates: true,
      timeoutMs: this.settings.readyTimeoutMs,
      long: 'removing the containers and volumes',
    })
    return this.args('down', '-v').join(' ')
  }

  /**
   * `compose restart` of the services, side by side: those with an instance whose PID 1 does not
   * catch its stop signal (a shell as PID 1, as the real app's api) with -t 0, since waiting the
   * grace period for them is waiting for nothing; the others as their configuration says.
   */
  private async restartPromptly(some: string[]): Promise<string> {
    const running = (await this.instances()).filter(
      (i) => i.state === 'running' && (some.length === 0 || some.includes(i.service)),
    )
    const deafOnes = await Promise.all(running.map(async (i) => ((await this.stopsOnSignal(i)) ? null : i.service)))
    const deaf = [...new Set(deafOnes.filter((s): s is string => s !== null))]
    const rest = (some.length ? some : [...new Set(running.map((i) => i.service))]).filter((s) => !deaf.includes(s))
    const steps = [
      ...(deaf.length ? [['restart', '-t', '0', ...deaf]] : []),
      ...(rest.length ? [['restart', ...rest]] : []),
    ]
    await Promise.all(
      steps.map((step) => this.compose(step, { mutates: true, timeoutMs: this.settings.readyTimeoutMs })),
    )
    return steps.map((step) => this.args(...step).join(' ')).join(' & ') || 'nothing to restart'
  }

  /**
   * Does the instance's PID 1 catch its stop signal? (SigCgt of /proc/1/status; a PID 1 ignores signals it does not
   * catch.)
   */
  private async stopsOnSignal(i: Instance): Promise<boolean> {
    const signal = signalNumber(i.stopSignal ?? 'SIGTERM')
    if (signal === 9 || signal === null) return true
    const res = await this.run(['docker', 'exec', i.id, 'cat', '/proc/1/status'], {
      allowFailure: true,
      timeoutMs: 10_000,
    })
    const caught = /^SigCgt:\s*([0-9a-f]+)/m.exec(res.stdout)?.[1]
    return res.code !== 0 || caught === undefined || (BigInt(`0x${caught}`) >> BigInt(signal - 1)) % 2n === 1n
  }

  /**
   * Services whose containers no longer match their configuration: the image their tag names now
   * is another (rebuilt or pulled since they were created), or Compose itself would recreate them
   * (the compose files or the .env they read changed). Compose's verdict comes from dry runs of
   * `up` (v2; v1 has none, so there only the image is compared). Its config-hash covers
   * depends_on, which `up --no-deps S` leaves out for the services not in S (as the suite creates
   * a missing or drifted service), so a container counts as changed only when a plain dry run
   * and a `--no-deps` dry run of its service alone would both recreate it (the second only for
   * what the first flags). With `--no-start` a dry run takes 0.1 s; without it, it also waits for
   * the dependencies' health (0.6 s). `config --hash` matches neither kind of container.
   */
  async drift(services: string[]): Promise<{ service: string; why: string }[]> {
    const listing = (await this.instances()).filter((i) => services.includes(i.service))
    const refs = [...new Set(listing.map((i) => i.image?.ref).filter((r): r is string => Boolean(r)))]
    const ids = await Promise.all(
      refs.map(
        async (ref) =>
          [
            ref,
            (
              await this.run(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { allowFailure: true })
            ).stdout.trim(),
          ] as const,
      ),
    )
    const imageNow = new Map(ids)
    const found: { service: string; why: string }[] = []
    for (const service of services) {
      const image = listing.find(
        (i) =>
          i.service === service &&
          i.image?.ref &&
          imageNow.get(i.image.ref) &&
          imageNow.get(i.image.ref) !== i.image.id,
      )
      if (image) found.push({ service, why: `its image ${image.image!.ref} changed since ${image.name} was created` })
    }
    const rest = services.filter((s) => !found.some((f) => f.service === s) && listing.some((i) => i.service === s))
    // Compose's dry runs (a quarter of a second) only when a file it reads changed since the containers were made
    const plain = rest.length && !this.madeFromFilesAsTheyAre(listing) ? await this.wouldRecreate(rest, false) : []
    const changed = (await Promise.all(plain.map((s) => this.wouldRecreate([s], true)))).flat()
    for (const service of changed) {
      const name = listing.find((i) => i.service === service)!.name
      found.push({
        service,
        why:
          `Compose would recreate it: its configuration (the compose files, the .env they read, or the Compose ` +
          `version that made it) changed since ${name} was created`,
      })
    }
    return found
  }

  /**
   * Were these containers made from the compose files in use now, none of which (nor a .env or env_file
   * they read) changed since? Then Compose's verdict cannot have changed either, but for a change in the
   * shell's variables or the Compose version, which a dry run alone would see.
   */
  private madeFromFilesAsTheyAre(listing: Instance[]): boolean {
    const inputs = this.settings.inputs
    if (!inputs.length) return false
    const newest = Math.max(...inputs.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? Infinity))
    const files = new Set(this.settings.composeFiles.map(real))
    return listing.every((i) => {
      const made = (i.origin?.configFiles ?? []).map((f) => real(path.resolve(i.origin!.workingDir, f)))
      const same = made.length === files.size && made.every((f) => files.has(f))
      return same && i.createdAt !== undefined && newest < i.createdAt
    })
  }

  /**
   * The services of these whose containers Compose would recreate, by a dry run of `up`; none when this Compose has no
   * dry run (v1).
   */
  private async wouldRecreate(services: string[], noDeps: boolean): Promise<string[]> {
    const res = await this.compose(
      ['--dry-run', 'up', '--no-start', '--no-build', '--pull', 'never', ...(noDeps ? ['--no-deps'] : []), ...services],
      { allowFailure: true, timeoutMs: 60_000 },
    )
    if (res.code !== 0) return []
    return services.filter((service) => recreatedBy(res.stdout + res.stderr, this.settings.project, service))
  }

  waitReady(options: WaitReadyOptions = {}): Promise<Instance[]> {
    const { settings } = this
    return waitForStack(this, {
      label: `the ${settings.project} stack`,
      timeoutMs: options.timeoutMs ?? settings.readyTimeoutMs,
      clock: this.clock,
      signal: this.signal,
      required: settings.requiredServices,
      only: options.services ?? null,
      api:
        settings.apiHealthPath && settings.requiredServices.includes(settings.services.api)
          ? { service: settings.services.api, path: settings.apiHealthPath, port: settings.apiPort }
          : null,
      initial: options.initial,
      since: options.since,
    })
  }

  async endpoint(service: string, port: number): Promise<Endpoint | null> {
    const c = await this.instance(service)
    const host = c.ports[`${port}/tcp`]
    return host ? { host: '127.0.0.1', port: host, kind: 'published', close: async () => {} } : null
  }

  async logTail(instance: Instance, lines: number): Promise<string> {
    const res = await this.run(['docker', 'logs', '--tail', String(lines), instance.id], {
      allowFailure: true,
      timeoutMs: 10_000,
    })
    return (res.stdout + res.stderr).trim()
  }

  logMatches(instance: Instance, pattern: RegExp, since?: Date): Promise<string[]> {
    const from = Math.max(instance.startedAt ?? 0, since?.getTime() ?? 0)
    const flags = from ? ['--since', new Date(from).toISOString()] : []
    return matchingLines(['docker', 'logs', ...flags, instance.id], pattern, this.settings.commandTimeoutMs)
  }

  async status(): Promise<string> {
    const res = await this.compose(['ps', '-a'], { allowFailure: true, timeoutMs: 30_000 })
    return (res.stdout + res.stderr).trim()
  }

  /** Read from this machine's /proc when the engine is local (milliseconds), else with `docker exec` in each. */
  async processes(service: string): Promise<ProcessTable[]> {
    const running = (await this.current()).filter((i) => i.service === service && this.usable(i))
    const local = running.map((i) => hostProcessTable(i, i.hostPid, i.hostname ?? ''))
    if (local.every((t) => t !== null)) return local as ProcessTable[]
    return super.processes(service)
  }

  async stopProcesses(instance: Instance, procs: Pick<Proc, 'pid' | 'hostPid'>[]): Promise<void> {
    if (instance.hostPid && procs.every((p) => p.hostPid !== undefined))
      return stopHostProcesses(instance.hostPid, procs)
    return super.stopProcesses(instance, procs)
  }

  async close(): Promise<void> {
    await this.closeSessions()
  }
}

/** The log file on this machine, emptied in place so that containers holding it keep writing. */
export function hostLogFile(file: string): LogFile {
  return {
    async where() {
      if (existsSync(file)) return realpathSync(file)
      return path.join(real(path.dirname(file)), path.basename(file))
    },
    async size() {
      return existsSync(file) ? statSync(file).size : null
    },
    async stream(fromByte, onChunk) {
      if (!existsSync(file)) return
      let at = fromByte
      for await (const chunk of createReadStream(file, { start: fromByte, highWaterMark: 1 << 20 })) {
        onChunk(chunk as Buffer, at)
        at += (chunk as Buffer).length
      }
    },
    async truncate() {
      mkdirSync(path.dirname(file), { recursive: true })
      const before = existsSync(file) ? statSync(file) : null
      if (before) truncateSync(file, 0)
      else closeSync(openSync(file, 'a'))
      const after = statSync(file)
      if (before && after.ino !== before.ino)
        throw new Error(
          `${file} was replaced (inode changed): containers holding the old file will not write to the new one`,
        )
      if (after.size !== 0)
        out.warn(`${file} holds ${after.size} bytes again right after the truncation: the app is writing to it`)
    },
    async problem() {
      const dir = path.dirname(file)
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true })
      try {
        accessSync(dir, constants.W_OK)
        if (existsSync(file)) accessSync(file, constants.W_OK)
        return null
      } catch {
        return `log directory ${dir} is not writable by this user. Fix its ownership (e.g. sudo chown -R $USER ${dir}).`
      }
    },
  }
}
