// The one entry wrapper every script goes through: the command line, --help and --version, the
// configuration (any problem: exit 9 before anything is touched), the parts of the run (runner,
// target, lock, record, signals), the loop, the reports and the exit code. No script repeats any of
// it, and no stack trace reaches a user.
import { setMaxListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig, SUITE_ROOT, type Config } from '../config/config.ts'
import { modeFor } from '../modes/index.ts'
import { createTarget } from '../targets/index.ts'
import { createRunner, type Runner } from '../util/command.ts'
import { Interrupted, messageOf, SuiteError } from '../util/errors.ts'
import { EXIT, EXIT_MEANINGS, signalExit } from '../util/exits.ts'
import { humanOutputToStderr, out, setSecrets } from '../util/output.ts'
import { realClock } from '../util/wait.ts'
import type { Target } from '../targets/target.ts'
import { parseArgs, type FlagSpec, type Parsed } from './args.ts'
import type { Ctx, Options, PhaseSpec } from './context.ts'
import { askOnTerminal, type Confirm } from './gate.ts'
import { runPhases } from './loop.ts'
import { acquireLock, RunRecord, stateKey, type RunRecordData } from './record.ts'
import { COMMON_FLAGS, stepOf } from './registry.ts'
import { finish } from './report.ts'
import { repeatOf, repeatRuns, type Repeat } from './repeat.ts'

export interface ScriptSpec {
  /** Script name as typed, e.g. truncate-db.mts */
  script: string
  purpose: string
  /** The script's own flags (COMMON_FLAGS are added). */
  flags?: FlagSpec[]
  /** Positional arguments the script takes, for --help; none when unset. */
  args?: string
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

export const VERSION: string = JSON.parse(readFileSync(path.join(SUITE_ROOT, 'package.json'), 'utf8')).version

export function usage(spec: ScriptSpec): string {
  const flags = [...(spec.flags ?? []), ...COMMON_FLAGS]
  const width = Math.max(...flags.map(([f]) => f.length))
  const codes = Object.entries(EXIT_MEANINGS).map(([code, meaning]) => `${code} ${meaning}`)
  return [
    `usage: ./scripts/${spec.script} [options]${spec.args ? ` ${spec.args}` : ''}`,
    '',
    spec.purpose,
    '',
    'options:',
    ...flags.map(([f, m]) => `  ${f.padEnd(width)}  ${m}`),
    '',
    "Configuration: --key-name flags, then RT_KEY_NAME environment variables, then the suite's .env; see .env.example.",
    'Variables without the prefix (APP_DIR, SERVICES, LOG_FILE, DATABASE_URL, ...) belong to other tools and are never read.',
    `Exit codes: ${codes.join(', ')}.`,
  ].join('\n')
}

export async function runScript(spec: ScriptSpec, argv = process.argv.slice(2)): Promise<never> {
  process.exit(await execute(spec, argv))
}

/** Runs a script to its exit code; never throws. */
export async function execute(spec: ScriptSpec, argv: string[], parts: Parts = {}): Promise<number> {
  const parsed = parseArgs(argv, [...(spec.flags ?? []), ...COMMON_FLAGS])
  if (parsed.flags.help) return void console.log(usage(spec)), EXIT.ok
  if (parsed.flags.version) return void console.log(`reset-and-test ${VERSION}`), EXIT.ok
  if (parsed.flags.json === '-') humanOutputToStderr()
  const prepared = prepare(spec, parsed, parts)
  if ('problems' in prepared) {
    out.fail(`nothing was changed; fix these first:\n${prepared.problems.map((p) => `      - ${p}`).join('\n')}`)
    return EXIT.usage
  }
  const { config, selected, note, previous, repeat } = prepared
  setSecrets(config.secrets)
  const controller = new AbortController()
  setMaxListeners(100, controller.signal) // every command of a run listens to it, some side by side
  const dryRun = Boolean(parsed.flags['dry-run'])
  const run = (parts.runner ?? ((c, d) => createRunner({ dryRun: d, secrets: c.secrets, defaultTimeoutMs: c.commandTimeoutMs })))(config, dryRun)
  const target = (parts.target ?? ((c, r, s) => createTarget(c, r, realClock, s)))(config, run, controller.signal)
  const stateDir = parts.stateDir === undefined ? config.stateDir : parts.stateDir
  // The seven phases keep a record for --resume; tasks and dry runs do not.
  const keeps = stateDir && !dryRun && selected.some((p) => p.number > 0)
  const recordFile = keeps ? path.join(stateDir, `${stateKey(config)}.last-run.json`) : null
  let record = new RunRecord(recordFile, selected.map((p) => p.name), previous)
  const fresh = (): Ctx => {
    record = new RunRecord(recordFile, selected.map((p) => p.name), record.snapshot)
    const mode = modeFor(config.restart.mode)
    return { config, target, signal: controller.signal, dryRun, run, options: optionsOf(parsed), phases: selected.map((p) => p.name), record, plan: null, mode, checks: [] }
  }
  if (dryRun) out.line('==> dry run: nothing will be changed')
  if (note) out.line(`==> ${note}`)

  let current: string | undefined
  const stopListening = listenForSignals(controller, () => {
    if (current) record.stopped(current, 'interrupted') // the second signal exits at once: the record first
  })
  const started = Date.now()
  let release = () => {}
  try {
    if (!dryRun && stateDir) release = acquireLock(path.join(stateDir, `${stateKey(config)}.lock`), spec.script)
    const hooks = { confirm: parts.confirm ?? askOnTerminal, onPhase: (name: string | undefined) => (current = name) }
    if (repeat) return await repeatRuns(fresh, selected, hooks, repeat, spec.script, parsed.flags)
    const ctx = fresh()
    const outcome = await runPhases(ctx, selected, hooks)
    return await finish(ctx, spec.script, outcome, started, parsed.flags)
  } catch (e) {
    out.fail(messageOf(e))
    return e instanceof SuiteError ? e.exitCode : EXIT.environment
  } finally {
    release()
    stopListening()
    await target.close().catch(() => {})
  }
}

/** The configuration and the phases to run; every problem at once. */
function prepare(spec: ScriptSpec, parsed: Parsed, parts: Parts): { config: Config; selected: PhaseSpec[]; note?: string; previous: RunRecordData | null; repeat: Repeat | null } | { problems: string[] } {
  const problems = [...parsed.problems]
  const repeat = repeatOf(parsed.flags)
  if (typeof repeat === 'string') problems.push(repeat)
  if (parsed.positionals.length && !spec.args) problems.push(`unexpected argument${parsed.positionals.length > 1 ? 's' : ''}: ${parsed.positionals.join(' ')}`)
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

/** A phase (or task) script: its facts from the registry; run it when the file is executed, hand it to the orchestrator when imported. */
export function definePhase(meta: ImportMeta, name: string, hooks: Omit<PhaseSpec, keyof ReturnType<typeof stepOf>> & Partial<PhaseSpec>): PhaseSpec {
  const phase: PhaseSpec = { ...stepOf(name), ...hooks }
  const file = fileURLToPath(meta.url)
  if (process.argv[1] && path.resolve(process.argv[1]) === file) {
    void runScript({ script: path.basename(file), purpose: phase.purpose, flags: phase.flags, args: phase.args, phases: [phase] })
  }
  return phase
}
