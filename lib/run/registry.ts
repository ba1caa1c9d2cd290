// Every phase of the reset and every task of the suite, with every fact about each: number, name,
// title, exit code, what it destroys, what it is for, its flags. The scripts, --help, the summary,
// the plan, the diagnostics and the Makefile's list (checked by a test) all read this one table.
import { EXIT, type ExitCode } from '../util/exits.ts'
import type { FlagSpec } from './args.ts'

export type Destroys = 'logs' | 'containers' | 'database' | 'redis'

export interface Step {
  /** 1..7 for the phases of a reset; 0 for a task. */
  number: number
  /** The script's name without .mts, the Makefile target, the name in the summary. */
  name: string
  title: string
  exitCode: ExitCode
  /** What it destroys, for the plan; a function of the positional arguments when that depends on them (rollback-db). */
  destroys: Destroys | null | ((args: string[]) => Destroys | null)
  /** The server or service whose logs a failure of it wants in the diagnostics. */
  service?: 'api' | 'postgres' | 'redis'
  /** It starts stopped services: it changes the stack, so the gate before any change runs before it. */
  startsServices?: true
  /** It empties the broker: the worker services are held from the first destructive phase until it is done. */
  clearsBroker?: true
  purpose: string
  flags?: FlagSpec[]
  /** Positional arguments, for --help. */
  args?: string
}

export const PHASES = [
  { number: 1, name: 'assess', title: 'assess the environment', exitCode: EXIT.environment, destroys: null, startsServices: true,
    purpose: 'Check the Docker engine (or cluster), the containers, PostgreSQL, Redis, the test file and the log; start the required services that are not running.' },
  { number: 2, name: 'truncate-logs', title: 'truncate the shared log file', exitCode: EXIT.log, destroys: 'logs',
    purpose: 'Empty the shared log file (LOG_FILE) in place; create it and its directory when missing.' },
  { number: 3, name: 'restart', title: 'restart the containers and wait until ready', exitCode: EXIT.containers, destroys: 'containers',
    purpose: 'Restart the containers (RESTART_MODE restart | recreate | rebuild; SERVICES to limit) and wait until all are ready (READY_TIMEOUT).',
    flags: [['--services LIST', 'only these services or container names, e.g. api,worker or fastapi-k8-proto-api-1']] },
  { number: 4, name: 'truncate-db', title: 'truncate the database tables', exitCode: EXIT.database, destroys: 'database', service: 'postgres',
    purpose: 'Truncate RESET_TABLES (and the CASCADE_TABLES they reach) in one statement with RESTART IDENTITY, and check every table is empty.' },
  { number: 5, name: 'flush-redis', title: 'clear Redis', exitCode: EXIT.redis, destroys: 'redis', service: 'redis', clearsBroker: true,
    purpose: 'Clear Redis (REDIS_MODE flushall | flushdb | patterns, SCAN + UNLINK of REDIS_PATTERNS), then start the worker services held stopped.' },
  { number: 6, name: 'run-test', title: 'run the smoke test in the api container', exitCode: EXIT.test, destroys: null, service: 'api',
    purpose: 'Run TEST_COMMAND in the api container (TEST_TIMEOUT); pass when the exit code is 0, TEST_PASS_PATTERN matches and TEST_FAIL_PATTERN does not.' },
  { number: 7, name: 'validate', title: 'validate the results', exitCode: EXIT.validation, destroys: null, service: 'api',
    purpose: 'Check what a good run leaves in the database (the checks of CHECKS_FILE); report log errors of the reset and of the test apart (--strict-logs fails on the latter).',
    flags: [['--strict-logs', 'errors logged while the test ran fail the phase'], ['--checks-file FILE', 'the checks to make (CHECKS_FILE, default checks/fastapi-k8-proto.yaml)']] },
] as const satisfies readonly Step[]

export type PhaseName = (typeof PHASES)[number]['name']
export const PHASE_NAMES = PHASES.map((p) => p.name) as PhaseName[]

export const TASKS: Step[] = [
  { number: 0, name: 'restore', title: 'put back the rows and keys a --backup run saved', exitCode: EXIT.database, destroys: 'database', service: 'postgres',
    purpose: 'Restore a backup made with --backup: the saved tables are emptied (no CASCADE) and reloaded with their sequences, the saved Redis keys restored (REPLACE).',
    flags: [['--dir DIR', 'the backup folder (default: the newest under backups/)']] },
  { number: 0, name: 'rollback-code', title: 'roll the code back with git', exitCode: EXIT.environment, destroys: null,
    purpose: 'Show `git log --oneline -10`; --backup NAME makes backup-before-NAME, --revert COMMIT reverts it, --from-backup NAME branches rollback-NAME off backup-before-NAME. Refuses a dirty work tree.',
    flags: [
      ['--backup NAME', 'make the branch backup-before-NAME at HEAD (do this before the change)'],
      ['--revert COMMIT', 'git revert --no-edit COMMIT (a new commit undoing it)'],
      ['--from-backup NAME', 'check out backup-before-NAME into a new branch rollback-NAME'],
      ['--branch NAME', 'the branch --from-backup makes (default rollback-NAME)'],
      ['--repo DIR', 'the git repository (default: the one APP_DIR is in)'],
    ],
    args: '[NAME for --backup]' },
  { number: 0, name: 'rollback-db', title: 'move the database schema with the migration tool', exitCode: EXIT.database, service: 'api',
    // Only a downgrade destroys anything (columns, tables, their data): it alone goes through the confirmation.
    destroys: (args) => (args[0] === 'downgrade' ? 'database' : null),
    purpose: 'Run MIGRATION_CMD (default alembic; e.g. "flask db") in the api container. A downgrade lists the revisions it passes through and asks first; --backup saves RESET_TABLES before it.',
    flags: [['--migration-cmd CMD', 'the migration tool in the api container (MIGRATION_CMD), e.g. "flask db"']],
    args: 'current | history | upgrade [REV] | downgrade REV   (REV: id or unique prefix, base, head; relative after --: downgrade -- -1)' },
  { number: 0, name: 'reset-circuit', title: 'reset the circuit-breaker state in Redis', exitCode: EXIT.redis, destroys: 'redis', service: 'redis',
    purpose: "Delete the keys matching CIRCUIT_PATTERNS (default circuit_breaker:*, circuit_failures:*, queue_paused:*; circuit_breaker:* also covers the planned circuit_breaker:global) with SCAN + UNLINK in batches of 1000; --all empties the app's Redis db (FLUSHDB).",
    flags: [
      ['--circuit-patterns LIST', 'comma-separated SCAN patterns to delete (CIRCUIT_PATTERNS); * alone is refused'],
      ['--all', "FLUSHDB ASYNC of the app's Redis db (REDIS_DB): every key, not only the circuit breaker's"],
    ] },
  { number: 0, name: 'check-circuit', title: 'check the circuit breakers', exitCode: EXIT.redis, destroys: null, service: 'redis',
    purpose: 'Show state, opened at, failure count and queue of each CIRCUIT_SERVICES breaker (and circuit_breaker:global when present). Exit 7 when any is open, half_open or unreadable, or a queue is paused.',
    flags: [['--circuit-services LIST', 'services to check (CIRCUIT_SERVICES)']] },
  { number: 0, name: 'check-consistency', title: 'check jobs, campaigns and leads are consistent', exitCode: EXIT.database, destroys: null, service: 'postgres',
    purpose: 'Check the invariants of the circuit-breaker plan (lib/app/consistency.ts) and name the rows that break each. Exit 7 on any finding.',
    flags: [['--processing-limit MINUTES', 'a job PROCESSING longer than this (by updated_at) is stuck (PROCESSING_LIMIT, default 30)']] },
  { number: 0, name: 'docker-test', title: "run the app's pytest suite in a one-off api container", exitCode: EXIT.test, destroys: null, service: 'api',
    purpose: "Run `pytest tests/ -v` in a one-off api container (compose run --rm; an api pod on Kubernetes) and pass pytest's exit code on." },
]

/** The orchestrator: every phase in order, or a selection of them. */
export const RESET_AND_RUN = {
  name: 'reset_and_run',
  purpose: 'Reset the stack (logs, containers, database, Redis), run the smoke test and validate its results.',
  flags: [
    ['--from PHASE', 'start at this phase (name or number)'],
    ['--to PHASE', 'stop after this phase'],
    ['--only LIST', 'run only these phases (comma-separated)'],
    ['--skip LIST', 'skip these phases'],
    ['--resume', 'continue the previous run: its phases not completed; from the first destructive one when the test or validation stopped'],
    ['--restart-mode MODE', 'restart | in-place | recreate | rebuild'],
    ['--repeat N', 'the whole cycle N times: a row per run, the pass rate and the time per run at the end'],
    ['--until-fail', 'the whole cycle until a run fails (up to --repeat N when given); exits with that run\'s code'],
    ['--strict-logs', 'log errors fail validation'],
  ] as FlagSpec[],
}

/** The flags every script takes. */
export const COMMON_FLAGS: FlagSpec[] = [
  ['-y, --yes', 'do not ask for confirmation (required without a terminal)'],
  ['-n, --dry-run', 'show the plan and every command and SQL statement that would change something; change nothing'],
  ['--backup', 'save every row and Redis key the plan destroys under backups/<timestamp>/ first'],
  ['--json FILE', 'write a machine-readable report (with the plan); - writes it to stdout'],
  ['--junit FILE', 'write a JUnit report: a testcase per phase and per validation check'],
  ['--KEY-NAME VALUE', 'set any configuration key for this run, e.g. --restart-mode recreate, --expect-leads 87'],
  ['--version', 'print the version and exit'],
  ['-h, --help', 'show this help'],
]

export const STEPS: readonly Step[] = [...PHASES, ...TASKS]

export function stepOf(name: string): Step {
  const step = STEPS.find((s) => s.name === name)
  if (!step) throw new Error(`no phase or task named ${name} in lib/run/registry.ts`)
  return step
}

/** What a step destroys with these positional arguments. */
export const destroysOf = (step: Pick<Step, 'destroys'>, args: string[]): Destroys | null => (typeof step.destroys === 'function' ? step.destroys(args) : step.destroys)
