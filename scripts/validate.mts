#!/usr/bin/env -S node --import tsx
// validate: check what holds after every good run — the checks of CHECKS_FILE (checks/fastapi-k8-proto.yaml
// by default: every campaign in a finished state, one FETCH_LEADS job per campaign, one ENRICH_LEAD job
// per lead, no unfinished or failed job, no duplicate email, a user and an organization, and the exact
// EXPECT_* numbers asked for); then summarise the errors the app logged, those of the reset apart from
// those of the test.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/run/cli.ts'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { withDatabase } from '../lib/access/database.ts'
import { groupFindings, scanLog, splitAt, summarizeFindings } from '../lib/app/logscan.ts'
import { masked, out, table } from '../lib/util/output.ts'
import { judge, loadChecks, relationsSql } from '../lib/app/checks.ts'

export default definePhase(import.meta, 'validate', {
  // The checks file is read before anything runs: a mistake in it is exit 9 with its line.
  check: (config) => loadChecks(config.test.checksFile, (k) => (config.values as Record<string, string>)[k]).problems,
  async run(ctx) {
    const { config, target } = ctx
    const { checks: file } = loadChecks(config.test.checksFile, (k) => (config.values as Record<string, string>)[k])
    const list = file.relations
    out.info(`checks from ${path.relative(process.cwd(), file.file) || file.file}${file.off.length ? `; off: ${file.off.join('; ')}` : ''}`)
    if (ctx.dryRun) {
      out.info(`[dry-run] nothing ran, so nothing is compared; would check: ${list.map((r) => r.name).join('; ')}`)
      return {}
    }
    const { sql } = relationsSql(list)
    const [row] = await withDatabase(ctx, (db) => db.rows<Record<string, number>>(sql))
    const checks = judge(list, row)
    ctx.checks.push(...checks)
    out.line(table([['check', 'relation', 'values', 'result'], ...checks.map((c) => [c.name, c.relation, c.values, c.ok ? 'ok' : 'FAILED'])]).replace(/^/gm, '    '))
    const failed = checks.filter((c) => !c.ok).map((c) => c.name)

    // The log: errors before the test started came from the reset (stopped workers log them)
    const where = await target.log.where()
    const entries = scanLog(await target.log.read())
    const offset = ctx.record.testLogOffset
    const { before: reset, after: test } = offset === undefined ? { before: [], after: entries } : splitAt(entries, offset)
    const [resetFindings, testFindings] = [groupFindings(reset), groupFindings(test)]
    const testLines = summarizeFindings(testFindings, { maxLines: resetFindings.length ? 6 : 10 })
    const resetLines = summarizeFindings(resetFindings, { maxLines: 10 - testLines.length })
    const report = path.join(SUITE_ROOT, 'logs', `log-findings-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    mkdirSync(path.dirname(report), { recursive: true })
    writeFileSync(report, masked(JSON.stringify({ log: where, testStartedAtByte: offset ?? null, duringTheReset: resetFindings, duringTheTest: testFindings }, null, 2)) + '\n')
    const label = offset === undefined ? 'in the log (no test start recorded)' : 'during the test'
    if (test.length) {
      ;(config.test.strictLogs ? out.fail : out.warn)(`${test.length} errors logged ${label}, ${testFindings.length} kinds:`)
      for (const l of testLines) out.info(l)
      if (config.test.strictLogs) failed.push('no errors logged during the test (--strict-logs)')
    } else out.ok(`no errors logged ${label}`)
    if (reset.length) {
      out.info(`${reset.length} errors logged during the reset (not judged; restarted workers log them):`)
      for (const l of resetLines) out.info(`  ${l}`)
    }
    out.info(`every finding: ${path.relative(process.cwd(), report)}`)
    if (config.test.strictLogs) ctx.checks.push({ name: 'no errors logged during the test', ok: test.length === 0, detail: testLines.join('; ') || 'none' })

    if (failed.length) throw new Error(`${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.join('; ')}`)
    out.ok(`all ${checks.length} checks hold`)
    return { checks: checks.length, logErrorsReset: reset.length, logErrorsTest: test.length }
  },
})
