// The run loop: the phases in order, the gates before the first change and before the first
// destruction, the later phases' read-only probes before the first phase, Ctrl-C checked between
// every step, a report per phase, the record for --resume kept after each, and on failure the
// exit code the error or the phase carries. Everything it touches comes in through the context
// and the hooks, so a test runs it with a fake target.
import { EXIT, isFailure, type ExitCode } from '../util/exits.ts'
import { exitCodeOf, messageOf, RefusedError } from '../util/errors.ts'
import { listenForMarks, masked, out, seconds } from '../util/output.ts'
import type { CheckResult } from '../app/checks.ts'
import type { Ctx, Figures, PhaseSpec } from './context.ts'
import { changesSomething, gate, preflight, type Confirm } from './gate.ts'
import { destroysOf, PHASES } from './registry.ts'

export interface PhaseReport {
  number: number
  name: string
  status: 'ok' | 'failed' | 'not run' | 'interrupted'
  durationMs: number
  figures: Figures
  checks: CheckResult[]
  error?: string
  /** When it started (ms since the epoch); absent when it did not run. */
  startedAt?: number
  /** Its ✓ lines with the time of each: a step ends at its mark, and the next begins. */
  steps?: StepMark[]
}

export interface StepMark {
  at: number
  text: string
}

export interface Outcome {
  exitCode: ExitCode
  reports: PhaseReport[]
  /** The phase that failed or was interrupted. */
  stopped?: string
  error?: unknown
}

export interface LoopHooks {
  confirm: Confirm
  /** The phase being run, for a signal handler that must record it before the process exits. */
  onPhase?: (name: string | undefined) => void
}

/** Runs the selected phases; never throws. */
export async function runPhases(ctx: Ctx, selected: PhaseSpec[], hooks: LoopHooks): Promise<Outcome> {
  const reports: PhaseReport[] = selected.map((p) => ({
    number: p.number,
    name: p.name,
    status: 'not run',
    durationMs: 0,
    figures: {},
    checks: [],
  }))
  let current: PhaseSpec | undefined
  try {
    const production = changesSomething(ctx, selected) ? await preflight(ctx) : []
    for (const later of selected.slice(1)) await later.probe?.(ctx)
    for (const [i, phase] of selected.entries()) {
      ctx.signal.throwIfAborted()
      current = phase
      hooks.onPhase?.(phase.name)
      if (destroysOf(phase, ctx.options.args) && !ctx.plan)
        ctx.plan = await gate(ctx, selected.slice(i), hooks.confirm, production)
      await runOne(ctx, phase, reports[i])
      ctx.record.completed(phase.name)
    }
    hooks.onPhase?.(undefined)
    return { exitCode: EXIT.ok, reports }
  } catch (e) {
    hooks.onPhase?.(undefined)
    const after = current ? selected.slice(selected.indexOf(current) + 1) : selected
    return { exitCode: await stop(ctx, e, current, reports, after), reports, stopped: current?.name, error: e }
  }
}

async function runOne(ctx: Ctx, phase: PhaseSpec, report: PhaseReport) {
  if (phase.number) out.phase(phase.number, PHASES.length, phase.name, phase.title)
  else out.line(`==> ${phase.name}: ${phase.title}`)
  const t0 = Date.now()
  ctx.checks = []
  const steps: StepMark[] = []
  const stopListening = listenForMarks((text) => steps.push({ at: Date.now(), text }))
  Object.assign(report, { startedAt: t0, steps })
  try {
    report.figures = (await phase.run(ctx)) ?? {}
    ctx.signal.throwIfAborted()
    report.status = 'ok'
  } finally {
    stopListening()
    report.durationMs = Date.now() - t0
    report.checks = ctx.checks
  }
  out.ok(`${phase.name} done in ${seconds(report.durationMs)}`)
}

/** Records and says what stopped the run, and what it had changed; returns its exit code. */
async function stop(
  ctx: Ctx,
  e: unknown,
  phase: PhaseSpec | undefined,
  reports: PhaseReport[],
  after: PhaseSpec[],
): Promise<ExitCode> {
  const aborted = ctx.signal.aborted
  const report = reports.find((r) => r.name === phase?.name)
  if (report) Object.assign(report, { status: aborted ? 'interrupted' : 'failed', error: masked(messageOf(e)) })
  if (phase && !(e instanceof RefusedError)) ctx.record.stopped(phase.name, aborted ? 'interrupted' : 'failed')
  if (aborted) {
    out.fail(
      `${phase?.name ?? 'run'} stopped: ${messageOf(ctx.signal.reason)}; no later phase ran; ` +
        `${whatChanged(ctx, after)}.${heldNote(ctx)} Rerun with --resume to continue.`,
    )
    return exitCodeOf(ctx.signal.reason, EXIT.interrupted)
  }
  if (e instanceof RefusedError) {
    const changes = ctx.record.changes
    // A refusal is said before anything changes; when something did (assess started a service), it says so.
    const said = changes.length ? e.message.replace(/([Nn])othing was changed/, '$1othing more was changed') : e.message
    out.fail(`refused: ${said}${changes.length ? ` Changed before the refusal: ${changes.join('; ')}.` : ''}`)
    await restartHeld(ctx)
    return e.exitCode
  }
  const part = (e as { part?: string }).part
  out.fail(
    `${part ? `the plan (${part}) for ${phase?.name ?? 'the run'}` : (phase?.name ?? 'run')} failed: ` +
      `${messageOf(e)}${then(messageOf(e))}${whatChanged(ctx, after)}.${heldNote(ctx)}`,
  )
  return exitCodeOf(e, phase?.exitCode ?? EXIT.environment)
}

/**
 * What the run changed before it stopped (each step says what it changed when it has), and what it
 * did not reach: the parts the later phases would have destroyed.
 */
export function whatChanged(ctx: Pick<Ctx, 'record' | 'options'>, after: PhaseSpec[]): string {
  const changes = ctx.record.changes
  const untouched = [...new Set(after.map((p) => destroysOf(p, ctx.options.args)).filter((d) => d !== null))]
  const parts: Record<string, string> = {
    logs: 'the log',
    containers: 'the containers',
    database: 'the database',
    redis: 'Redis',
  }
  const notYet = untouched.length ? `; not changed: ${untouched.map((d) => parts[d]).join(', ')}` : ''
  return changes.length ? `changed before it stopped: ${changes.join('; ')}${notYet}` : 'nothing was changed'
}

const heldNote = (ctx: Ctx) => {
  const note = ctx.mode.heldNote(ctx)
  return note ? ` ${note}` : ''
}

/** A message and what follows it: on the same line, or on a line of its own after a message of several. */
const then = (message: string) => (message.includes('\n') ? '\n      ' : '; ')

/** A refusal changes nothing: workers this run had already held are let go again. */
async function restartHeld(ctx: Ctx) {
  if (!ctx.record.held.length || ctx.dryRun) return
  try {
    const line = await ctx.mode.release(ctx)
    if (line) out.info(`${line}: the refusal leaves the stack as it was`)
  } catch (e) {
    out.warn(`${ctx.record.held.join(', ')} could not be let go (${messageOf(e)}); ./scripts/assess.mts starts them`)
  }
}

export { isFailure }
