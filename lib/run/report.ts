// The end of a run: the summary table, the JSON report (a file, or stdout with --json -), the
// JUnit file, and on a failure the diagnostics folder. Returns the exit code.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isFailure } from '../util/exits.ts'
import { messageOf } from '../util/errors.ts'
import { writeJunit } from '../util/junit.ts'
import { masked, out, seconds, table } from '../util/output.ts'
import type { Ctx } from './context.ts'
import { writeDiagnostics } from './diagnostics.ts'
import type { Outcome, PhaseReport } from './loop.ts'

export async function finish(
  ctx: Ctx,
  script: string,
  outcome: Outcome,
  started: number,
  flags: Record<string, string | boolean>,
): Promise<number> {
  const { exitCode, reports } = outcome
  let diagnostics: string | undefined
  const reportOf = () => ({
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
  if (typeof flags.json === 'string') writeReport(flags.json, masked(JSON.stringify(reportOf(), null, 2)) + '\n')
  if (typeof flags.junit === 'string')
    writeReport(flags.junit, masked(writeJunit(script.replace(/\.mts$/, ''), reports)))
  return exitCode
}

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
