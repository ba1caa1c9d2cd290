// What the Compose and Kubernetes targets share: the listing they keep, finding one usable instance
// of a service, mapping instance names to services, and a command inside an instance that its
// deadline or Ctrl-C stops inside the instance too. Each target supplies only its differences.
import { streamCommand, type Runner, type RunResult } from '../util/command.ts'
import { LineProcess } from '../util/line-process.ts'
import type { Clock } from '../util/wait.ts'
import { describe, LIST_PROCESSES, parseProcesses, pidFile, STOP_PIDS, STOP_TRACKED, TRACKED } from './instances.ts'
import type { ExecOptions, Instance, Proc, ProcessTable, StreamExec } from './target.ts'

export abstract class BaseTarget {
  /** The last listing; commands that change something drop it. */
  protected snapshot: Instance[] | undefined
  private sessions: { service: string; process: LineProcess }[] = []

  constructor(
    protected run: Runner,
    protected clock: Clock,
    protected signal: AbortSignal,
  ) {}

  abstract describe(): string
  abstract instances(): Promise<Instance[]>
  /** A command in one instance (docker exec, kubectl exec). */
  protected abstract execIn(instance: Instance, argv: string[], options?: ExecOptions): Promise<RunResult>
  /** The command line that runs argv in the instance with its stdin open, and how the environment gets there. */
  protected abstract execLine(
    instance: Instance,
    argv: string[],
    env: Record<string, string>,
  ): { argv: string[]; env: Record<string, string>; prelude?: string }
  /** "container" or "pod", for messages. */
  protected abstract readonly noun: string
  /** Can commands run in it? */
  protected abstract usable(i: Instance): boolean
  /** Why no instance of the service can take a command, and what to do. */
  protected abstract unavailable(service: string, states: string): string
  /** Service names known besides the listing's (the configured ones, whose instances may be gone for a moment). */
  protected configuredServices(): string[] {
    return []
  }

  async current(): Promise<Instance[]> {
    return this.snapshot ?? this.instances()
  }

  /** The first usable instance of a service, or an error saying how to get one. */
  async instance(service: string): Promise<Instance> {
    const found = (this.snapshot ?? (await this.instances())).filter((i) => i.service === service)
    const usable = found.find((i) => this.usable(i))
    if (usable) return usable
    this.snapshot = undefined
    throw new Error(this.unavailable(service, found.length ? found.map(describe).join(', ') : `no ${this.noun}`))
  }

  /** Service names for service or instance names; an unknown name is an error listing the services. */
  async servicesFor(names: string[]): Promise<string[]> {
    const all = await this.instances()
    const known = new Set([...this.configuredServices(), ...all.map((i) => i.service)])
    const services = names.map((n) => (known.has(n) ? n : all.find((i) => i.name === n)?.service))
    const unknown = names.filter((_, i) => !services[i])
    if (unknown.length)
      throw new Error(
        `no service or ${this.noun} named ${unknown.join(', ')} in ${this.describe()}; services are ` +
          `${[...known].sort().join(', ')}`,
      )
    return [...new Set(services as string[])]
  }

  async exec(service: string, argv: string[], options: ExecOptions = {}): Promise<RunResult> {
    if (options.mutates) this.snapshot = undefined
    return this.execIn(await this.instance(service), argv, options)
  }

  /** The same command line as a session's (stdin open, the environment by name or in a prelude), streamed. */
  async execStream(service: string, argv: string[], { env = {}, ...options }: StreamExec): Promise<RunResult> {
    const line = this.execLine(await this.instance(service), argv, env)
    return streamCommand(line.argv, { ...options, env: line.env, prelude: line.prelude, signal: this.signal })
  }

  async session(service: string, argv: string[], env: Record<string, string> = {}): Promise<LineProcess> {
    const line = this.execLine(await this.instance(service), argv, env)
    const session = new LineProcess(line.argv, line.env, line.prelude)
    this.sessions.push({ service, process: session })
    return session
  }

  /**
   * Ends the sessions still open: all, or those in instances of the services (about to stop: a
   * session's next question must not reach an instance on its way out).
   */
  protected async closeSessions(services?: string[]): Promise<void> {
    const ending = this.sessions.filter((s) => !services || services.includes(s.service))
    this.sessions = this.sessions.filter((s) => !ending.includes(s))
    await Promise.all(ending.map((s) => s.process.close()))
  }

  async processes(service: string): Promise<ProcessTable[]> {
    const running = (await this.instances()).filter((i) => i.service === service && this.usable(i))
    const read = async (i: Instance) => {
      const res = await this.execIn(i, ['sh', '-c', LIST_PROCESSES], { timeoutMs: 15_000 })
      return parseProcesses(i, res.stdout)
    }
    return Promise.all(running.map(read))
  }

  async stopProcesses(instance: Instance, procs: Pick<Proc, 'pid' | 'hostPid'>[]): Promise<void> {
    const pids = procs.map((p) => String(p.pid))
    if (pids.length)
      await this.execIn(instance, ['sh', '-c', STOP_PIDS, 'sh', ...pids], { allowFailure: true, timeoutMs: 20_000 })
  }

  async execTracked(
    service: string,
    command: string,
    options: ExecOptions = {},
  ): Promise<RunResult & { stopped?: string }> {
    const instance = await this.instance(service)
    const file = pidFile()
    const res = await this.execIn(instance, ['sh', '-c', TRACKED, file, command], { ...options, allowFailure: true })
    if (res.timedOut || this.signal.aborted) {
      // The run's signal has fired: this command must still run, so it gets none.
      const stop = await this.execIn(instance, ['sh', '-c', STOP_TRACKED, file], {
        allowFailure: true,
        timeoutMs: 20_000,
        signal: undefined,
      })
      const stopped =
        stop.code === 0
          ? stop.stdout.trim() || `stopped it in the ${this.noun}`
          : `could not stop it in the ${this.noun}: ${stop.stderr.trim()}`
      if (this.signal.aborted) throw this.signal.reason
      return { ...res, stopped }
    }
    await this.execIn(instance, ['rm', '-f', file], { allowFailure: true })
    return res
  }
}
