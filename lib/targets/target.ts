// The one seam between the phases and what runs the app: a Compose project or a Kubernetes
// namespace. Phases speak of services ("exec in api", "restart worker and wait", "reach
// postgres"); each target implements this small interface. Types only: no target imports a phase.
import type { RunOptions, RunResult, StreamOptions } from '../util/command.ts'
import type { LineProcess } from '../util/line-process.ts'

/** One running copy of a service: a container, or a pod. */
export interface Instance {
  /** Container id or pod name: what exec and logs take. */
  id: string
  name: string
  service: string
  number: number
  /** running, exited, created, restarting, paused, dead (containers); Pending, Running, Succeeded, Failed (pods) */
  state: string
  /** healthy, unhealthy, starting; null when the service has no health check */
  health: string | null
  exitCode: number
  /** Last health-check output, oldest first. */
  healthLog: string[]
  /**
   * ready: healthy or running without a check; waiting: can still get there; failed: will not;
   * stopped: not running and not required (a service the user stopped, or that an engine restart
   * stopped): left alone and not waited for, unless it stopped again after the wait began.
   */
  readiness: 'ready' | 'waiting' | 'failed' | 'stopped'
  /** When it last stopped (ms since the epoch); null when it never did or it is not known. */
  finishedAt: number | null
  /** When it last started (ms since the epoch), and how often its engine restarted it; null when not known. */
  startedAt?: number | null
  restarts?: number
  /** "5432/tcp" -> host port, for ports published on this machine */
  ports: Record<string, number>
  /** The instance's own network addresses. */
  addresses: string[]
  /** Where it was created from (Compose: working_dir and config_files labels); null when unknown. */
  origin: { workingDir: string; configFiles: string[] } | null
  /** Compose: the image it was created from (the reference as configured, and the id it had). */
  image?: { ref: string; id: string }
  /** The signal that stops it (Compose: the image's or the service's STOPSIGNAL; SIGTERM by default). */
  stopSignal?: string
  /** Compose: host directories and files bind-mounted into it (the app's source, its logs). */
  mounts?: Mount[]
  /** Compose: when the container was made (ms since the epoch). */
  createdAt?: number
  /** Compose: its PID 1's pid on the engine's machine, and its hostname. */
  hostPid?: number
  hostname?: string
}

export interface Mount {
  /** The path on this machine. */
  source: string
  /** Where the instance sees it. */
  destination: string
}

/** A host and port on this machine that reach a service's port. */
export interface Endpoint {
  host: string
  port: number
  /** 'published': a port the target publishes (the server's identity must be checked);
   *  'forwarded': a tunnel this run opened to one instance it chose (the identity is that instance). */
  kind: 'published' | 'forwarded'
  /** The instance the tunnel leads to, for 'forwarded'. */
  instance?: Instance
  close(): Promise<void>
}

export interface ExecOptions extends RunOptions {
  tty?: boolean
  /** Environment for the command inside the instance, passed by name (never on a command line). */
  env?: Record<string, string>
}

/** What a streaming command in an instance takes: its streams, its environment, its deadline. */
export type StreamExec = Omit<StreamOptions, 'prelude' | 'signal'>

/** The shared log file of the app, wherever it lives. */
export interface LogFile {
  /** Where it really is, for the plan: a host path with symlinks resolved, or pod:path. */
  where(): Promise<string>
  /** Its size in bytes; null when it does not exist. */
  size(): Promise<number | null>
  /** Its bytes from an offset, chunk by chunk as they are read (never all at once: a log can be gigabytes). */
  stream(fromByte: number, onChunk: (chunk: Buffer, at: number) => void): Promise<void>
  /** Empties it in place (same inode, so writers keep writing to it); creates it when missing. */
  truncate(): Promise<void>
  /** Why the log cannot be written, or null when it can. */
  problem(): Promise<string | null>
}

/** One process inside an instance, as /proc tells it. */
export interface Proc {
  pid: number
  ppid: number
  /** Its session: the service's own processes share PID 1's; each `docker exec` (or kubectl exec) starts a new one. */
  sid: number
  /** When it started, ms since the epoch. */
  startedAt: number
  argv: string[]
  /** Its pid on this machine, when it was read from this machine's /proc. */
  hostPid?: number
}

/** Every process of one instance, read in one command. */
export interface ProcessTable {
  instance: Instance
  hostname: string
  procs: Proc[]
  /** The session of the command that read the table (not part of the instance). */
  readerSid: number
}

export interface WaitReadyOptions {
  services?: string[]
  timeoutMs?: number
  initial?: Instance[]
  /** When the caller began starting things (ms since the epoch). */
  since?: number
}

/** How a recreation goes: images built first; the rest of the project left as it is. */
export interface RecreateOptions {
  build?: boolean
  /** With services [] (all): these are left out (the held workers). */
  except?: string[]
}

export interface Target {
  readonly kind: 'compose' | 'kubernetes'
  /** For messages: "compose project p (v2 2.26.1)" or "namespace n in context c". */
  describe(): string
  /** The engine or cluster answers; returns its version line. */
  ping(): Promise<string>
  /** Reasons the target itself looks like production (a cluster context or API server); none for Compose. */
  signals(): Promise<string[]>
  /**
   * The engine or cluster the target really acts on, for the plan, and why it may not be acted on:
   * a Docker endpoint other than this machine's local socket that SAFE_HOSTS does not name.
   */
  engine(): Promise<{ line: string; problem: string | null }>
  /** The command that drives the target, detected on first use: for messages. */
  tool(): Promise<string>
  /** Every instance of the project, found by labels; refuses instances created from elsewhere. */
  instances(): Promise<Instance[]>
  /** The latest listing, taken now if there is none. */
  current(): Promise<Instance[]>
  /** The first running instance of a service, or an error saying how to start it. */
  instance(service: string): Promise<Instance>
  /** Service names for service or instance names. */
  servicesFor(names: string[]): Promise<string[]>
  exec(service: string, argv: string[], options?: ExecOptions): Promise<RunResult>
  /**
   * A command in a service's instance whose stdin and stdout are streams (a table's rows in or out),
   * never held in memory; the environment passed by name, as for exec. Stopped by its deadline or
   * the run's signal.
   */
  execStream(service: string, argv: string[], options: StreamExec): Promise<RunResult>
  /** Shell text in a service's instance that its deadline or Ctrl-C stops inside the instance too. */
  execTracked(service: string, command: string, options?: ExecOptions): Promise<RunResult & { stopped?: string }>
  /** A one-off command in a fresh instance of the service (the app's own test suite). */
  runOneOff(service: string, argv: string[], options?: ExecOptions): Promise<RunResult>
  /** Starts the services' instances that are not running. */
  start(services: string[]): Promise<void>
  /** Stops the services' instances (they keep their data). */
  stop(services: string[]): Promise<void>
  /**
   * Restarts the services' instances ([] = all, but those in `except`); returns the commands shown
   * to the user. An instance whose PID 1 does not catch its stop signal is killed at once, not
   * after the grace period it would spend waiting in vain.
   */
  restart(services: string[], except?: string[]): Promise<string>
  /** Replaces the services' instances with new ones ([] = all), images built first when asked; returns the commands. */
  recreate(services: string[], options?: RecreateOptions): Promise<string>
  /** Removes every instance and the volumes (all data) but those of `except`; returns the command. */
  wipe(except?: string[]): Promise<string>
  /** Services whose instances no longer match their configuration (image, compose files), and why. */
  drift(services: string[]): Promise<{ service: string; why: string }[]>
  /**
   * A command kept running in one instance of the service that answers line by line (the
   * environment passed by name, never on a command line); closed with the target at the latest.
   */
  session(service: string, argv: string[], env?: Record<string, string>): Promise<LineProcess>
  /** The processes of each running instance of the service, with its hostname. */
  processes(service: string): Promise<ProcessTable[]>
  /** Stops these processes of the instance (from its table): TERM, then KILL after a second. */
  stopProcesses(instance: Instance, procs: Pick<Proc, 'pid' | 'hostPid'>[]): Promise<void>
  /**
   * Waits until every instance (or the services') is ready and the api answers; one deadline. An
   * instance left stopped counts as failed only when it stopped after `since` (the phase started it).
   */
  waitReady(options?: WaitReadyOptions): Promise<Instance[]>
  /** A host:port here that reaches the service's port, or null when there is none. */
  endpoint(service: string, port: number): Promise<Endpoint | null>
  readonly log: LogFile
  logTail(instance: Instance, lines: number): Promise<string>
  /**
   * The first lines of the instance's log that match the pattern, read as a stream: since it last
   * started, or since `since` when that is later.
   */
  logMatches(instance: Instance, pattern: RegExp, since?: Date): Promise<string[]>
  /** The target's own status listing (compose ps -a, kubectl get pods), for diagnostics. */
  status(): Promise<string>
  /** Closes what the target opened (port-forwards, sessions). */
  close(): Promise<void>
}
