#!/usr/bin/env -S node --import tsx
// validate: compare the database with the expected results of the test (EXPECT_* keys) and
// scan the shared log for errors.
import { existsSync, readFileSync } from 'node:fs'
import { definePhase } from '../lib/main.ts'
import { withDatabase } from '../lib/db.ts'
import { compare, logProblems } from '../lib/expect.ts'
import { out, table } from '../lib/output.ts'

/** What each expectation counts. Edit here for an app with another schema. */
const MEASURES: Record<string, string> = {
  EXPECT_CAMPAIGNS: 'SELECT count(*) FROM campaigns',
  EXPECT_LEADS: 'SELECT count(*) FROM leads',
  EXPECT_FETCH_JOBS_COMPLETED: "SELECT count(*) FROM jobs WHERE job_type::text = 'FETCH_LEADS' AND status::text = 'COMPLETED'",
  EXPECT_ENRICH_JOBS_COMPLETED: "SELECT count(*) FROM jobs WHERE job_type::text = 'ENRICH_LEAD' AND status::text = 'COMPLETED'",
  EXPECT_FAILED_JOBS: "SELECT count(*) FROM jobs WHERE status::text = 'FAILED'",
  EXPECT_PAUSED_CAMPAIGNS: "SELECT count(*) FROM campaigns WHERE status::text = 'PAUSED'",
  EXPECT_USERS_MIN: 'SELECT count(*) FROM users',
  EXPECT_ORGANIZATIONS_MIN: 'SELECT count(*) FROM organizations',
}

export default definePhase(import.meta, {
  name: 'validate',
  purpose: 'Compare the database with EXPECT_* and scan LOG_FILE for ERROR/CRITICAL/Traceback lines (--strict-logs fails on them).',
  flags: [['--strict-logs', 'log errors fail the phase']],
  destroys: null,
  async run(ctx) {
    const { config, options } = ctx
    if (options.dryRun) {
      out.info(`[dry-run] nothing ran, so nothing is compared; would check: ${config.expectations.map((e) => `${e.label} ${e.op} ${e.value}`).join(', ')}`)
      return {}
    }
    const keys = config.expectations.map((e) => e.key)
    const actual = await withDatabase(ctx, async (db) => {
      const [row] = await db.rows<Record<string, number>>(`SELECT ${keys.map((k) => `(${MEASURES[k]})::int AS "${k}"`).join(', ')}`)
      return Object.fromEntries(keys.map((k) => [k, Number(row[k])]))
    })
    const checks = compare(config.expectations, actual)
    out.line(table([['check', 'expected', 'actual', ''], ...checks.map((c) => [c.label, `${c.op === '>=' ? '>= ' : ''}${c.value}`, String(c.actual), c.ok ? 'ok' : 'MISMATCH'])]).replace(/^/gm, '    '))
    const failed = checks.filter((c) => !c.ok).map((c) => c.label)

    const problems = existsSync(config.logFile) ? logProblems(readFileSync(config.logFile, 'utf8')) : []
    if (problems.length) {
      const show = `${problems.length} ERROR/CRITICAL/Traceback lines in ${config.logFile}; first:\n${problems.slice(0, 5).map((l) => `      ${l}`).join('\n')}`
      if (config.strictLogs) failed.push('log errors (--strict-logs)')
      ;(config.strictLogs ? out.fail : out.warn)(show)
    } else out.ok(`no ERROR/CRITICAL/Traceback lines in ${config.logFile}`)

    if (failed.length) throw new Error(`${failed.length} expectation${failed.length > 1 ? 's' : ''} not met: ${failed.join(', ')}`)
    out.ok(`all ${checks.length} expectations met`)
    return { checks: checks.length, logErrors: problems.length }
  },
})
