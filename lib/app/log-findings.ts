// The errors the app logged, read from its log as a stream in bounded memory: those before the
// test started (the reset's: every worker a restart stops logs one in the real app) apart from
// those during the test. Printed short, saved whole.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { LogFile } from '../targets/target.ts'
import { masked } from '../util/output.ts'
import { FindingGroups, LogScanner, summarizeFindings, type Finding } from './logscan.ts'

export interface LogFindings {
  where: string
  /** Byte offset the test started at; undefined when no test start was recorded (all counts as the test's). */
  offset: number | undefined
  reset: { count: number; findings: Finding[]; lines: string[] }
  test: { count: number; findings: Finding[]; lines: string[] }
}

/** The findings as validate prints them, for the run page: counts and summary lines, and where all of them are. */
export interface FindingsSummary {
  /** "during the test", or "in the log (no test start recorded)". */
  label: string
  reset: { count: number; lines: string[] }
  test: { count: number; lines: string[] }
  /** The file every finding was saved to. */
  saved: string
}

/** Reads the whole log once, chunk by chunk: memory grows with the kinds of errors, not with the log. */
export async function logFindings(log: LogFile, offset: number | undefined): Promise<LogFindings> {
  const reset = new FindingGroups()
  const test = new FindingGroups()
  const scanner = new LogScanner((e) => (offset !== undefined && e.offset < offset ? reset : test).add(e))
  await log.stream(0, (chunk, at) => scanner.push(chunk, at))
  scanner.end()
  const [resetFindings, testFindings] = [reset.findings(), test.findings()]
  const testLines = summarizeFindings(testFindings, { maxLines: resetFindings.length ? 6 : 10 })
  const resetLines = summarizeFindings(resetFindings, { maxLines: 10 - testLines.length })
  return {
    where: await log.where(),
    offset,
    reset: { count: reset.total, findings: resetFindings, lines: resetLines },
    test: { count: test.total, findings: testFindings, lines: testLines },
  }
}

/** Every finding, saved as JSON (masked) under `dir`; returns the file. */
export function saveFindings(f: LogFindings, dir: string): string {
  const file = path.join(dir, `log-findings-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    file,
    masked(
      JSON.stringify(
        {
          log: f.where,
          testStartedAtByte: f.offset ?? null,
          duringTheReset: f.reset.findings,
          duringTheTest: f.test.findings,
        },
        null,
        2,
      ),
    ) + '\n',
  )
  return file
}
