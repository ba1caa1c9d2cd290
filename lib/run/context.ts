// What every phase is handed: the run context, the destruction plan it acts on, and the record
// that --resume reads. Types only, so that no two modules of lib/ import each other through them.
import type { Config } from '../config/config.ts'
import type { Runner } from '../util/command.ts'
import type { Clock } from '../util/wait.ts'
import type { RestartMode, Target } from '../targets/target.ts'

export type Figures = Record<string, number | string | undefined>

export interface Options {
  yes: boolean
  dryRun: boolean
  backup: boolean
  /** Where --backup writes, one folder per run. */
  backupDir: string
  /** Extra flags of a script, as given. */
  flags: Record<string, unknown>
}

/** One check of a phase (validation's relations), for the table and the JUnit report. */
export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

export interface Ctx {
  config: Config
  options: Options
  run: Runner
  clock: Clock
  /** Aborted by Ctrl-C or SIGTERM: every wait, command, query and batch loop checks it. */
  signal: AbortSignal
  target: Target
  /** The phases (and tasks) this run carries out, in order. */
  phases: string[]
  /** Shared by the phases of a run and saved after each, for --resume and for validate run alone. */
  record: RunRecord
  /** Saves the record now (a phase that changes something the record must survive an interruption with). */
  saveRecord(): void
  /** What this run destroys, computed once before anything is touched; null before the gate. */
  plan: DestructionPlan | null
  /** Checks the current phase made (validate), for the report. */
  checks: CheckResult[]
}

export interface PhaseSpec {
  /** A phase of the reset, or another task of the suite (restore, rollback-db, ...). */
  name: string
  /** For tasks that are not one of the seven phases: their title and exit code on failure. */
  title?: string
  exitCode?: number
  /** What the phase destroys, for the plan; null when it destroys nothing. */
  destroys: 'logs' | 'containers' | 'database' | 'redis' | null
  /** A task that reuses a phase with other settings (reset-circuit: flush-redis by pattern) adjusts the configuration here, before the plan. */
  configure?: (config: Config, flags: Record<string, unknown>) => Config
  /** Problems with the configuration that only this phase cares about (validate: the checks file): exit 9 before anything runs. */
  check?: (config: Config) => string[]
  /** A task's own lines for the plan (restore, rollback-db, reset-circuit), in place of the default. */
  inventory?: (ctx: Ctx) => Promise<string[]>
  run(ctx: Ctx): Promise<Figures | void>
}

/** What the last run did, per compose project or namespace: the file --resume reads. */
export interface RunRecord {
  selected: string[]
  completed: string[]
  /** The phase that was interrupted, or failed; absent when the run ended well. */
  stopped?: { phase: string; how: 'interrupted' | 'failed' }
  /** Services held stopped while the database and Redis are emptied; started again by flush-redis. */
  held?: string[]
  /** Size of the app's log when the test started: errors before it came from the reset. */
  testLogOffset?: number
  at?: string
}

// ---- the destruction plan ----

export interface PlannedTable {
  /** schema.table */
  name: string
  /** Rows now; a string when counting stopped ("10000+") or was blocked ("locked by pid 42"). */
  rows: number | string
  /** Named in RESET_TABLES, or reached through a foreign key and named in CASCADE_TABLES. */
  reason: 'configured' | 'cascade'
  /** For cascade tables: the foreign key that reaches it, "audit_notes.org_id -> organizations (audit_notes_org_id_fkey)". */
  reachedBy?: string
}

export interface PlannedDatabase {
  name: string
  via: string
  /** Which server answered, and why it is this project's: "container p-postgres-1 (172.18.0.2)". */
  server: string
  /** Every table the truncation empties, in order; nothing else is emptied. */
  tables: PlannedTable[]
}

export interface PlannedRedis {
  via: string
  server: string
  mode: 'flushall' | 'flushdb' | 'patterns'
  /** Each database the flush empties, with its key count now. */
  databases: { db: number; keys: number }[]
  /** In patterns mode: each pattern with the keys it matches now. */
  patterns?: { pattern: string; keys: number }[]
}

export interface PlannedLog {
  /** As configured. */
  configured: string
  /** What gets emptied: symlinks resolved, or pod:path. */
  where: string
  bytes: number | null
}

export interface PlannedContainers {
  mode: RestartMode
  /** Instances restarted (or recreated), by name and service. */
  restart: { name: string; service: string }[]
  /** Where the project was created from (Compose) or the namespace (Kubernetes). */
  origin: string
  /** The rebuild mode removes volumes: every database of the stack is wiped. */
  wipesVolumes: boolean
}

export interface DestructionPlan {
  /** The target, and the settings that chose it with where each came from. */
  target: string
  sources: string[]
  log?: PlannedLog
  containers?: PlannedContainers
  database?: PlannedDatabase
  redis?: PlannedRedis
  /** Instances of the worker services, stopped while the database and Redis are emptied so that
   *  no task message from before the reset writes into the fresh database; started after. */
  held: { name: string; service: string }[]
  /** Lines of tasks that describe their own destruction (restore, rollback-db, reset-circuit). */
  tasks: string[]
}
