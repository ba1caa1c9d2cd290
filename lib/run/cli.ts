// The one entry wrapper: argument parsing, --help, the gate before destruction, running phases
// with Ctrl-C checked between every step, the summary, the JSON and JUnit reports, diagnostics on
// failure, and exit codes. No script repeats any of it, and no stack trace reaches a user.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import minimist from 'minimist'
import { ConfigError, ENV_PREFIX, flagsToKeys, KEYS, loadConfig, SUITE_ROOT, type Config } from '../config/config.ts'
import type { Ctx, Figures, Options, PhaseSpec, RunRecord, CheckResult } from './context.ts'
import { writeDiagnostics } from './diagnostics.ts'
import { Interrupted, RefusedError } from './errors.ts'
import { writeJunit } from '../util/junit.ts'
import { EXIT, PHASES, SelectionError } from './registry.ts'
import { masked, out, seconds, setSecrets, table } from '../util/output.ts'
import { createRunner } from '../util/command.ts'
import { acquireLock, gate, readRunRecord, writeRunRecord } from '../safety/gate.ts'
import { createTarget } from '../targets/index.ts'
import { realClock } from '../util/wait.ts'

export interface PhaseReport {
  number: number
  name: string
  status: 'ok' | 'failed' | 'not run' | 'interrupted'
  durationMs: number
  figures: Figures
  checks: CheckResult[]
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
  /** Choose phases from the parsed flags and the last run's record (the orchestrator). */
  select?: (flags: minimist.ParsedArgs, previous: RunRecord | null) => { phases: string[]; note?: string }
}

const COMMON_FLAGS: [string, string][] = [
  ['-y, --yes', 'do not ask for confirmation (required without a terminal)'],
  ['-n, --dry-run', 'show the plan and every command and SQL statement that would change something; change nothing'],
  ['--backup', 'save every row and Redis key the plan destroys under backups/<timestamp>/ first'],
  ['--json FILE', 'write a machine-readable report (with the plan)'],
  ['--junit FILE', 'write a JUnit report: a testcase per phase and per validation check'],
  ['--KEY-NAME VALUE', 'set any configuration key for this run, e.g. --restart-mode recreate, --expect-leads 87'],
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
    `Configuration: --key-name flags, then ${ENV_PREFIX}KEY_NAME environment variables, then the suite's .env; see .env.example.`,
    "Variables without the prefix (APP_DIR, SERVICES, LOG_FILE, DATABASE_URL, ...) belong to other tools and are never read.",
    'Exit codes: 0 ok, 1 environment, 2 log file, 3 containers, 4 database, 5 Redis, 6 test, 7 validation,',
    '            8 refused (production, another stack, unnamed table, no confirmation, run in progress), 9 bad configuration, 130 interrupted.',
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
    string: ['json', 'junit', 'from', 'to', 'only', 'skip'],
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
  const own = new Set([...booleans, 'json', 'junit', 'from', 'to', 'only', 'skip', 'h', 'y', 'n', ...declared.filter((f) => !isKey(f))])
  const keyFlags = Object.fromEntries(Object.entries(parsed).filter(([k]) => k !== '_' && !own.has(k)))
  const { values, unknown } = flagsToKeys(keyFlags)
  if (parsed['strict-logs']) values.STRICT_LOGS = 'true'
  const problems: string[] = []
  if (unknown.length) problems.push(`unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => `--${u}`).join(', ')} (see --help)`)
  if (parsed._.length && !spec.args) problems.push(`unexpected argument${parsed._.length > 1 ? 's' : ''}: ${parsed._.join(' ')}`)
  if (!spec.selectable && ['from', 'to', 'only', 'skip', 'resume'].some((f) => parsed[f])) problems.push('--from, --to, --only, --skip and --resume belong to reset_and_run.mts')
  for (const f of ['json', 'junit']) if (parsed[f] === '') problems.push(`--${f} needs a file name`)
  let config: Config | undefined
  try {
    config = loadConfig({ flags: values })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    problems.push(...e.problems)
  }
  let names: string[] = spec.phases.map((p) => p.name)
  let note: string | undefined
  const previous = config ? readRunRecord(config.stateDir, config.project) : null
  try {
    if (spec.select && config) ({ phases: names, note } = spec.select(parsed, previous))
  } catch (e) {
    if (!(e instanceof SelectionError)) throw e
    problems.push(e.message)
  }
  if (config) for (const p of spec.phases.filter((p) => names.includes(p.name))) problems.push(...(p.check?.(config) ?? []))
  if (problems.length || !config) {
    out.fail(`nothing was changed; fix these first:\n${problems.map((p) => `      - ${p}`).join('\n')}`)
    return EXIT.usage
  }
  setSecrets(config.secrets)

  // Ctrl-C or SIGTERM: the current step stops, no later phase starts; a second one quits at once.
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
  const target = createTarget(config, run, realClock, controller.signal)
  const selected = spec.phases.filter((p) => names.includes(p.name))
  for (const p of selected) if (p.configure) config = p.configure(config, parsed)
  // The seven phases keep a record for --resume; tasks (restore, rollback-db, ...) and dry runs do not.
  const records = selected.some((p) => infoOf(p).number > 0) && !options.dryRun
  const ctx: Ctx = {
    config,
    options,
    run,
    clock: realClock,
    signal: controller.signal,
    target,
    phases: selected.map((p) => p.name),
    record: { selected: selected.map((p) => p.name), completed: [], held: previous?.held, testLogOffset: previous?.testLogOffset },
    plan: null,
    checks: [],
    saveRecord: () => {
      if (records) writeRunRecord(config.stateDir, config.project, ctx.record)
    },
  }
  const reports: PhaseReport[] = selected.map((p) => ({ number: infoOf(p).number, name: p.name, status: 'not run', durationMs: 0, figures: {}, checks: [] }))
  const started = Date.now()
  let exitCode: number = EXIT.ok
  let diagnostics: string | undefined
  let release = () => {}
  if (options.dryRun) out.line('==> dry run: nothing will be changed')
  if (note) out.line(`==> ${note}`)

  let current: PhaseSpec | undefined
  try {
    if (!options.dryRun) release = acquireLock(config.stateDir, config.project, spec.script)
    for (const [i, phase] of selected.entries()) {
      controller.signal.throwIfAborted()
      current = phase
      const report = reports[i]
      const info = infoOf(phase)
      // Before the first destructive phase: the plan, the checks of the target, the confirmation.
      // What goes wrong there is this phase's failure, or a refusal.
      if (phase.destroys && !ctx.plan) ctx.plan = await gate(ctx, selected.slice(i))
      if (info.number) out.phase(info.number, PHASES.length, phase.name, info.title)
      else out.line(`==> ${phase.name}: ${info.title}`)
      const t0 = Date.now()
      ctx.checks = []
      try {
        report.figures = (await phase.run(ctx)) ?? {}
        controller.signal.throwIfAborted()
        report.status = 'ok'
      } finally {
        report.durationMs = Date.now() - t0
        report.checks = ctx.checks
      }
      ctx.record.completed.push(phase.name)
      ctx.saveRecord()
      out.ok(`${phase.name} done in ${seconds(report.durationMs)}`)
    }
  } catch (e) {
    const aborted = controller.signal.aborted
    const report = reports.find((r) => r.name === current?.name)
    if (report) {
      report.status = aborted ? 'interrupted' : 'failed'
      report.error = masked(message(e))
    }
    if (current && !(e instanceof RefusedError)) {
      ctx.record.stopped = { phase: current.name, how: aborted ? 'interrupted' : 'failed' }
      ctx.saveRecord()
    }
    exitCode = await fail(ctx, e, current, aborted)
    if (exitCode >= 1 && exitCode <= 7) {
      diagnostics = await writeDiagnostics(ctx, { error: message(e), phase: current?.name, report: reportOf() }).catch((d) => {
        out.warn(`could not write the diagnostics: ${message(d)}`)
        return undefined
      })
      if (diagnostics) out.info(`diagnostics: ${diagnostics}`)
    }
  } finally {
    release()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await target.close().catch(() => {})
  }

  function reportOf() {
    return { script: spec.script, dryRun: options.dryRun, exitCode, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, target: target.describe(), plan: ctx.plan, phases: reports, diagnostics }
  }
  if (selected.length > 1 || exitCode !== EXIT.ok) printSummary(reports, Date.now() - started, exitCode)
  if (typeof parsed.json === 'string' && parsed.json) writeReport(parsed.json, masked(JSON.stringify(reportOf(), null, 2)) + '\n')
  if (typeof parsed.junit === 'string' && parsed.junit) writeReport(parsed.junit, masked(writeJunit(spec.script.replace(/\.mts$/, ''), reports)))
  return exitCode
}

function writeReport(file: string, text: string) {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
  writeFileSync(file, text)
}

/** Number, title and exit code of a phase, or of a task from its own spec. */
function infoOf(spec: PhaseSpec) {
  return PHASES.find((p) => p.name === spec.name) ?? { number: 0, name: spec.name, exitCode: spec.exitCode ?? 1, title: spec.title ?? spec.name }
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}

/** Prints what went wrong and what a person would look at next; returns the exit code. */
async function fail(ctx: Ctx, e: unknown, phase: PhaseSpec | undefined, aborted: boolean): Promise<number> {
  const held = ctx.record.held?.length ? ` ${ctx.record.held.join(', ')} ${ctx.record.held.length > 1 ? 'are' : 'is'} held stopped until flush-redis runs (--resume runs it; ./scripts/assess.mts starts them too).` : ''
  if (aborted) {
    out.fail(`${phase?.name ?? 'run'} stopped: ${message(ctx.signal.reason)}; no later phase ran.${held} Rerun with --resume to continue.`)
    return EXIT.interrupted
  }
  if (e instanceof RefusedError) {
    out.fail(`refused: ${e.message}`)
    return EXIT.refused
  }
  const planning = (e as { planning?: string }).planning
  out.fail(`${planning ? `the plan (${planning}) for ${phase?.name ?? 'the run'}` : (phase?.name ?? 'run')} failed: ${message(e)}; nothing was changed${held}`)
  // An error may carry its own code (a task's bad arguments: 9; a check that found something: 7).
  const own = (e as { exitCode?: unknown }).exitCode
  return typeof own === 'number' ? own : phase ? infoOf(phase).exitCode : 1
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
