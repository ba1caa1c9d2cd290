// Every phase of the reset and every task of the suite, with the facts the run needs about each:
// its order, name, exit code and what it destroys. A step's words (title, purpose, flags) live in
// its script, beside what it does. The orchestrator and the Makefile take the order from here.
import type { Destroys } from '../safety/plan.ts'
import { EXIT, type ExitCode } from '../util/exits.ts'

export type { Destroys }

export interface Step {
  /** 1..7 for the phases of a reset; 0 for a task. */
  number: number
  /** The script's name without .mts, the Makefile target, the name in the summary. */
  name: string
  exitCode: ExitCode
  /** What it destroys, for the plan; a function of the positional arguments when that depends on them (rollback-db). */
  destroys: Destroys | null | ((args: string[]) => Destroys | null)
  /** The server or service whose logs a failure of it wants in the diagnostics. */
  service?: 'api' | 'postgres' | 'redis'
  /** It starts stopped services: it changes the stack, so the gate before any change runs before it. */
  startsServices?: true
  /** It empties the broker: the worker services are held from the first destructive phase until it is done. */
  clearsBroker?: true
}

export const PHASES = [
  { number: 1, name: 'assess', exitCode: EXIT.environment, destroys: null, startsServices: true },
  { number: 2, name: 'truncate-logs', exitCode: EXIT.log, destroys: 'logs' },
  { number: 3, name: 'restart', exitCode: EXIT.containers, destroys: 'containers' },
  { number: 4, name: 'truncate-db', exitCode: EXIT.database, destroys: 'database', service: 'postgres' },
  { number: 5, name: 'flush-redis', exitCode: EXIT.redis, destroys: 'redis', service: 'redis', clearsBroker: true },
  { number: 6, name: 'run-test', exitCode: EXIT.test, destroys: null, service: 'api' },
  { number: 7, name: 'validate', exitCode: EXIT.validation, destroys: null, service: 'api' },
] as const satisfies readonly Step[]

export type PhaseName = (typeof PHASES)[number]['name']
export const PHASE_NAMES = PHASES.map((p) => p.name) as PhaseName[]

export const TASKS: Step[] = [
  { number: 0, name: 'restore', exitCode: EXIT.database, destroys: 'database', service: 'postgres' },
  { number: 0, name: 'rollback-code', exitCode: EXIT.environment, destroys: null },
  // Only a downgrade destroys anything (columns, tables, their data): it alone goes through the confirmation.
  {
    number: 0,
    name: 'rollback-db',
    exitCode: EXIT.database,
    service: 'api',
    destroys: (args) => (args[0] === 'downgrade' ? 'database' : null),
  },
  { number: 0, name: 'reset-circuit', exitCode: EXIT.redis, destroys: 'redis', service: 'redis' },
  { number: 0, name: 'check-circuit', exitCode: EXIT.redis, destroys: null, service: 'redis' },
  { number: 0, name: 'check-consistency', exitCode: EXIT.database, destroys: null, service: 'postgres' },
  { number: 0, name: 'docker-test', exitCode: EXIT.test, destroys: null, service: 'api' },
]

export const STEPS: readonly Step[] = [...PHASES, ...TASKS]

export function stepOf(name: string): Step {
  const step = STEPS.find((s) => s.name === name)
  if (!step) throw new Error(`no phase or task named ${name} in lib/run/registry.ts`)
  return step
}

/** The phase scripts in the registry's order; one missing or extra is an error. */
export function inOrder<T extends { name: string }>(scripts: T[]): T[] {
  const missing = PHASE_NAMES.filter((n) => !scripts.some((s) => s.name === n))
  const extra = scripts.filter((s) => !(PHASE_NAMES as string[]).includes(s.name)).map((s) => s.name)
  if (missing.length || extra.length)
    throw new Error(`the phases are ${PHASE_NAMES.join(', ')}; missing ${missing}; not phases ${extra}`)
  return PHASE_NAMES.map((n) => scripts.find((s) => s.name === n)!)
}

/** What a step destroys with these positional arguments. */
export const destroysOf = (step: Pick<Step, 'destroys'>, args: string[]): Destroys | null =>
  typeof step.destroys === 'function' ? step.destroys(args) : step.destroys
