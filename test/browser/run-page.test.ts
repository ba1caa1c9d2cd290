// The run page and the history of runs in a real browser: Debian's chromium, driven by
// playwright-core, loads them from file:// with no network. By default the pages are those of real
// runs: a run of ./scripts/reset_and_run.mts on the example stack, then a --repeat 2 (three runs,
// their pages under a fresh REPORT_DIR). With BROWSER_FIXTURE=1 they are built from the fixture run
// (test/fixtures/run-page: no Docker). Screenshots are saved under reports/browser/<time>/;
// BROWSER_DOCS=1 also copies the last passed run's and the history's to docs/report/.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { RUN_ID, runIdOf } from '../../lib/run/pages/history.ts'
import type { RunReport } from '../../lib/run/pages/run-page.ts'
import { FIXTURE, fixtureRuns, writeRuns } from '../fixtures/run-page/fixture.ts'

const FROM_FIXTURE = process.env.BROWSER_FIXTURE === '1'
const BROWSER = '/usr/bin/chromium'
/** Without the background-networking flags, Chromium's own connections are refused by a closed network. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const SHOTS = path.join(SUITE_ROOT, 'reports', 'browser', runIdOf(Date.now()))

/** The rows of the example's jobs table right after the real runs, read from PostgreSQL itself (not through the suite). */
export async function jobsInDatabase(): Promise<number | null> {
  const { db } = await import('../../support/example.ts') // only the real-run path needs the example's database
  return (await db<{ n: number }>('SELECT count(*)::int AS n FROM jobs'))[0].n
}

interface Runs {
  /** Each run's folder, oldest first, with its report. */
  runs: { dir: string; report: RunReport }[]
  history: string
  /** How many bars each run's page must draw. */
  jobs: number[]
  /** The runs that belong to one --repeat. */
  series: number
  /** How many runs were made. */
  made: number
}

function folders(dir: string): Runs['runs'] {
  return readdirSync(dir)
    .filter((f) => RUN_ID.test(f))
    .sort()
    .map((f) => ({
      dir: path.join(dir, f),
      report: JSON.parse(readFileSync(path.join(dir, f, 'report.json'), 'utf8')),
    }))
}

function fromFixture(dir: string): Runs {
  const { history } = writeRuns(dir, fixtureRuns())
  return { runs: folders(dir), history, jobs: [FIXTURE.jobs, FIXTURE.jobs, FIXTURE.jobs], series: 2, made: 3 }
}

/** Real runs on the example stack, as a user runs them; their pages go to `dir`. */
async function fromRealRuns(dir: string): Promise<Runs> {
  const env = { ...process.env, CI: 'true', FORCE_COLOR: '0', RT_REPORT_DIR: dir }
  for (const extra of [[], ['--repeat', '2']]) {
    const argv = ['--import', 'tsx', 'scripts/reset_and_run.mts', '--yes', ...extra]
    console.log(`    running ./scripts/reset_and_run.mts --yes ${extra.join(' ')}`)
    const o = await new Promise<{ code: number | null; stdout: string; output: string }>((resolve) =>
      execFile('node', argv, { cwd: SUITE_ROOT, env, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, stdout, output: `${stdout}${stderr}` }),
      ),
    )
    const last = o.stdout.trim().split('\n').pop() ?? ''
    console.log(`    exit ${o.code}; its last line: ${last}`)
    if (!/^(page|every run)\b.*index\.html/.test(last))
      throw new Error(`reset_and_run.mts ${extra.join(' ')} named no page (exit ${o.code}):\n${o.output.slice(-3000)}`)
  }
  const runs = folders(dir)
  const counted = await jobsInDatabase()
  const jobs = runs.map((r, i) => (i === runs.length - 1 && counted !== null ? counted : (r.report.work?.total ?? -1)))
  return { runs, history: path.join(dir, 'index.html'), jobs, series: 2, made: 3 }
}

let runs: Runs
let browser: BrowserContext
let page: Page

test.before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'browser-reports-'))
  runs = FROM_FIXTURE ? fromFixture(dir) : await fromRealRuns(dir)
  mkdirSync(SHOTS, { recursive: true })
  browser = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'chromium-')), {
    executablePath: BROWSER,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  })
  page = browser.pages()[0] ?? (await browser.newPage())
})

test.after(async () => {
  await browser?.close()
})

/** Loads a page from file:// and says what went wrong: console errors, uncaught errors, failed or outside requests. */
async function visit(file: string): Promise<string[]> {
  const problems: string[] = []
  const onConsole = (m: { type(): string; text(): string }) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`)
  }
  const onError = (e: Error) => problems.push(`uncaught: ${e.message}`)
  const onFailed = (r: { url(): string; failure(): { errorText: string } | null }) =>
    problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`)
  const onRequest = (r: { url(): string }) => {
    if (!r.url().startsWith('file://')) problems.push(`a request off the page's own file: ${r.url()}`)
  }
  page.on('console', onConsole)
  page.on('pageerror', onError)
  page.on('requestfailed', onFailed)
  page.on('request', onRequest)
  try {
    const response = await page.goto(pathToFileURL(file).href, { waitUntil: 'load' })
    if (!response?.ok()) problems.push(`the page did not load: ${response?.status()}`)
  } finally {
    page.off('console', onConsole)
    page.off('pageerror', onError)
    page.off('requestfailed', onFailed)
    page.off('request', onRequest)
  }
  return problems
}

const count = (selector: string) => page.locator(selector).count()

test("every run's page and the history load from file:// with no console error and no failed request", async () => {
  for (const r of [...runs.runs.map((x) => path.join(x.dir, 'index.html')), runs.history])
    assert.equal(await visit(r), [], path.relative(tmpdir(), r))
})

test("one bar per job on each run's page, as many as the jobs table holds; seven phase bars; the verdict", async () => {
  for (const [i, r] of runs.runs.entries()) {
    await visit(path.join(r.dir, 'index.html'))
    await page.screenshot({ path: path.join(SHOTS, `run-${i + 1}.png`), fullPage: true }) // first: a failure wants it
    const ran = r.report.phases.filter((p) => p.status !== 'not run').length
    assert.is(await count('g.job rect'), runs.jobs[i], `${r.report.runId}: bars of jobs`)
    assert.is(await count('g.phase rect'), ran, `${r.report.runId}: bars of phases`)
    if (r.report.exitCode === 0) assert.is(ran, 7)
    const verdict = await page.locator('#verdict').innerText()
    assert.match(verdict, r.report.exitCode === 0 ? /✓ passed/ : /✗ failed: exit \d+/)
    assert.ok((await count('g.step rect')) > 0, 'the steps of the phases')
    assert.ok((await count('g.finished rect')) > 0, 'jobs finished per second')
    assert.is(await count('g.queue circle'), r.report.work?.queue?.samples.length ?? 0)
  }
})

test('the history shows N runs after N runs, the --repeat as one band, and links every run', async () => {
  await visit(runs.history)
  await page.screenshot({ path: path.join(SHOTS, 'history.png'), fullPage: true })
  const n = runs.made
  assert.is(runs.runs.length, n, 'a folder per run')
  assert.is(await count('g.run circle'), n)
  assert.is(await count('table.runs tbody tr'), n)
  assert.match(await page.locator('#summary').innerText(), new RegExp(`^${n} runs, `))
  assert.is(await page.getByText(`--repeat ${runs.series}`, { exact: true }).count(), 1)
  assert.ok((await count('g.trend circle')) > 0, 'the slowest phase, run by run')
  for (const r of runs.runs) assert.is(await count(`a[href="${r.report.runId}/index.html"]`), 1)
})

test('the screenshots are saved with the diagnostics (reports/browser/)', () => {
  const shots = [...runs.runs.map((_, i) => `run-${i + 1}.png`), 'history.png']
  for (const f of shots) assert.ok(existsSync(path.join(SHOTS, f)), f)
  console.log(`    screenshots: ${path.relative(SUITE_ROOT, SHOTS)}/{${shots.join(',')}}`)
  if (process.env.BROWSER_DOCS !== '1') return
  // docs/report/: the last run that passed, and the history
  const passed = runs.runs.flatMap((r, i) => (r.report.exitCode === 0 ? [i] : []))
  const shown = passed.length ? passed[passed.length - 1] : runs.runs.length - 1
  mkdirSync(path.join(SUITE_ROOT, 'docs', 'report'), { recursive: true })
  copyFileSync(path.join(SHOTS, `run-${shown + 1}.png`), path.join(SUITE_ROOT, 'docs', 'report', 'run.png'))
  copyFileSync(path.join(SHOTS, 'history.png'), path.join(SUITE_ROOT, 'docs', 'report', 'history.png'))
})

test.run()
