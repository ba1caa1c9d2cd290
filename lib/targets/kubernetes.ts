// The Kubernetes target: the pods of each service found by label in the configured namespace of
// the configured context (every kubectl call names both), `rollout restart` + `rollout status`
// as the restart, `kubectl exec` in a pod, port-forwards to reach PostgreSQL and Redis, the log
// file inside the api pod. Held workers are scaled to 0 and back, their replicas kept in an
// annotation so that an interrupted run can still put them back.
import { spawn, type ChildProcess } from 'node:child_process'
import { PRODUCTION_WORD, type Config } from '../config/config.ts'
import { BaseTarget } from './base.ts'
import { progress } from '../util/output.ts'
import { waitForStack } from './instances.ts'
import { matchingLines, type Runner, type RunOptions, type RunResult } from '../util/command.ts'
import type { Endpoint, ExecOptions, Instance, LogFile, RecreateOptions, Target, WaitReadyOptions } from './target.ts'
import { waitFor, type Clock, type Probe } from '../util/wait.ts'

/** Where a held workload's replica count is kept while it is scaled to 0. */
export const REPLICAS_ANNOTATION = 'reset-and-test/replicas'

/** The label selector of a service: the KUBE_SELECTOR template with {service} and {namespace} filled in. */
export const selectorOf = (template: string, service: string, namespace = '') =>
  template.replaceAll('{service}', service).replaceAll('{namespace}', namespace)

/** Does an equality-based selector (k=v,k2=v2, k==v) match these labels? */
export function matches(selector: string, labels: Record<string, string>): boolean {
  return selector
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .every((part) => {
      const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part)
      if (!m) return part in labels // "key" alone: the label exists
      return m[2] === '!=' ? labels[m[1]] !== m[3] : labels[m[1]] === m[3]
    })
}

/** A Kubernetes timestamp in ms, or null. */
const time = (iso: unknown): number | null => (typeof iso === 'string' && Date.parse(iso) > 0 ? Date.parse(iso) : null)

/** A pod as an instance: Running and Ready is ready; a crash loop or a failed pod will not get there. */
export function podInstance(pod: any, service: string, number: number): Instance {
  const statuses: any[] = pod.status?.containerStatuses ?? []
  const ready = (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')
  const waiting = statuses.map((s) => s.state?.waiting?.reason).find(Boolean) as string | undefined
  const terminated = statuses.map((s) => s.state?.terminated).find(Boolean)
  const phase: string = pod.status?.phase ?? 'Unknown'
  const broken =
    phase === 'Failed' ||
    [
      'CrashLoopBackOff',
      'ErrImageNeverPull',
      'ImagePullBackOff',
      'ErrImagePull',
      'CreateContainerConfigError',
      'InvalidImageName',
    ].includes(waiting ?? '')
  const readiness: Instance['readiness'] = broken
    ? 'failed'
    : phase === 'Succeeded' || (phase === 'Running' && ready)
      ? 'ready'
      : 'waiting'
  return {
    id: pod.metadata.name,
    name: pod.metadata.name,
    service,
    number,
    state: waiting ?? (phase === 'Running' ? 'running' : phase.toLowerCase()),
    health: phase === 'Running' ? (ready ? 'healthy' : 'starting') : null,
    exitCode: Number(terminated?.exitCode ?? 0),
    finishedAt: time(terminated?.finishedAt ?? statuses.map((s) => s.lastState?.terminated?.finishedAt).find(Boolean)),
    startedAt: time(statuses.map((s) => s.state?.running?.startedAt).find(Boolean)),
    restarts: statuses.reduce((n, s) => n + Number(s.restartCount ?? 0), 0),
    healthLog: (pod.status?.conditions ?? [])
      .filter((c: any) => c.status !== 'True' && c.message)
      .map((c: any) => `${c.type}: ${c.message}`),
    readiness,
    ports: {},
    addresses: (pod.status?.podIPs ?? (pod.status?.podIP ? [{ ip: pod.status.podIP }] : [])).map((p: any) => p.ip),
    origin: null,
  }
}

/** Environment for a command in a pod, sent on its stdin (kubectl exec has no -e): never on a command line. */
export function envPrelude(env: Record<string, string>): string {
  const parts = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`)
    return `export ${k}="$(echo ${Buffer.from(v).toString('base64')} | base64 -d)"`
  })
  return parts.join('; ')
}
const READ_ENV = 'IFS= read -r RT_ENV; eval "$RT_ENV"; unset RT_ENV; exec "$@"'

export class KubernetesTarget extends BaseTarget implements Target {
  readonly kind = 'kubernetes' as const
  protected readonly noun = 'pod'
  private forwards: { child: ChildProcess; service: string; port: number; endpoint: Endpoint }[] = []
  readonly log: LogFile

  constructor(
    run: Runner,
    private config: Config,
    clock: Clock,
    signal: AbortSignal,
  ) {
    super(run, clock, signal)
    this.log = podLogFile(this, config.services.api, config.logFile)
  }

  /** kubectl with the configured kubeconfig, context and namespace: never kubectl's current ones. */
  kubectl(...rest: string[]): string[] {
    const { kube } = this.config
    return [
      'kubectl',
      ...(kube.kubeconfig ? ['--kubeconfig', kube.kubeconfig] : []),
      '--context',
      kube.context,
      '--namespace',
      kube.namespace,
      ...rest,
    ]
  }

  private k(rest: string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.mutates) this.snapshot = undefined
    return this.run(this.kubectl(...rest), { signal: this.signal, ...options })
  }

  describe(): string {
    return `namespace ${this.config.kube.namespace} in kubectl context ${this.config.kube.context}`
  }

  async tool(): Promise<string> {
    const res = await this.run(['kubectl', 'version', '--client', '-o', 'json'], { allowFailure: true })
    const v = res.code === 0 ? (JSON.parse(res.stdout).clientVersion?.gitVersion as string) : 'unknown version'
    return `kubectl ${v}`
  }

  async ping(): Promise<string> {
    const res = await this.k(['version', '-o', 'json', '--request-timeout=10s'], {
      allowFailure: true,
      timeoutMs: 20_000,
    })
    const server = res.code === 0 ? JSON.parse(res.stdout).serverVersion?.gitVersion : undefined
    if (!server)
      throw new Error(
        `the cluster of context ${this.config.kube.context} does not answer: ` +
          `${(res.stderr || res.stdout).trim().split('\n')[0]}. Check KUBE_CONTEXT and KUBECONFIG_FILE (for the ` +
          `bundled cluster: node --import tsx scripts/ensure-k8s.mts up).`,
      )
    const ns = await this.k(['get', 'namespace', this.config.kube.namespace, '-o', 'name'], { allowFailure: true })
    if (ns.code !== 0)
      throw new Error(
        `namespace ${this.config.kube.namespace} does not exist in context ${this.config.kube.context}: ` +
          `${ns.stderr.trim()}. Check KUBE_NAMESPACE, or apply the app's manifests.`,
      )
    return `Kubernetes ${server}, ${this.describe()}`
  }

  /** Reasons to think the context is not a development cluster: its names, or an API server elsewhere. */
  async signals(): Promise<string[]> {
    const { kube } = this.config
    const { safeHosts } = this.config.safety
    const res = await this.run(
      [
        'kubectl',
        ...(kube.kubeconfig ? ['--kubeconfig', kube.kubeconfig] : []),
        'config',
        'view',
        '--minify',
        '-o',
        'json',
        '--context',
        kube.context,
      ],
      { allowFailure: true },
    )
    if (res.code !== 0)
      return [`the context ${kube.context} cannot be read from the kubeconfig (${res.stderr.trim().split('\n')[0]})`]
    const view = JSON.parse(res.stdout)
    const cluster = view.clusters?.[0]
    const server: string = cluster?.cluster?.server ?? ''
    const signals: string[] = []
    for (const [what, name] of [
      ['context', kube.context],
      ['cluster', cluster?.name ?? ''],
      ['namespace', kube.namespace],
    ] as const) {
      if (PRODUCTION_WORD.test(name)) signals.push(`the ${what} is named ${name}`)
    }
    let host = ''
    try {
      host = new URL(server).hostname.replace(/^\[|\]$/g, '')
    } catch {}
    const local = host === 'localhost' || host === '::1' || /^127\./.test(host) || safeHosts.includes(host)
    if (!local)
      signals.push(
        `its API server ${server || '(none)'} is not on this machine (add its host to SAFE_HOSTS if the cluster is ` +
          `yours)`,
      )
    if (PRODUCTION_WORD.test(host)) signals.push(`its API server is ${server}`)
    return signals
  }

  /** Pods are replaced by rollouts, not edited in place: nothing drifts here that a restart would fix. */
  async drift(): Promise<{ service: string; why: string }[]> {
    return []
  }

  async engine(): Promise<{ line: string; problem: string | null }> {
    return {
      line:
        `Kubernetes context ${this.config.kube.context}, namespace ${this.config.kube.namespace} (its API server ` +
        `is judged by the production signals)`,
      problem: null,
    }
  }

  /** Services the configuration knows, whose selectors find pods. */
  private knownServices(): string[] {
    const c = this.config
    return [
      ...new Set([...Object.values(c.services), ...c.requiredServices, ...c.workerServices, ...c.restart.services]),
    ]
  }

  async instances(): Promise<Instance[]> {
    const list: Instance[] = []
    for (const [service, pods] of await this.podsBy(this.knownServices())) {
      const staying = pods.filter((p) => !p.metadata.deletionTimestamp)
      staying.forEach((p, i) => list.push(podInstance(p, service, i + 1)))
    }
    return (this.snapshot = list)
  }

  /** Each service's pods by its selector, in name order, those terminating included. */
  private async podsBy(services: string[]): Promise<Map<string, any[]>> {
    const res = await this.k(['get', 'pods', '-o', 'json'], { timeoutMs: this.config.commandTimeoutMs })
    const pods = JSON.parse(res.stdout).items as any[]
    const { selector, namespace } = this.config.kube
    return new Map(
      services.map((service) => {
        const sel = selectorOf(selector, service, namespace)
        const mine = pods.filter((p) => matches(sel, p.metadata.labels ?? {}))
        return [service, mine.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))]
      }),
    )
  }

  protected usable(i: Instance): boolean {
    return i.readiness === 'ready' && i.state === 'running'
  }

  protected unavailable(service: string, states: string): string {
    return (
      `service ${service} has no ready pod in ${this.describe()} (${states}; selector ` +
      `${selectorOf(this.config.kube.selector, service, this.config.kube.namespace)}). Check the deployment (kubectl ` +
      `get pods), or ./scripts/assess.mts.`
    )
  }

  protected configuredServices(): string[] {
    return this.knownServices()
  }

  /** kubectl exec in a pod; environment and input go through stdin. */
  protected execIn(pod: Instance, argv: string[], options: ExecOptions = {}) {
    const env = options.env ?? {}
    const hasEnv = Object.keys(env).length > 0
    const stdin = hasEnv || options.input !== undefined
    const flags = [...(stdin ? ['-i'] : []), ...(options.tty && !stdin ? ['-t'] : [])]
    const command = hasEnv ? ['sh', '-c', READ_ENV, 'sh', ...argv] : argv
    const input = hasEnv ? `${envPrelude(env)}\n${options.input ?? ''}` : options.input
    const { env: _ignored, ...rest } = options
    return this.k(['exec', ...flags, pod.name, '--', ...command], { ...rest, input })
  }

  protected execLine(pod: Instance, argv: string[], env: Record<string, string>) {
    const hasEnv = Object.keys(env).length > 0
    const command = hasEnv ? ['sh', '-c', READ_ENV, 'sh', ...argv] : argv
    return {
      argv: this.kubectl('exec', '-i', pod.name, '--', ...command),
      env: {},
      prelude: hasEnv ? `${envPrelude(env)}\n` : undefined,
    }
  }

  async exec(service: string, argv: string[], options: ExecOptions = {}): Promise<RunResult> {
    if (options.mutates && this.run.dryRun)
      return this.run(this.kubectl('exec', `<a ${service} pod>`, '--', ...argv), options)
    return super.exec(service, argv, options)
  }

  async runOneOff(service: string, argv: string[], options: ExecOptions = {}): Promise<RunResult> {
    return this.execIn(await this.instance(service), argv, options)
  }

  /** Deployments and statefulsets of the services, with their replicas and the held annotation. */
  private async workloads(
    services: string[],
  ): Promise<{ ref: string; service: string; replicas: number; held: number | null }[]> {
    const res = await this.k(['get', 'deployments,statefulsets', '-o', 'json'])
    const items = JSON.parse(res.stdout).items as any[]
    const found = []
    for (const service of services) {
      const selector = selectorOf(this.config.kube.selector, service, this.config.kube.namespace)
      for (const w of items.filter(
        (x) =>
          matches(selector, x.metadata.labels ?? {}) || matches(selector, x.spec?.template?.metadata?.labels ?? {}),
      )) {
        const held = w.metadata.annotations?.[REPLICAS_ANNOTATION]
        found.push({
          ref: `${w.kind.toLowerCase()}/${w.metadata.name}`,
          service,
          replicas: Number(w.spec?.replicas ?? 1),
          held: held === undefined ? null : Number(held),
        })
      }
    }
    return found
  }

  /** Scales back what stop() scaled to 0; starts nothing else (Kubernetes restarts failed pods itself). */
  async start(services: string[]): Promise<void> {
    for (const w of await this.workloads(services)) {
      if (w.held === null) continue
      await this.k(['scale', w.ref, `--replicas=${w.held}`], { mutates: true })
      await this.k(['annotate', w.ref, `${REPLICAS_ANNOTATION}-`], { mutates: true })
    }
  }

  /**
   * Scales the services' workloads to 0, remembering their replicas in an annotation, and waits
   * until their pods are gone: a pod on its way out may still finish a task that writes, as a
   * stopping container would, and `docker compose stop` waits for that too.
   */
  async stop(services: string[]): Promise<void> {
    await this.leave(services)
    for (const w of await this.workloads(services)) {
      if (w.held === null)
        await this.k(['annotate', '--overwrite', w.ref, `${REPLICAS_ANNOTATION}=${w.replicas}`], { mutates: true })
      await this.k(['scale', w.ref, '--replicas=0'], { mutates: true })
    }
    if (!this.run.dryRun) await this.gone(services)
  }

  /** Until no pod of the services is left, those terminating included. */
  private async gone(services: string[]): Promise<void> {
    const probe: Probe<void> = {
      what: `the pods of ${services.join(', ')} gone`,
      check: async () => {
        const left = [...(await this.podsBy(services)).values()].flat().map((p) => p.metadata.name)
        return left.length
          ? { ready: false, detail: `still there: ${left.join(', ')}` }
          : { ready: true, value: undefined }
      },
    }
    const timeoutMs = this.config.restart.readyTimeoutMs
    await waitFor(probe, {
      ...{ timeoutMs, clock: this.clock, signal: this.signal },
      onProgress: progress(`waiting for the pods of ${services.join(', ')} to stop`),
    })
  }

  /** `rollout restart` of the services' workloads ([] = every known service but `except`). */
  async restart(services: string[], except: string[] = []): Promise<string> {
    const chosen = (services.length ? services : this.knownServices()).filter((s) => !except.includes(s))
    const refs = [...new Set((await this.workloads(chosen)).filter((w) => w.held === null).map((w) => w.ref))]
    if (refs.length === 0) throw new Error(`no deployment or statefulset of ${chosen.join(', ')} in ${this.describe()}`)
    await this.leave(chosen) // their pods are being replaced
    await this.k(['rollout', 'restart', ...refs], { mutates: true })
    return this.kubectl('rollout', 'restart', ...refs).join(' ')
  }

  /** A rollout replaces every pod: recreating is restarting. Images are not built here. */
  async recreate(services: string[], options: RecreateOptions = {}): Promise<string> {
    if (options.build)
      throw new Error('building images is a Compose mode; on Kubernetes build and load them, then use restart')
    return this.restart(services, options.except)
  }

  async wipe(): Promise<string> {
    throw new Error('removing volumes is a Compose mode (rebuild); on Kubernetes use restart')
  }

  /**
   * `rollout status` of each workload of the services, under one deadline; then every pod ready and the api answering.
   */
  async waitReady(options: WaitReadyOptions = {}): Promise<Instance[]> {
    const { config } = this
    const timeoutMs = options.timeoutMs ?? config.restart.readyTimeoutMs
    const deadline = this.clock.now() + timeoutMs
    const services = options.services ?? this.knownServices()
    for (const w of await this.workloads(services)) {
      if (w.held !== null) continue
      const left = Math.max(1, Math.round((deadline - this.clock.now()) / 1000))
      const res = await this.k(['rollout', 'status', w.ref, `--timeout=${left}s`], {
        allowFailure: true,
        timeoutMs: (left + 10) * 1000,
      })
      if (res.code !== 0)
        throw new Error(
          `timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${w.ref} to roll out: ` +
            `${(res.stderr || res.stdout).trim().split('\n').pop()}`,
        )
    }
    return waitForStack(this, {
      label: this.describe(),
      timeoutMs: Math.max(1000, deadline - this.clock.now()),
      clock: this.clock,
      signal: this.signal,
      required: config.requiredServices,
      only: options.services ?? null,
      api:
        config.apiHealthPath && config.requiredServices.includes(config.services.api)
          ? { service: config.services.api, path: config.apiHealthPath, port: config.apiPort }
          : null,
    })
  }

  /** A port-forward to the service's first ready pod, opened once per run and closed with the target. */
  async endpoint(service: string, port: number): Promise<Endpoint | null> {
    const open = this.forwards.find((f) => f.service === service && f.port === port && f.child.exitCode === null)
    if (open) return open.endpoint
    const pod = await this.instance(service)
    // Its own process group: a Ctrl-C in the terminal must not end the tunnel before the run has
    // cancelled its statements on the server through it. It ends with the target, or with us.
    const child = spawn(
      this.kubectl()[0],
      [...this.kubectl('port-forward', `pod/${pod.name}`, `:${port}`).slice(1), '--address', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    )
    const onExit = () => child.kill('SIGKILL')
    process.once('exit', onExit)
    child.once('exit', () => process.off('exit', onExit))
    const local = await new Promise<number>((resolve, reject) => {
      let text = ''
      const timer = setTimeout(
        () => done(new Error(`no port-forward to ${pod.name}:${port} within 15 s: ${text.trim()}`)),
        15_000,
      )
      const done = (e: Error | null, p?: number) => {
        clearTimeout(timer)
        if (e) {
          child.kill('SIGKILL')
          reject(e)
        } else resolve(p!)
      }
      const take = (d: Buffer) => {
        text += d.toString()
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text)
        if (m) done(null, Number(m[1]))
      }
      child.stdout!.on('data', take)
      child.stderr!.on('data', take)
      child.on('exit', (code) =>
        done(new Error(`kubectl port-forward to ${pod.name}:${port} exited with code ${code}: ${text.trim()}`)),
      )
    })
    child.stdout!.removeAllListeners('data').resume()
    child.stderr!.removeAllListeners('data').resume()
    const endpoint: Endpoint = {
      host: '127.0.0.1',
      port: local,
      kind: 'forwarded',
      instance: pod,
      close: async () => {},
    }
    this.forwards.push({ child, service, port, endpoint })
    return endpoint
  }

  async logTail(instance: Instance, lines: number): Promise<string> {
    const res = await this.run(this.kubectl('logs', '--tail', String(lines), instance.name), {
      allowFailure: true,
      timeoutMs: 10_000,
    })
    return (res.stdout + res.stderr).trim()
  }

  /** The pod's container as it runs now: its log starts when it last started. */
  logMatches(instance: Instance, pattern: RegExp, since?: Date): Promise<string[]> {
    const flags = since ? [`--since-time=${since.toISOString()}`] : []
    return matchingLines(this.kubectl('logs', ...flags, instance.name), pattern, this.config.commandTimeoutMs)
  }

  async status(): Promise<string> {
    const res = await this.run(this.kubectl('get', 'deployments,statefulsets,pods', '-o', 'wide'), {
      allowFailure: true,
      timeoutMs: 30_000,
    })
    return (res.stdout + res.stderr).trim()
  }

  async close(): Promise<void> {
    await this.closeSessions()
    this.closeForwards()
  }

  /** What this run opened into the services' pods (forwards, sessions) ends: those pods are going. */
  private async leave(services: string[]): Promise<void> {
    this.closeForwards(services)
    await this.closeSessions(services)
  }

  /** Ends the port-forwards to the services' pods (all of them without a list). */
  private closeForwards(services?: string[]): void {
    const gone = this.forwards.filter((f) => !services || services.includes(f.service))
    for (const f of gone) f.child.kill('SIGTERM')
    this.forwards = this.forwards.filter((f) => !gone.includes(f))
  }

  /**
   * A command's output in a pod handed on chunk by chunk, never collected (the runner keeps a
   * command's whole output; a log can be gigabytes). Stopped by the run's signal or COMMAND_TIMEOUT
   * without output.
   */
  streamFrom(pod: Instance, argv: string[], at: number, onChunk: (chunk: Buffer, at: number) => void): Promise<void> {
    const [cmd, ...args] = this.kubectl('exec', pod.name, '--', ...argv)
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let idle: NodeJS.Timeout
    const stop = () => child.kill('SIGKILL')
    const arm = () => {
      clearTimeout(idle)
      idle = setTimeout(stop, this.config.commandTimeoutMs)
    }
    arm()
    this.signal.addEventListener('abort', stop, { once: true })
    child.stdout!.on('data', (d: Buffer) => (onChunk(d, at), (at += d.length), arm()))
    child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()))
    return new Promise((resolve, reject) => {
      child.on('close', (code, sig) => {
        clearTimeout(idle)
        this.signal.removeEventListener('abort', stop)
        if (this.signal.aborted) reject(this.signal.reason)
        else if (code === 0) resolve()
        else
          reject(
            new Error(
              `reading the log in ${pod.name} failed (${sig ?? `exit ${code}`}): ` +
                `${stderr.trim() || 'no output for COMMAND_TIMEOUT'}`,
            ),
          )
      })
    })
  }

  /** A command in the first ready pod of a service (the log file's helpers). */
  podExec(service: string, argv: string[], options: ExecOptions = {}) {
    return this.exec(service, argv, options)
  }
}

/** The shared log file inside the api pod (a volume the workers share): read and emptied in place there. */
function podLogFile(target: KubernetesTarget, service: string, file: string): LogFile {
  const sh = (script: string, mutates = false) =>
    target.podExec(service, ['sh', '-c', script, 'sh', file], { allowFailure: true, mutates })
  return {
    async where() {
      const pod = await target.instance(service)
      const res = await sh('readlink -f "$1" 2>/dev/null || echo "$1"')
      return `${pod.name}:${res.stdout.trim() || file}`
    },
    async size() {
      const res = await sh('[ -e "$1" ] && stat -c %s "$1" || echo missing')
      const text = res.stdout.trim()
      return text === 'missing' || text === '' ? null : Number(text)
    },
    async stream(fromByte, onChunk) {
      const pod = await target.instance(service)
      await target.streamFrom(
        pod,
        ['sh', '-c', `[ -e "$1" ] && tail -c +${fromByte + 1} "$1" || true`, 'sh', file],
        fromByte,
        onChunk,
      )
    },
    async truncate() {
      const res = await sh('mkdir -p "$(dirname "$1")" && : > "$1"', true)
      if (res.code !== 0) throw new Error(`could not truncate ${file} in ${service}: ${res.stderr.trim()}`)
    },
    async problem() {
      const res = await sh(
        'mkdir -p "$(dirname "$1")" && test -w "$(dirname "$1")" && { [ ! -e "$1" ] || test -w "$1"; }',
      )
      return res.code === 0
        ? null
        : `the log ${file} is not writable in the ${service} pod: ${res.stderr.trim() || `exit ${res.code}`}`
    },
  }
}
