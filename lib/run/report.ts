// The end of a run: the summary table, the JSON report (a file, or stdout with --json -), the
// JUnit file, on a failure the diagnostics folder, and the run's page with the history of runs
// (REPORT_DIR: reports/<run id>/index.html and reports/index.html), named by the last line.
// Returns the exit code.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isFailure } from '../util/exits.ts'
import { messageOf } from '../util/errors.ts'
import { writeJunit } from '../util/junit.ts'
import { masked, out, seconds, table } from '../util/output.ts'
import type { Config, Ctx } from './context.ts'
import { writeDiagnostics } from './diagnostics.ts'
import type { Outcome, PhaseReport } from './loop.ts'
import { runIdOf } from './pages/history.ts'
import { changedSettings, type RunReport, type Series } from './pages/run-page.ts'
import { claimRunDir, writePages } from './pages/write.ts'

/** What a run's end does, in its order: diagnostics, the summary, the page, the reports, the last line. */
export async function finish(
  ctx: Ctx,
  script: string,
  outcome: Outcome,
  started: number,
  flags: Record<string, string | boolean>,
  series?: Series,
): Promise<number> {
  const { exitCode, reports } = outcome
  const claimed = pagesWanted(ctx, reports) ? claim(ctx.config, started) : null
  let diagnostics: string | undefined
  const reportOf = (): RunReport => ({
    script,
    dryRun: ctx.dryRun,
    exitCode,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    target: ctx.target.describe(),
    plan: ctx.plan,
    phases: reports,
    notes: ctx.notes,
    diagnostics,
    runId: claimed?.id ?? runIdOf(started),
    ...(series ? { series } : {}),
    restartMode: ctx.config.restart.mode,
    ...(outcome.stopped ? { stopped: outcome.stopped } : {}),
    settings: changedSettings(ctx.config),
    ...ctx.observed,
  })
  if (isFailure(exitCode)) {
    diagnostics = await writeDiagnostics(ctx, {
      error: messageOf(outcome.error),
      phase: outcome.stopped,
      report: reportOf(),
    }).catch((e) => {
      out.warn(`could not write the diagnostics: ${messageOf(e)}`)
      return undefined
    })
    if (diagnostics) out.info(`diagnostics: ${diagnostics}`)
  }
  if (reports.length > 1 || exitCode !== 0) printSummary(reports, Date.now() - started, exitCode)
  for (const note of ctx.notes) out.warn(note)
  const json = masked(JSON.stringify(reportOf(), null, 2)) + '\n'
  let pages: { page: string; history: string } | undefined
  if (claimed)
    try {
      pages = writePages(ctx.config.report.dir, ctx.config.report.keep, claimed.dir, json)
    } catch (e) {
      out.warn(`could not write the run's page: ${messageOf(e)}`)
    }
  if (typeof flags.json === 'string') writeReport(flags.json, json)
  if (typeof flags.junit === 'string')
    writeReport(flags.junit, masked(writeJunit(script.replace(/\.mts$/, ''), reports)))
  if (pages) out.line(`page: ${shown(pages.page)} (every run: ${shown(pages.history)})`)
  return exitCode
}

const shown = (file: string) => path.relative(process.cwd(), file) || file

/** A page for a run of the phases (not a task, not a dry run), when REPORT_DIR is set. */
const pagesWanted = (ctx: Ctx, reports: PhaseReport[]) =>
  Boolean(ctx.config.report.dir) && !ctx.dryRun && reports.some((r) => r.number > 0)

function claim(config: Config, started: number): { id: string; dir: string } | null {
  try {
    return claimRunDir(config.report.dir, started)
  } catch (e) {
    out.warn(`no page for this run: ${messageOf(e)}`)
    return null
  }
}

/** The history page, when runs write pages (for the last line of a --repeat). */
export const historyPage = (config: Config): string | null =>
  config.report.dir ? shown(path.join(config.report.dir, 'index.html')) : null

/** A report file, or stdout for "-" (the human output then went to stderr). */
function writeReport(file: string, text: string) {
  if (file === '-') return void process.stdout.write(text)
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
  writeFileSync(file, text)
}

export function printSummary(reports: PhaseReport[], totalMs: number, exitCode: number) {
  const rows = [['phase', 'status', 'duration', 'figures']]
  for (const r of reports) {
    const figures = Object.entries(r.figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    rows.push([
      r.number ? `${r.number} ${r.name}` : r.name,
      r.status,
      r.status === 'not run' ? '' : seconds(r.durationMs),
      figures,
    ])
  }
  out.line('')
  out.line(table(rows))
  out.line(`total ${seconds(totalMs)}, exit code ${exitCode}`)
}
