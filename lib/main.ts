// The one entry wrapper: argument parsing, --help, the safety gate, running phases,
// the summary, the JSON report and exit codes. No script repeats any of it, and no
// stack trace reaches a user.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import minimist from 'minimist'
import { ConfigError, flagsToKeys, KEYS, loadConfig, mask, SUITE_ROOT, type Config } from './config.ts'
import { Compose, describe, detectCompose } from './compose.ts'
import { EXIT, PHASES, SelectionError, type PhaseName } from './phases.ts'
import { out, seconds, setSecrets, table } from './output.ts'
import { createRunner, type Runner } from './run.ts'
import { realClock, type Clock } from './wait.ts'
import { acquireLock, guardTarget, RefusedError, readRunState, writeRunState } from './safety.ts'

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

export interface Ctx {
  config: Config
  options: Options
  run: Runner
  clock: Clock
  signal: AbortSignal
  /** The project's compose stack; the compose command is detected on first use. */
  compose(): Promise<Compose>
}

export interface PhaseSpec {
  /** A phase of the reset, or another task of the suite (restore, rollback-db, ...). */
  name: PhaseName | string
  /** For tasks that are not one of the seven phases: their title and exit code on failure. */
  title?: string
  exitCode?: number
  /** What the phase destroys, for the confirmation; null when it destroys nothing. */
  destroys: 'logs' | 'containers' | 'database' | 'redis' | null
  /** Lines for the confirmation saying exactly what this task destroys; default: from the configuration. */
  inventory?: (ctx: Ctx) => Promise<string[]>
  run(ctx: Ctx): Promise<Figures | void>
}

export interface PhaseReport {
  number: number
  name: string
  status: 'ok' | 'failed' | 'skipped' | 'not run' | 'interrupted'
  durationMs: number
  figures: Figures
  error?: string
}

export interface ScriptSpec {
  /** Script name as typed, e.g. truncate-db.mts */
  script: string
  purpose: string
  /** Script-specific flags for --help: [flag, meaning]. */
  flags?: [string, string][]
  booleans?: string[]
  /** Phases this script may run, in order. */
  phases: PhaseSpec[]
  /** Positional arguments the script takes, for --help (e.g. "REVISION"); none when unset. */
  args?: string
  /** Accept --from/--to/--only/--skip/--resume (the orchestrator). */
  selectable?: boolean
  /** Choose phases from the parsed flags (the orchestrator). */
  select?: (flags: minimist.ParsedArgs, previous: ReturnType<typeof readRunState>) => string[]
}

const COMMON_FLAGS: [string, string][] = [
  ['-y, --yes', 'do not ask for confirmation (required without a terminal)'],
  ['-n, --dry-run', 'print every command and SQL statement that would change something, change nothing'],
  ['--backup', 'save the rows and Redis keys about to be deleted under backups/<timestamp>/ first'],
  ['--json FILE', 'write a machine-readable report'],
  ['--KEY-NAME VALUE', 'set any configuration key for this run, e.g. --restart-mode recreate, --expect-leads 20'],
  ['-h, --help', 'show this help'],
]

export function usage(spec: ScriptSpec): string {
  const flags = [...(spec.flags ?? []), ...COMMON_FLAGS]
  const width = Math.max(...flags.map(([f]) => f.length))
  const lines = [
    `usage: ./scripts/${spec.script} [options]${spec.args ? ` ${spec.args}` : ''}`,
    '',
    spec.purpose,
    '',
    'options:',
    ...flags.map(([f, m]) => `  ${f.padEnd(width)}  ${m}`),
    '',
    'Configuration comes from .env, the environment and --key-name flags; see .env.example.',
    'Exit codes: 0 ok, 1 environment, 2 log file, 3 containers, 4 database, 5 Redis, 6 test, 7 validation,',
    '            8 refused (production target, no confirmation, run in progress), 9 bad configuration, 130 interrupted.',
  ]
  return lines.join('\n')
}

export async function runScript(spec: ScriptSpec, argv = process.argv.slice(2)): Promise<never> {
  const code = await execute(spec, argv)
  process.exit(code)
}

/** Runs a script to its exit code; never throws. */
export async function execute(spec: ScriptSpec, argv: string[]): Promise<number> {
  const booleans = ['help', 'yes', 'dry-run', 'backup', 'resume', 'strict-logs', ...(spec.booleans ?? [])]
  const parsed = minimist(argv, {
    boolean: booleans,
    string: ['json', 'from', 'to', 'only', 'skip'],
    alias: { h: 'help', y: 'yes', n: 'dry-run' },
  })
  if (parsed.help) {
    console.log(usage(spec))
    return EXIT.ok
  }

  // Configuration and selection: any problem here stops the run before anything is touched.
  // A script's own flags stay its own; a flag named like a configuration key sets that key.
  const isKey = (flag: string) => flag.toUpperCase().replace(/-/g, '_') in KEYS
  const declared = (spec.flags ?? []).map(([f]) => f.split(/[ ,]/)[0].replace(/^--?/, ''))
  const own = new Set([...booleans, 'json', 'from', 'to', 'only', 'skip', 'h', 'y', 'n', ...declared.filter((f) => !isKey(f))])
  const keyFlags = Object.fromEntries(Object.entries(parsed).filter(([k]) => k !== '_' && !own.has(k)))
  const { values, unknown } = flagsToKeys(keyFlags)
  if (parsed['strict-logs']) values.STRICT_LOGS = 'true'
  const problems: string[] = []
  if (unknown.length) problems.push(`unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => `--${u}`).join(', ')} (see --help)`)
  if (parsed._.length && !spec.args) problems.push(`unexpected argument${parsed._.length > 1 ? 's' : ''}: ${parsed._.join(' ')}`)
  if (!spec.selectable && ['from', 'to', 'only', 'skip', 'resume'].some((f) => parsed[f])) problems.push('--from, --to, --only, --skip and --resume belong to reset_and_run.mts')
  let config: Config | undefined
  try {
    config = loadConfig({ flags: values })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    problems.push(...e.problems)
  }
  let names: string[] = spec.phases.map((p) => p.name)
  try {
    if (spec.select && config) names = spec.select(parsed, readRunState(config.stateDir, config.project))
  } catch (e) {
    if (!(e instanceof SelectionError)) throw e
    problems.push(e.message)
  }
  if (problems.length || !config) {
    out.fail(`nothing was changed; fix these first:\n${problems.map((p) => `      - ${p}`).join('\n')}`)
    return EXIT.usage
  }
  setSecrets(config.secrets)

  const controller = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    out.warn(`${sig} received: stopping the current phase (again to quit at once)`)
    controller.abort(new Interrupted(sig))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const options: Options = {
    yes: Boolean(parsed.yes),
    dryRun: Boolean(parsed['dry-run']),
    backup: Boolean(parsed.backup),
    backupDir: path.join(SUITE_ROOT, 'backups', new Date().toISOString().replace(/[:.]/g, '-')),
    flags: parsed,
  }
  const run = createRunner({ dryRun: options.dryRun, secrets: config.secrets, defaultTimeoutMs: config.commandTimeoutMs })
  let compose: Compose | undefined
  const cfg = config
  const ctx: Ctx = {
    config,
    options,
    run,
    clock: realClock,
    signal: controller.signal,
    compose: async () => (compose ??= new Compose(run, () => detectCompose(run, cfg.composeCmd), cfg)),
  }
  const selected = spec.phases.filter((p) => names.includes(p.name))
  const reports: PhaseReport[] = selected.map((p) => ({ ...pick(infoOf(p)), status: 'not run', durationMs: 0, figures: {} }))
  const started = Date.now()
  let exitCode: number = EXIT.ok
  let release = () => {}
  if (options.dryRun) out.line('==> dry run: nothing will be changed')

  try {
    if (!options.dryRun) release = acquireLock(config.stateDir, config.project, spec.script)
    let guarded = false
    for (const [i, phase] of selected.entries()) {
      const report = reports[i]
      const info = infoOf(phase)
      if (phase.destroys && !guarded) {
        // What goes wrong before the confirmation is this phase's failure (or a refusal).
        await guardTarget(ctx, selected.slice(i)).catch((e) => {
          throw e instanceof RefusedError ? e : Object.assign(e instanceof Error ? e : new Error(String(e)), { phase })
        })
        guarded = true
      }
      if (info.number) out.phase(info.number, PHASES.length, phase.name, info.title)
      else out.line(`==> ${phase.name}: ${info.title}`)
      const t0 = Date.now()
      try {
        report.figures = (await phase.run(ctx)) ?? {}
        report.status = 'ok'
        if (!options.dryRun && info.number) writeRunState(config.stateDir, config.project, { selected: names as PhaseName[], completed: phase.name as PhaseName })
      } catch (e) {
        report.status = controller.signal.aborted ? 'interrupted' : 'failed'
        report.error = mask(message(e), config.secrets)
        throw Object.assign(e instanceof Error ? e : new Error(String(e)), { phase })
      } finally {
        report.durationMs = Date.now() - t0
      }
      out.ok(`${phase.name} done in ${seconds(report.durationMs)}`)
    }
  } catch (e) {
    exitCode = await fail(ctx, e, controller.signal.aborted)
  } finally {
    release()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  if (selected.length > 1 || exitCode !== EXIT.ok) printSummary(reports, Date.now() - started, exitCode)
  if (typeof parsed.json === 'string' && parsed.json) {
    const report = { script: spec.script, dryRun: options.dryRun, exitCode, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, phases: reports }
    mkdirSync(path.dirname(path.resolve(parsed.json)), { recursive: true })
    writeFileSync(parsed.json, JSON.stringify(report, null, 2) + '\n')
  }
  return exitCode
}

function pick(p: { number: number; name: string }) {
  return { number: p.number, name: p.name }
}

/** Number, title and exit code of a phase, or of a task from its own spec. */
function infoOf(spec: PhaseSpec) {
  return PHASES.find((p) => p.name === spec.name) ?? { number: 0, name: spec.name, exitCode: spec.exitCode ?? 1, title: spec.title ?? spec.name }
}

export class Interrupted extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`)
  }
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}

/** Prints what went wrong and what a person would look at next; returns the exit code. */
async function fail(ctx: Ctx, e: unknown, aborted: boolean): Promise<number> {
  const phase = (e as { phase?: PhaseSpec }).phase
  if (aborted) {
    out.fail(`${phase?.name ?? 'run'} stopped: ${message(ctx.signal.reason)}. Rerun with --resume to continue after the last completed phase.`)
    return EXIT.interrupted
  }
  if (e instanceof RefusedError) {
    out.fail(`refused: ${e.message}`)
    return EXIT.refused
  }
  out.fail(`${phase?.name ?? 'run'} failed: ${message(e)}`)
  // An error may carry its own code (a task's bad arguments: 9; a check that found something: 7).
  const own = (e as { exitCode?: unknown }).exitCode
  const code = typeof own === 'number' ? own : phase ? infoOf(phase).exitCode : 1
  // Container states help where containers are involved: environment, restart, database, Redis, test.
  if ([1, 3, 4, 5, 6].includes(code)) await printContainers(ctx)
  return code
}

async function printContainers(ctx: Ctx) {
  try {
    const compose = await ctx.compose()
    const all = await compose.containers()
    out.line(`    containers of ${ctx.config.project}: ${all.length ? '' : 'none'}`)
    for (const c of all) out.line(`      ${describe(c)}`)
  } catch {
    // Diagnostics never hide the original error.
  }
}

function printSummary(reports: PhaseReport[], totalMs: number, exitCode: number) {
  const rows = [['phase', 'status', 'duration', 'figures']]
  for (const r of reports) {
    const figures = Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(' ')
    rows.push([r.number ? `${r.number} ${r.name}` : r.name, r.status, r.status === 'not run' ? '' : seconds(r.durationMs), figures])
  }
  out.line('')
  out.line(table(rows))
  out.line(`total ${seconds(totalMs)}, exit code ${exitCode}`)
}



export interface PhaseScript extends PhaseSpec {
  purpose: string
  flags?: [string, string][]
  /** Flags of this script that take no value. */
  booleans?: string[]
  args?: string
}

/** A phase (or task) script: run it when the file is executed, hand it to the orchestrator when imported. */
export function definePhase(meta: ImportMeta, phase: PhaseScript): PhaseScript {
  const file = path.basename(new URL(meta.url).pathname)
  if (process.argv[1] && path.resolve(process.argv[1]) === new URL(meta.url).pathname) {
    void runScript({ script: file, purpose: phase.purpose, flags: phase.flags, booleans: phase.booleans, args: phase.args, phases: [phase] })
  }
  return phase
}
