// What every phase is handed: the run context. Types only, so that no two modules import each
// other through them; lower layers take the narrow parts they need (a Reach, a Holding).
import type { Reach } from '../access/reach.ts'
import type { CheckResult } from '../app/checks.ts'
import type { FindingsSummary } from '../app/log-findings.ts'
import type { Work } from '../app/work.ts'
import type { Config, Key } from '../config/config.ts'
import type { Figures, RestartMode } from '../modes/index.ts'
import type { DestructionPlan } from '../safety/plan.ts'
import type { Runner } from '../util/command.ts'
import type { RunRecord } from './record.ts'
import type { FlagSpec } from './args.ts'
import type { Step } from './registry.ts'

export type { Figures }

export interface Options {
  yes: boolean
  backup: boolean
  /** Where --backup writes, one folder per run. */
  backupDir: string
  /** The script's own flags, as typed. */
  flags: Record<string, string | boolean>
  /** Positional arguments, as typed. */
  args: string[]
}

export interface Ctx extends Reach {
  run: Runner
  options: Options
  /** The phases (and tasks) this run carries out, in order. */
  phases: string[]
  /** What the run did so far, saved for --resume; phases report to it through its methods. */
  record: RunRecord
  /** What this run destroys, computed once before anything is touched; null before the gate. */
  plan: DestructionPlan | null
  /** The restart mode: the phases call it, never ask which it is. */
  mode: RestartMode
  /** Checks the current phase made (validate), for the report. */
  checks: CheckResult[]
  /** What a person must see at the end whatever the verdict (a container that stopped during the test). */
  notes: string[]
  /** What the phases saw of the app, for the run page. */
  observed: Observed
}

/** What the phases saw of the app: written by the phase that saw it, read by the report at the end. */
export interface Observed {
  /** run-test: where the test's output was saved. */
  testLog?: string
  /** run-test: the queue sampled during the test, the jobs read after it. */
  work?: Work
  /** validate: the errors the app logged, the reset's apart from the test's, as validate printed them. */
  findings?: FindingsSummary
}

/** A script's own words: what it is for, in --help and the summary. */
export interface Words {
  /** The phase's line in the output: "==> [3/7] restart: <title>". */
  title: string
  /** --help's paragraph. */
  purpose: string
  /** Its own flags (the wrapper's are added). */
  flags?: FlagSpec[]
  /** The settings it reads, shown in --help with their meaning and default (each also a --key-name flag). */
  settings?: Key[]
  /** Positional arguments, for --help; none when unset. */
  args?: string
}

/** A phase or task: its facts from the registry, its words, and what it does. */
export interface PhaseSpec extends Step, Words {
  /**
   * A task that reuses a phase with other settings (reset-circuit: flush-redis by pattern) adjusts the configuration
   * here, before the plan.
   */
  configure?: (config: Config, options: Options) => Config
  /**
   * Problems with the configuration that only this phase cares about (validate: the checks file): exit 9 before
   * anything runs.
   */
  check?: (config: Config, options: Options) => string[]
  /**
   * Read-only checks of what the phase will need, made before the run's first phase changes
   * anything (validate: its checks, which PostgreSQL refuses to let write: exit 9 at once). Not made
   * when the phase itself comes first: its run then checks the same before anything is touched.
   */
  probe?: (ctx: Ctx) => Promise<void>
  /** A task's own lines for the plan (restore, rollback-db, reset-circuit), in place of the default. */
  inventory?: (ctx: Ctx) => Promise<string[]>
  run(ctx: Ctx): Promise<Figures | void>
}

export type { Config, Runner }
