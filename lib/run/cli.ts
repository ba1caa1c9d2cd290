// The one entry wrapper every script goes through: the command line, --help and --version, the
// configuration (any problem: exit 9 before anything is touched), the parts of the run (runner,
// target, lock, record, signals), the loop, the reports and the exit code. No script repeats any of
// it, and no stack trace reaches a user.
import { setMaxListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { flagOf, KEYS, loadConfig, stateKey, SUITE_ROOT, type Config, type Key } from '../config/config.ts'
import { modeFor } from '../modes/index.ts'
import { createTarget } from '../targets/index.ts'
import { createRunner, type Runner } from '../util/command.ts'
import { Interrupted, messageOf, SuiteError } from '../util/errors.ts'
import { EXIT, EXIT_MEANINGS, signalExit } from '../util/exits.ts'
import { humanOutputToStderr, out, setSecrets } from '../util/output.ts'
import { realClock } from '../util/wait.ts'
import type { Target } from '../targets/target.ts'
import { parseArgs, type FlagSpec, type Parsed } from './args.ts'
import type { Ctx, Options, PhaseSpec, Words } from './context.ts'
import { askOnTerminal, type Confirm } from './gate.ts'
import { runPhases } from './loop.ts'
import { acquireLock, RunRecord, type RunRecordData } from './record.ts'
import { stepOf } from './registry.ts'
import { finish } from './report.ts'
import { repeatOf, repeatRuns, type Repeat } from './repeat.ts'

export interface ScriptSpec extends Omit<Words, 'title'> {
  /** Script name as typed, e.g. truncate-db.mts */
  script: string
  /** Phases this script may run, in order. */
  phases: PhaseSpec[]
  /** Choose phases from the parsed flags and the last run's record (the orchestrator). */
  select?: (flags: Parsed['flags'], previous: RunRecordData | null) => { phases: string[]; note?: string }
}

/** What a run is built from; tests pass fakes. */
export interface Parts {
  runner?: (config: Config, dryRun: boolean) => Runner
  target?: (config: Config, run: Runner, signal: AbortSignal) => Target
  confirm?: Confirm
  /** Where the lock and record live; null: none (a test's). */
  stateDir?: string | null
}

/** The flags every script takes. */
export const COMMON_FLAGS: FlagSpec[] = [
  ['-y, --yes', 'do not ask for confirmation (required without a terminal)'],
  ['-n, --dry-run', 'show the plan and every command and SQL statement that would change something; change nothing'],
  ['--backup', 'save every row and Redis key the plan destroys under backups/<timestamp>/ first'],
  ['--json FILE', 'write a machine-readable report (with the plan); - writes it to stdout'],
  ['--junit FILE', 'write a JUnit report: a testcase per phase and per validation check'],
  ['--version', 'print the version and exit'],
  ['-h, --help', 'show this help'],
]

/** A setting as --help shows it: its flag, its meaning, its default. */
const settingLine = (key: Key): FlagSpec => {
  const [value, meaning] = KEYS[key]
  return [`--${flagOf(key)} VALUE`, `${key}: ${meaning}${value ? ` (default ${value})` : ''}`]
}

export const VERSION: string = JSON.parse(readFileSync(path.join(SUITE_ROOT, 'package.json'), 'utf8')).version

export function usage(spec: ScriptSpec): string {
  const flags = [...(spec.flags ?? []), ...COMMON_FLAGS]
  const settings = [...new Set([...(spec.settings ?? []), ...spec.phases.flatMap((p) => p.settings ?? [])])].map(
    settingLine,
  )
  const width = Math.max(...[...flags, ...settings].map(([f]) => f.length))
  const lines = (list: FlagSpec[]) => list.map(([f, m]) => `  ${f.padEnd(width)}  ${m}`)
  const codes = Object.entries(EXIT_MEANINGS).map(([code, meaning]) => `${code} ${meaning}`)
  return [
    `usage: ./scripts/${spec.script} [options]${spec.args ? ` ${spec.args}` : ''}`,
    '',
    spec.purpose,
    '',
    'options:',
    ...lines(flags),
    ...(settings.length ? ['', 'settings it reads (any setting is also --key-name VALUE):', ...lines(settings)] : []),
    '',
    "Configuration: --key-name flags, then RT_KEY_NAME environment variables, then the suite's .env; see .env.example.",
    'Variables without the prefix (APP_DIR, SERVICES, LOG_FILE, DATABASE_URL, ...) belong to other tools and are ' +
      'never read.',
    `Exit codes: ${codes.join(', ')}.`,
  ].join('\n')
}

export async function runScript(spec: ScriptSpec, argv = process.argv.slice(2)): Promise<never> {
  process.exit(await execute(spec, argv))
}

/** Runs a script to its exit code; never throws. */
export async function execute(spec: ScriptSpec, argv: string[], parts: Parts = {}): Promise<number> {
  const parsed = parseArgs(argv, [...(spec.flags ?? []), ...COMMON_FLAGS])
  if (parsed.flags.help) return (void console.log(usage(spec)), EXIT.ok)
  if (parsed.flags.version) return (void console.log(`reset-and-test ${VERSION}`), EXIT.ok)
  if (parsed.flags.json === '-') humanOutputToStderr()
  const prepared = prepare(spec, parsed, parts)
  if ('problems' in prepared) {
    out.fail(`nothing was changed; fix these first:\n${prepared.problems.map((p) => `      - ${p}`).join('\n')}`)
    return EXIT.usage
  }
  setSecrets(prepared.config.secrets)
  const run = assemble(parsed, prepared, parts)
  if (run.dryRun) out.line('==> dry run: nothing will be changed')
  if (prepared.note) out.line(`==> ${prepared.note}`)
  return carryOut(spec, parsed, prepared, run, parts)
}

type Prepared = Exclude<ReturnType<typeof prepare>, { problems: string[] }>

/** The parts of a run: its signal, runner, target, and a fresh context for each run (--repeat makes several). */
function assemble(parsed: Parsed, prepared: Prepared, parts: Parts) {
  const { config, selected, previous } = prepared
  const controller = new AbortController()
  setMaxListeners(100, controller.signal) // every command of a run listens to it, some side by side
  const dryRun = Boolean(parsed.flags['dry-run'])
  const runner =
    parts.runner ?? ((c, d) => createRunner({ dryRun: d, secrets: c.secrets, defaultTimeoutMs: c.commandTimeoutMs }))
  const run = runner(config, dryRun)
  const target = (parts.target ?? ((c, r, s) => createTarget(c, r, realClock, s)))(config, run, controller.signal)
  const stateDir = parts.stateDir === undefined ? config.stateDir : parts.stateDir
  // The seven phases keep a record for --resume; tasks and dry runs do not.
  const keeps = stateDir && !dryRun && selected.some((p) => p.number > 0)
  const recordFile = keeps ? path.join(stateDir, `${stateKey(config)}.last-run.json`) : null
  const names = selected.map((p) => p.name)
  let record = new RunRecord(recordFile, names, previous)
  const fresh = (): Ctx => {
    record = new RunRecord(recordFile, names, record.snapshot)
    const mode = modeFor(config.restart.mode)
    const options = optionsOf(parsed)
    return {
      config,
      target,
      signal: controller.signal,
      dryRun,
      run,
      options,
      phases: names,
      record,
      plan: null,
      mode,
      checks: [],
      notes: [],
      observed: {},
    }
  }
  return { controller, dryRun, target, stateDir, fresh, record: () => record }
}

/** Under the run lock and listening for signals: the phases (once, or --repeat), the reports, the exit code. */
async function carryOut(
  spec: ScriptSpec,
  parsed: Parsed,
  prepared: Prepared,
  run: ReturnType<typeof assemble>,
  parts: Parts,
) {
  const { config, selected, repeat } = prepared
  let current: string | undefined
  const stopListening = listenForSignals(run.controller, () => {
    if (current) run.record().stopped(current, 'interrupted') // the second signal exits at once: the record first
  })
  const started = Date.now()
  let release = () => {}
  try {
    if (!run.dryRun && run.stateDir)
      release = acquireLock(path.join(run.stateDir, `${stateKey(config)}.lock`), spec.script)
    const hooks = { confirm: parts.confirm ?? askOnTerminal, onPhase: (name: string | undefined) => (current = name) }
    if (repeat) return await repeatRuns(run.fresh, selected, hooks, repeat, spec.script, parsed.flags)
    const ctx = run.fresh()
    const outcome = await runPhases(ctx, selected, hooks)
    return await finish(ctx, spec.script, outcome, started, parsed.flags)
  } catch (e) {
    out.fail(messageOf(e))
    return e instanceof SuiteError ? e.exitCode : EXIT.environment
  } finally {
    release()
    stopListening()
    await run.target.close().catch(() => {})
  }
}

/** The configuration and the phases to run; every problem at once. */
function prepare(
  spec: ScriptSpec,
  parsed: Parsed,
  parts: Parts,
):
  | { config: Config; selected: PhaseSpec[]; note?: string; previous: RunRecordData | null; repeat: Repeat | null }
  | { problems: string[] } {
  const problems = [...parsed.problems]
  const repeat = repeatOf(parsed.flags)
  if (typeof repeat === 'string') problems.push(repeat)
  if (parsed.positionals.length && !spec.args)
    problems.push(`unexpected argument${parsed.positionals.length > 1 ? 's' : ''}: ${parsed.positionals.join(' ')}`)
  let config: Config | undefined
  try {
    config = loadConfig({ flags: parsed.settings as Record<string, string> })
  } catch (e) {
    problems.push(...((e as { problems?: string[] }).problems ?? [messageOf(e)]))
  }
  if (!config) return { problems }
  const stateDir = parts.stateDir === undefined ? config.stateDir : parts.stateDir
  const previous = stateDir ? RunRecord.read(path.join(stateDir, `${stateKey(config)}.last-run.json`)) : null
  let names = spec.phases.map((p) => p.name)
  let note: string | undefined
  try {
    if (spec.select) ({ phases: names, note } = spec.select(parsed.flags, previous))
  } catch (e) {
    problems.push(messageOf(e))
  }
  const selected = spec.phases.filter((p) => names.includes(p.name))
  for (const p of selected) if (p.configure) config = p.configure(config, optionsOf(parsed))
  for (const p of selected) problems.push(...(p.check?.(config, optionsOf(parsed)) ?? []))
  problems.push(...modeFor(config.restart.mode).problems(config))
  return problems.length ? { problems } : { config, selected, note, previous, repeat: repeat as Repeat | null }
}

function optionsOf(parsed: Parsed): Options {
  return {
    yes: Boolean(parsed.flags.yes),
    backup: parsed.flags.backup === true,
    backupDir: path.join(SUITE_ROOT, 'backups', new Date().toISOString().replace(/[:.]/g, '-')),
    flags: parsed.flags,
    args: parsed.positionals,
  }
}

/**
 * Ctrl-C, SIGTERM or SIGHUP: the current step stops, no later phase starts, the exit code says
 * which signal. A second one quits at once — after `beforeExit` has recorded where the run stood.
 */
function listenForSignals(controller: AbortController, beforeExit: () => void): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      beforeExit()
      process.exit(signalExit(sig))
    }
    out.warn(`${sig} received: stopping the current phase (again to quit at once)`)
    controller.abort(new Interrupted(sig))
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  return () => signals.forEach((s) => process.off(s, onSignal))
}

/**
 * A phase (or task) script: its facts from the registry, its own words and behaviour; run it when
 * the file is executed, hand it to the orchestrator when imported.
 */
export function definePhase(
  meta: ImportMeta,
  name: string,
  own: Omit<PhaseSpec, keyof ReturnType<typeof stepOf>>,
): PhaseSpec {
  const phase: PhaseSpec = { ...stepOf(name), ...own }
  const file = fileURLToPath(meta.url)
  if (process.argv[1] && path.resolve(process.argv[1]) === file) {
    void runScript({
      script: path.basename(file),
      purpose: phase.purpose,
      flags: phase.flags,
      args: phase.args,
      phases: [phase],
    })
  }
  return phase
}
