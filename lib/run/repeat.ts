// --repeat N and --until-fail: the whole cycle again and again, for flaky tests. A row per run
// (its verdict, each phase's seconds, the rows left), the pass rate and the time per run at the
// end, diagnostics kept per failed run; Ctrl-C between runs (or in one) stops cleanly.
import { EXIT, type ExitCode } from '../util/exits.ts'
import { out, seconds, table } from '../util/output.ts'
import type { Ctx, PhaseSpec } from './context.ts'
import { runPhases, type LoopHooks, type Outcome } from './loop.ts'
import { runIdOf } from './pages/history.ts'
import { finish, historyPage } from './report.ts'

export interface Repeat {
  /** How many runs at the most (Infinity with --until-fail alone). */
  runs: number
  untilFail: boolean
}

/** The repeat asked for, or null for one run; a malformed --repeat is a problem (exit 9). */
export function repeatOf(flags: Record<string, string | boolean>): Repeat | null | string {
  const untilFail = flags['until-fail'] === true
  if (flags.repeat === undefined) return untilFail ? { runs: Infinity, untilFail } : null
  const n = Number(flags.repeat)
  if (!/^\d+$/.test(String(flags.repeat)) || n < 1)
    return `--repeat ${JSON.stringify(flags.repeat)} must be a whole number of runs, 1 or more`
  return { runs: n, untilFail }
}

interface Row {
  run: number
  outcome: Outcome
  ms: number
}

/** Runs the cycle as asked; returns the exit code: 0 when every run passed, else the first failed run's. */
export async function repeatRuns(
  fresh: () => Ctx,
  selected: PhaseSpec[],
  hooks: LoopHooks,
  repeat: Repeat,
  script: string,
  flags: Record<string, string | boolean>,
): Promise<ExitCode> {
  const rows: Row[] = []
  let yes = false
  const series = runIdOf(Date.now()) // the runs' pages say they belong together
  let history: string | null = null
  for (let run = 1; run <= repeat.runs; run++) {
    const ctx = fresh()
    history = ctx.dryRun ? null : historyPage(ctx.config)
    if (ctx.signal.aborted) break // Ctrl-C between runs
    ctx.options.yes ||= yes // asked once: the first run's confirmation covers the rest
    out.line(`==> run ${run}${Number.isFinite(repeat.runs) ? ` of ${repeat.runs}` : ' (until one fails)'}`)
    const t0 = Date.now()
    const outcome = await runPhases(ctx, selected, hooks)
    const of = Number.isFinite(repeat.runs) ? repeat.runs : null
    await finish(ctx, script, outcome, t0, { ...flags, json: false, junit: false }, { id: series, run, of })
    rows.push({ run, outcome, ms: Date.now() - t0 })
    yes = yes || outcome.reports.some((r) => r.status !== 'not run')
    if (ctx.signal.aborted || outcome.exitCode === EXIT.refused || outcome.exitCode === EXIT.usage) break
    if (outcome.exitCode !== EXIT.ok && repeat.untilFail) break
  }
  printRuns(rows, selected)
  if (history && rows.length) out.line(`every run, these ${rows.length} together: ${history}`)
  return rows.find((r) => r.outcome.exitCode !== EXIT.ok)?.outcome.exitCode ?? EXIT.ok
}

function printRuns(rows: Row[], selected: PhaseSpec[]) {
  const head = ['run', 'verdict', ...selected.map((p) => p.name), 'rows left', 'total']
  const body = rows.map(({ run, outcome, ms }) => [
    String(run),
    outcome.exitCode === EXIT.ok
      ? 'passed'
      : `failed (exit ${outcome.exitCode}${outcome.stopped ? `, ${outcome.stopped}` : ''})`,
    ...selected.map((p) => {
      const r = outcome.reports.find((x) => x.name === p.name)
      return r && r.status !== 'not run' ? seconds(r.durationMs) : '-'
    }),
    String(outcome.reports.find((r) => r.figures.rows !== undefined)?.figures.rows ?? '-'),
    seconds(ms),
  ])
  const passed = rows.filter((r) => r.outcome.exitCode === EXIT.ok).length
  const mean = rows.length ? rows.reduce((n, r) => n + r.ms, 0) / rows.length : 0
  out.line('')
  out.line(table([head, ...body]))
  out.line(
    `passed ${passed} of ${rows.length} runs (${rows.length ? Math.round((100 * passed) / rows.length) : 0}%), ` +
      `${seconds(mean)} per run`,
  )
}
