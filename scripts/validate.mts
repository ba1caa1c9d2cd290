#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// validate: check what holds after every good run — the checks of CHECKS_FILE (by default: every
// campaign in a finished state, one FETCH_LEADS job per campaign, one ENRICH_LEAD job per lead, no
// unfinished or failed job, no duplicate email, a user and an organization, and the exact EXPECT_*
// numbers asked for); then summarise the errors the app logged, the reset's apart from the test's.
// The checks only read: PostgreSQL refuses a write in them, and they are run so once before anything
// is touched, so that a check that writes stops the run at once (exit 9), not after the reset.
import path from 'node:path'
import { countRows } from '../lib/access/catalog.ts'
import { withDatabase } from '../lib/access/database.ts'
import { showCount } from '../lib/access/sql.ts'
import { ChecksWrite, countChecks, judge, loadChecks, type Checks } from '../lib/app/checks.ts'
import { logFindings, saveFindings } from '../lib/app/log-findings.ts'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { definePhase } from '../lib/run/cli.ts'
import { CheckFailed, UsageError } from '../lib/util/errors.ts'
import { out, table } from '../lib/util/output.ts'

const settingsOf = (values: Record<string, string>) => (k: string) => values[k]

/** The checks, read once before anything runs (a mistake in the file is exit 9 with its line). */
let checksFile: Checks | undefined

export default definePhase(import.meta, 'validate', {
  title: 'validate the results',
  purpose:
    'Check what a good run leaves in the database (the checks of CHECKS_FILE); report the errors logged ' +
    'during the reset and during the test apart (STRICT_LOGS fails on the latter).',
  settings: ['CHECKS_FILE', 'STRICT_LOGS', 'EXPECT_CAMPAIGNS', 'CAMPAIGN_FINISHED_STATES'],
  check(config) {
    const { checks, problems } = loadChecks(config.test.checksFile, settingsOf(config.values))
    checksFile = checks
    return problems
  },
  /** Before anything is touched, the checks run once, read-only: one that writes is exit 9 now. */
  async probe(ctx) {
    await withDatabase(ctx, (db) => countChecks(db, checksFile!.relations)).catch((e) => {
      if (e instanceof ChecksWrite) throw writing(e, false)
      // Anything else (the server not up yet, a table the migrations make) is for validate itself to say
    })
  },
  async run(ctx) {
    const { config, target } = ctx
    const file = checksFile!
    const off = file.off.length ? `; off: ${file.off.join('; ')}` : ''
    out.info(`checks from ${path.relative(process.cwd(), file.file) || file.file}${off}`)
    if (ctx.dryRun) {
      out.info(
        `[dry-run] nothing ran, so nothing is compared; would check: ${file.relations.map((r) => r.name).join('; ')}`,
      )
      return {}
    }
    const [row, left] = await withDatabase(ctx, (db) =>
      Promise.all([countChecks(db, file.relations), countRows(db, config.database.tables)]),
    ).catch((e) => {
      throw e instanceof ChecksWrite ? writing(e, ctx.phases[0] !== 'validate') : e
    })
    const checks = judge(file.relations, row)
    ctx.checks.push(...checks)
    out.line(
      table([
        ['check', 'relation', 'values', 'result'],
        ...checks.map((c) => [c.name, c.relation, c.values, c.ok ? 'ok' : 'FAILED']),
      ]).replace(/^/gm, '    '),
    )
    const failed = checks.filter((c) => !c.ok).map((c) => c.name)

    // The log, read as it streams: errors before the test started came from the reset
    const f = await logFindings(target.log, ctx.record.testLogOffset)
    const label = f.offset === undefined ? 'in the log (no test start recorded)' : 'during the test'
    if (f.test.count) {
      ;(config.test.strictLogs ? out.fail : out.warn)(
        `${f.test.count} errors logged ${label}, ${f.test.findings.length} kinds:`,
      )
      for (const l of f.test.lines) out.info(l)
      if (config.test.strictLogs) failed.push('no errors logged during the test (--strict-logs)')
    } else out.ok(`no errors logged ${label}`)
    if (f.reset.count) {
      out.info(`${f.reset.count} errors logged during the reset (not judged; restarted workers log them):`)
      for (const l of f.reset.lines) out.info(`  ${l}`)
    }
    const saved = saveFindings(f, path.join(SUITE_ROOT, 'logs'))
    out.info(`every finding: ${path.relative(process.cwd(), saved)}`)
    const summary = (g: typeof f.test) => ({ count: g.count, lines: g.lines })
    ctx.observed.findings = { label, reset: summary(f.reset), test: summary(f.test), saved }
    if (config.test.strictLogs)
      ctx.checks.push({
        name: 'no errors logged during the test',
        ok: f.test.count === 0,
        detail: f.test.lines.join('; ') || 'none',
      })

    if (failed.length)
      throw new Error(`${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.join('; ')}`)
    out.ok(`all ${checks.length} checks hold`)
    const rows = Object.entries(left)
      .map(([t, n]) => `${t}:${showCount(n)}`)
      .join(' ')
    return { checks: checks.length, rows, logErrorsReset: f.reset.count, logErrorsTest: f.test.count }
  },
})

/**
 * Checks that tried to write (PostgreSQL refused, nothing was written): a mistake of the checks
 * file, exit 9 while the run has touched nothing yet (the probe, or validate run first), else 7.
 */
function writing(e: ChecksWrite, touched: boolean): Error {
  return touched ? new CheckFailed(e.message) : new UsageError(e.message)
}
