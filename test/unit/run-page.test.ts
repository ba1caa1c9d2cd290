// The run page and the history of runs without a browser: the jobs in rows of their groups, the
// phases and their steps, the settings shown, the pages' HTML, the folders kept and pruned, and a
// run's end naming its page.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../lib/config/config.ts'
import { execute } from '../../lib/run/cli.ts'
import type { PhaseSpec } from '../../lib/run/context.ts'
import { historyView, RUN_ID, runIdOf, toPrune } from '../../lib/run/pages/history.ts'
import {
  changedSettings,
  finishedPerSecond,
  packRows,
  phaseBars,
  runPageHtml,
  verdictOf,
  workView,
} from '../../lib/run/pages/run-page.ts'
import { readHistory } from '../../lib/run/pages/write.ts'
import { out } from '../../lib/util/output.ts'
import { FIXTURE, fixtureRun, fixtureRuns, writeRuns } from '../fixtures/run-page/fixture.ts'
import { phaseOf } from './fake-target.ts'
import { quietly } from './quietly.ts'

const tmp = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix))

test('each job in the first free row of its group: a group is as high as the jobs it ran at once', () => {
  const { rows, height } = packRows([
    { start: 0, end: 10 },
    { start: 2, end: 4 },
    { start: 5, end: 6 },
    { start: 10, end: 12 },
    { start: 3, end: 11 },
  ])
  assert.equal(rows, [0, 1, 1, 0, 2])
  assert.is(height, 3)
  assert.equal(
    finishedPerSecond(
      [
        { end: 1500, done: true },
        { end: 1999, done: true },
        { end: 3100, done: true },
        { end: 3200, done: false },
      ],
      1000,
    ),
    [
      { at: 0, n: 2 },
      { at: 2, n: 1 },
    ],
  )
})

test("the fixture run's work: 97 bars in 10 groups in the order they started, every job finished, the test's window", () => {
  const r = fixtureRun()
  const w = workView(r.work!, r.startedAt)
  assert.equal([w.jobs.length, w.groups.length], [FIXTURE.jobs, FIXTURE.campaigns])
  assert.is(w.jobs.filter((j) => j.kind === 'ENRICH_LEAD COMPLETED').length, FIXTURE.enrich)
  assert.is(
    w.finished.reduce((n, b) => n + b.n, 0),
    FIXTURE.jobs,
  )
  const firsts = w.groups.map((g) =>
    Math.min(...w.jobs.filter((j) => j.row >= g.first && j.row < g.first + g.rows).map((j) => j.start)),
  )
  assert.equal(
    firsts,
    [...firsts].sort((a, b) => a - b),
  )
  assert.is(
    w.rows,
    w.groups.reduce((n, g) => n + g.rows, 0),
  )
  assert.ok(
    w.groups.every((g) => g.label.length <= 9 && g.title.includes(': ')),
    'UUIDs cut to 8 characters',
  )
  assert.ok(w.domain[0] <= w.test[0] && w.domain[1] >= w.test[1] && w.test[0] > 1, `${w.domain} ${w.test}`)
  assert.is(w.queue!.length, r.work!.queue!.samples.length)
})

test('the phases as bars in seconds since the run started; their steps end at their ✓ lines', () => {
  const r = fixtureRun()
  const { bars, steps } = phaseBars(r)
  assert.equal(
    bars.map((b) => b.label),
    ['1 assess', '2 truncate-logs', '3 restart', '4 truncate-db', '5 flush-redis', '6 run-test', '7 validate'],
  )
  assert.is(bars[0].start, 0)
  const restart = steps.filter((s) => s.phase === '3 restart')
  assert.is(restart[0].start, bars[2].start)
  assert.is(restart[1].start, restart[0].end)
  assert.is(
    steps.length,
    r.phases.reduce((n, p) => n + (p.steps?.length ?? 0), 0),
  )
  const failed = fixtureRuns()[2]
  assert.is(phaseBars(failed).bars.length, 6, 'validate did not run: no bar')
  assert.is(verdictOf(failed), 'failed: exit 6 (test), in run-test')
})

test('the settings shown: those not at their default, with where each came from; a password is never shown', () => {
  const config = loadConfig({
    env: { RT_READY_TIMEOUT: '300', RT_REDIS_PASSWORD: 's3cret' },
    flags: { EXPECT_LEADS: '87' },
  })
  const shown = changedSettings(config).filter((s) =>
    ['READY_TIMEOUT', 'REDIS_PASSWORD', 'EXPECT_LEADS'].includes(s.key),
  )
  assert.equal(shown, [
    { key: 'READY_TIMEOUT', value: '300', from: 'RT_READY_TIMEOUT in the environment' },
    { key: 'REDIS_PASSWORD', value: '(set, not shown)', from: 'RT_REDIS_PASSWORD in the environment' },
    { key: 'EXPECT_LEADS', value: '87', from: '--expect-leads' },
  ])
})

test('the run page: self-contained (no URL to fetch, a CSP forbidding any), its data unable to close its script', () => {
  const r = fixtureRun()
  r.phases[6].checks[0].name = 'a </script><script>alert(1)</script> check'
  const html = runPageHtml(r, '/work/reports/x')
  assert.match(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'/,
  )
  assert.not.match(html, /<script[^>]+src=|<link[^>]+href=|@import|url\(http/i)
  assert.match(html, /id="verdict">✓ passed/)
  assert.not.match(html, /<\/script><script>alert/)
  assert.match(html, /a &lt;\/script&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt; check/)
  const data = JSON.parse(/<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html)![1])
  assert.equal([data.phases.length, data.work.jobs.length], [7, 97])
  assert.match(html, /\/\* d3 7\.[\d.]+ \*\/[^]*\/\* @observablehq\/plot 0\.6\.[\d.]+ \*\//)
  assert.match(html, /<a href="\.\.\/index.html">the history of runs<\/a>/)
  r.testLog = '/work/logs/run-test-1.log'
  assert.match(runPageHtml(r, '/work/reports/x'), /<a href="\.\.\/\.\.\/logs\/run-test-1\.log">/)
})

test('the history: phases stacked run by run, the runs of a --repeat banded, the slowest phase run by run', () => {
  const runs = fixtureRuns()
  const dir = tmp('history-')
  writeRuns(dir, runs)
  const v = historyView(readHistory(dir), [
    'assess',
    'truncate-logs',
    'restart',
    'truncate-db',
    'flush-redis',
    'run-test',
    'validate',
  ])
  assert.equal(
    v.runs.map((r) => r.passed),
    [true, true, false],
  )
  assert.equal(v.series, [{ first: 1, last: 2, label: '--repeat 2' }])
  assert.equal(v.segments.filter((s) => s.i === 2).length, 6)
  const first = v.segments.filter((s) => s.i === 0)
  assert.ok(
    first.every((s, k) => k === 0 || s.y1 === first[k - 1].y2),
    'stacked',
  )
  assert.is(v.slowest!.phase, 'run-test')
  assert.equal(
    v.slowest!.points.map((p) => p.passed),
    [true, true, false],
  )
})

test('run ids sort by time; the oldest runs beyond REPORT_KEEP are pruned, nothing else in the folder', () => {
  assert.ok(RUN_ID.test(runIdOf(Date.parse('2026-12-04T10:15:02.418Z'))))
  assert.equal(
    toPrune(
      ['2026-12-04T10-15-02-418Z', 'junit-unit.xml', '2026-12-03T10-15-02-418Z', '2026-12-04T10-15-02-418Z-2'],
      2,
    ),
    ['2026-12-03T10-15-02-418Z'],
  )
  const dir = tmp('prune-')
  mkdirSync(path.join(dir, 'browser'))
  writeFileSync(path.join(dir, 'junit-unit.xml'), '<testsuites/>')
  const runs = fixtureRuns()
  const { history } = writeRuns(dir, runs, 2)
  assert.equal(
    readdirSync(dir).sort(),
    [runs[1].runId, runs[2].runId, 'browser', 'index.html', 'junit-unit.xml'].sort(),
  )
  assert.match(readFileSync(history, 'utf8'), /<p id="summary">2 runs, 1 passed, 1 failed/)
})

/** Runs with RT_ variables set and the output kept. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    return await quietly(fn)
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
  }
}

test("a run's end writes its page and report under REPORT_DIR, the history beside, and its last line names the page", async () => {
  const dir = tmp('pages-')
  const env = { RT_REPORT_DIR: dir, RT_STATE_DIR: tmp('state-') }
  const ok: PhaseSpec = {
    ...phaseOf('assess'),
    destroys: null,
    run: async () => (out.ok('all ready'), { containers: 1 }),
  }
  const spec = { script: 'x.mts', purpose: 'p', phases: [ok], flags: [['--repeat N', 'runs'] as [string, string]] }
  const once = await withEnv(env, () => execute(spec, ['--restart-mode', 'restart']))
  assert.is(once.value, 0)
  assert.match(once.text.trim().split('\n').pop()!, /^page: .*Z\/index\.html \(every run: .*index\.html\)$/)
  const twice = await withEnv(env, () => execute(spec, ['--restart-mode', 'restart', '--repeat', '2']))
  assert.is(twice.value, 0)
  assert.match(twice.text.trim().split('\n').pop()!, /^every run, these 2 together: .*index\.html$/)
  const runs = readdirSync(dir)
    .filter((f) => RUN_ID.test(f))
    .sort()
  assert.is(runs.length, 3)
  const report = JSON.parse(readFileSync(path.join(dir, runs[2], 'report.json'), 'utf8'))
  assert.equal([report.runId, report.series.run, report.series.of, report.restartMode], [runs[2], 2, 2, 'restart'])
  const [assess] = report.phases
  assert.equal(
    assess.steps.map((x: { text: string }) => x.text),
    ['all ready'],
    "its ✓ lines, the phase's own last line not among them",
  )
  assert.ok(assess.startedAt >= Date.parse(report.startedAt) && assess.steps[0].at >= assess.startedAt)
  assert.ok(existsSync(path.join(dir, runs[0], 'index.html')))
  assert.match(readFileSync(path.join(dir, 'index.html'), 'utf8'), /3 runs, 3 passed/)
  const dry = await withEnv(env, () => execute(spec, ['--restart-mode', 'restart', '--dry-run']))
  assert.not.match(dry.text, /page: /, 'a dry run writes no page')
  assert.is(readdirSync(dir).filter((f) => RUN_ID.test(f)).length, 3)
})

test.run()
