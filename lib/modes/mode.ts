// A restart mode is one object with the hooks the phases call: plan it, restart, hold the workers,
// act before the truncation, release the workers, prove the state. The phases call the mode and
// never ask which one it is; what a mode is, does and leaves as it was lives in its own file.
import type { Session } from '../access/catalog.ts'
import type { Database } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import type { Config, ModeName } from '../config/config.ts'
import type { Proc } from '../targets/target.ts'

export type { ModeName }

/** What a phase reports: its figures by name. */
export type Figures = Record<string, number | string | undefined>

/** How a worker instance is held while the database and Redis are emptied. */
export type HeldAs = 'stopped' | 'paused'

export interface HeldInstance {
  name: string
  service: string
  as: HeldAs
}

/** A Celery worker paused in place: its node name, where it runs, the queues it consumes. */
export interface PausedWorker {
  name: string
  service: string
  instance: string
  queues: string[]
}

/** A process in an app container that is not the service itself (an earlier test's, a shell's). */
export interface Stray extends Pick<Proc, 'pid' | 'hostPid'> {
  instance: string
  service: string
  /** Its command line, shortened to one line. */
  command: string
}

/** The containers part of the plan: what the restart phase does to them, and how the workers are held. */
export interface PlannedContainers {
  mode: ModeName
  /** Where the project was created from (Compose) or the namespace (Kubernetes). */
  origin: string
  /** Instances restarted or recreated, by name and service. */
  restart: { name: string; service: string }[]
  /** In place: why a service is restarted or recreated instead of staying as it is. */
  changed: { service: string; why: string; recreate: boolean }[]
  /** In place: stray processes stopped. */
  strays: Stray[]
  /** Worker instances held while the database and Redis are emptied, and how. */
  held: HeldInstance[]
  /** In place: the Celery workers paused, each with its queues. */
  workers: PausedWorker[]
  /** In place: other clients' sessions holding locks on the tables, ended before the truncation. */
  sessions: Session[]
  /** The rebuild mode removes volumes: every database of the stack is wiped. */
  wipesVolumes: boolean
}

/** What a mode needs of the run: how to reach the stack, and the record that survives an interruption. */
export interface ModeRun extends Reach {
  record: { readonly held: string[]; hold(services: string[]): void; released(): void; changed(what: string): void }
}

export interface RestartMode {
  readonly name: ModeName
  /** Why the configuration cannot use this mode (a Compose mode on Kubernetes, say). */
  problems(config: Config): string[]
  /** The containers part of the plan, read-only; `holds`: the worker services the run holds. */
  plan(r: Reach, holds: string[]): Promise<PlannedContainers>
  /** The plan's lines for a person. */
  lines(planned: PlannedContainers): string[]
  /** The restart phase. */
  restart(r: ModeRun): Promise<Figures>
  /** Holds the worker services; again before each destructive step (it reads the workers anew). */
  hold(r: ModeRun): Promise<void>
  /** Inside the truncation's session, before it: what a restart would have ended (sessions on the tables `oids`). */
  beforeTruncate(r: ModeRun, db: Database, oids: number[]): Promise<void>
  /** Lets the held workers go (after Redis is cleared, or after a refusal); returns a line saying so. */
  release(r: ModeRun): Promise<string | null>
  /**
   * After the flush and the release: the clean state read from the servers (`tables` empty); throws what does not hold.
   */
  prove(r: ModeRun, tables: string[]): Promise<string | null>
  /** What stays held when the run stops now, for the message: "worker is held stopped". */
  heldNote(r: ModeRun): string | null
}
