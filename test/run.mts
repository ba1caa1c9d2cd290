// The test tier runner: runs a tier's *.test.ts files through uvu's queue, then reports from the harness registry and fails on any failed test, hook error, crash or declared test that did not run.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { ErrorInfo, HookError, Registry, SuiteRun, TestRecord, UvuEntry, UvuResult } from './harness.ts'
import { junitXml, type JunitSuite } from '../lib/util/junit.ts'

const USAGE = `usage: node --import tsx test/run.mts --tier NAME [--junit FILE] [--bail] [--match REGEX] [--skip REGEX] [--require-harness] [--own-tmpdir] DIR...
  Imports every *.test.ts under the DIRs (sorted; --match keeps the paths the regex finds), runs them with uvu,
  prints a summary line per file and one for the tier, and exits 1 if any test failed, any hook threw,
  any declared test did not run, or any file crashed.
  --junit FILE       also write a JUnit XML report
  --bail             stop after the first file with a problem (the rest are reported as not run)
  --match REGEX      only the test files whose path (relative to the working directory) matches
  --skip REGEX       leave out the test files whose path matches (after --match)
  --require-harness  a test file that imports uvu directly (not test/harness.ts) is a failure
  --own-tmpdir       the tier's temporary files go to a folder of its own (TMPDIR), removed when it ends
  env TEST_TIMEOUT_MS / HOOK_TIMEOUT_MS: per-test / per-hook limits (default 10 min / 45 min)`

function usage(message: string): never {
  process.stderr.write(`run.mts: ${message}\n${USAGE}\n`)
  process.exit(2)
}

let args: ReturnType<typeof parse>
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      tier: { type: 'string' },
      junit: { type: 'string' },
      bail: { type: 'boolean', default: false },
      match: { type: 'string' },
      skip: { type: 'string' },
      'require-harness': { type: 'boolean', default: false },
      'own-tmpdir': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
}
try {
  args = parse()
} catch (e) {
  usage((e as Error).message)
}
if (args.values.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const tier = args.values.tier ?? usage('--tier NAME is required')
if (!args.positionals.length) usage('at least one DIR of test files is required')
function pattern(flag: 'match' | 'skip'): RegExp | undefined {
  try {
    return args.values[flag] ? new RegExp(args.values[flag]) : undefined
  } catch (e) {
    usage(`--${flag}: ${(e as Error).message}`)
  }
}
const match = pattern('match')
if (args.values['own-tmpdir']) {
  // Before any test file is imported: their mkdtempSync(tmpdir()) calls land here, and go with it.
  const own = mkdtempSync(path.join(tmpdir(), `rt-${tier}-`))
  process.env.TMPDIR = own
  process.on('exit', () => rmSync(own, { recursive: true, force: true }))
}
const skip = pattern('skip')
const bail = args.values.bail
const requireHarness = args.values['require-harness']
const junitPath = args.values.junit

// ---- the files ----

const rel = (abs: string) => path.relative(process.cwd(), abs).split(path.sep).join('/')

function collect(dir: string, out: string[]) {
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') || name === 'node_modules') continue
    const abs = path.join(dir, name)
    if (statSync(abs).isDirectory()) collect(abs, out)
    else if (name.endsWith('.test.ts')) out.push(abs)
  }
}
const found: string[] = []
for (const dir of args.positionals) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) usage(`${dir} is not a directory`)
  collect(path.resolve(dir), found)
}
const paths = [...new Set(found)]
  .map(rel)
  .filter((f) => (!match || match.test(f)) && !skip?.test(f))
  .sort()

// ---- uvu, in CLI mode: test.run() queues its suite into the current file's group instead of running it ----

globalThis.UVU_DEFER = 1
const uvu = await import('uvu')
const harness = await import('./harness.ts')
const registry: Registry = harness.registry
registry.runner = true

interface RawRun {
  total: number
  passed: number
  failed: number
  skipped: number
  report: string
}
interface FileResult {
  file: string
  crash?: ErrorInfo
  /** Suite runs of tests that import uvu directly: only uvu's counts are known. */
  raw: RawRun[]
  /** uvu's runner rejected (an error inside uvu, or an after hook of a suite that imports uvu directly). */
  aborted: ErrorInfo[]
  /** Uncaught exceptions and unhandled rejections while this file was imported or run. */
  uncaught: { kind: string; error: ErrorInfo; during: string }[]
  ms: number
}
const results: FileResult[] = []
const tierProblems: string[] = []
let current: { file: FileResult; run?: SuiteRun } | undefined
let importing: FileResult | undefined
let bailed: string | undefined
let execError: ErrorInfo | undefined
const started = performance.now()

function uncaught(kind: string, e: unknown) {
  const where = current ?? (importing && { file: importing })
  const error = harness.errorInfo(e)
  if (!where) return void tierProblems.push(`${kind} outside any test file:\n${indent(error.stack)}`)
  const running = where.run?.tests.find((t) => t.status === 'running')
  where.file.uncaught.push({ kind, error, during: running ? `test "${label(running)}"` : where.run ? 'a hook' : 'import' })
}
process.on('uncaughtException', (e) => uncaught('uncaught exception', e))
process.on('unhandledRejection', (e) => uncaught('unhandled rejection', e))

/** True when something in this file has already gone wrong (for --bail). */
function troubled(f: FileResult): boolean {
  const ts = registry.tests.filter((t) => t.file === f.file)
  return !!f.crash || f.aborted.length > 0 || registry.runs.some((r) => r.file === f.file && r.error) || f.uncaught.length > 0 || ts.some((t) => t.status === 'failed' || t.status === 'not-run') ||
    registry.hookErrors.some((h) => h.file === f.file) || f.raw.some((r) => r.failed > 0 || r.passed + r.failed + r.skipped < r.total)
}

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')

/** Entries the runner queues itself to show a crash at import in uvu's report. */
const crashEntries = new Set<UvuEntry>()

function wrap(f: FileResult, entry: UvuEntry): UvuEntry {
  const run = registry.runs.find((r) => r.entry === entry)
  const wrapped: UvuEntry = async () => {
    current = { file: f, run }
    const t0 = performance.now()
    let result: UvuResult
    let threw = false
    try {
      result = await entry()
    } catch (e) {
      threw = true
      const info = harness.errorInfo(e)
      f.aborted.push(info)
      result = [`  FAIL  uvu's suite runner threw\n${indent(info.stack)}\n`, 0, 0, 0]
    } finally {
      current = undefined
      f.ms += performance.now() - t0
    }
    if (!run && !threw && !crashEntries.has(entry)) {
      const [report, passed, skipped, total] = result
      const text = typeof report === 'string' ? stripAnsi(report) : ''
      const failed = Math.min((text.match(/^\s*FAIL\s/gm) ?? []).length, total - passed)
      f.raw.push({ total, passed, failed, skipped, report: text })
    }
    if (bail && !bailed && troubled(f)) {
      bailed = f.file
      // uvu's exec walks these arrays as it goes: cut them after this entry and it stops here, printing its totals.
      const gi = globalThis.UVU_QUEUE.findIndex((g) => g.includes(wrapped))
      const group = globalThis.UVU_QUEUE[gi]
      group.length = group.indexOf(wrapped) + 1
      globalThis.UVU_QUEUE.length = gi + 1
    }
    return result
  }
  return wrapped
}

let finished = false
process.on('exit', (code) => {
  if (finished) return
  tierProblems.push(`the process exited (code ${code}) before the tier finished: a test or hook called process.exit?`)
  process.exitCode = Math.max(1, report())
})

for (const file of paths) {
  const f: FileResult = { file, raw: [], aborted: [], uncaught: [], ms: 0 }
  results.push(f)
  if (bailed) continue // --bail after a crash at import: the later files are not even imported
  const index = globalThis.UVU_QUEUE.push([file]) - 1
  globalThis.UVU_INDEX = index
  registry.currentFile = file
  importing = f
  const t0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  try {
    const ms = harness.hookTimeoutMs()
    await Promise.race([
      import(pathToFileURL(path.resolve(file)).href),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`importing ${file} did not finish within ${ms} ms (HOOK_TIMEOUT_MS)`)), ms))),
    ])
  } catch (e) {
    f.crash = harness.errorInfo(e)
    const crash: UvuEntry = async () => [`  FAIL  ${file} crashed at import\n${indent(f.crash!.stack)}\n`, 0, 0, 0]
    crashEntries.add(crash)
    globalThis.UVU_QUEUE[index].push(crash)
    if (bail) bailed = file
  } finally {
    clearTimeout(timer)
    f.ms += performance.now() - t0
    importing = undefined
    registry.currentFile = undefined
  }
  const group = globalThis.UVU_QUEUE[index]
  for (let i = 1; i < group.length; i++) group[i] = wrap(f, group[i] as UvuEntry)
}
globalThis.UVU_INDEX = undefined

if (!paths.length) tierProblems.push(`no test files${match ? ` matching /${match.source}/` : ''} under ${args.positionals.join(' ')}`)
else {
  try {
    await uvu.exec(false) // bail is ours (above): uvu's own would process.exit before the report
  } catch (e) {
    execError = harness.errorInfo(e)
    tierProblems.push(`uvu's exec threw:\n${indent(execError.stack)}`)
  }
}
let code = 3
try {
  code = report()
} catch (e) {
  // A bug here must not end as exit 0 (the uncaughtException handler above would swallow it).
  process.stderr.write(`run.mts: the report failed: ${(e as Error).stack ?? e}\n`)
}
finished = true
process.exit(code) // a test abandoned after its timeout may still hold the event loop

// ---- the report ----

function indent(text: string, by = '      '): string {
  return text.split('\n').map((l) => by + l).join('\n')
}

function label(t: Pick<TestRecord, 'suite' | 'name'>): string {
  return t.suite ? `${t.suite} › ${t.name}` : t.name
}

function notRunReason(t: TestRecord, f: FileResult): string {
  if (t.reason) return t.reason
  if (t.status === 'declared') return f.crash ? 'the file crashed at import before calling test.run()' : `test.run() was never called${t.suite ? ` for suite "${t.suite}"` : ''}`
  const run = registry.runs.find((r) => r.tests.includes(t))
  if (run?.state === 'running') return `the ${finished ? 'tier' : 'process'} ended while its suite was running`
  if (bailed) return `--bail: the tier stopped after a failure in ${bailed}`
  if (execError) return `uvu's exec stopped: ${execError.message}`
  if (!finished) return 'the process exited before its suite ran'
  return 'its suite was never run'
}

interface Case {
  name: string
  ms: number
  failure?: { message: string; type: string; body: string }
}
interface FileReport {
  file: string
  declared: number
  ran: number
  passed: number
  failed: number
  hookErrors: number
  problems: string[]
  cases: Case[]
  ms: number
  direct: boolean
}

function fileReport(f: FileResult): FileReport {
  const tests = registry.tests.filter((t) => t.file === f.file)
  const hooks = registry.hookErrors.filter((h) => h.file === f.file)
  const r: FileReport = { file: f.file, declared: 0, ran: 0, passed: 0, failed: 0, hookErrors: hooks.length, problems: [], cases: [], ms: f.ms, direct: f.raw.length > 0 }
  const fail = (name: string, message: string, type: string, body: string, ms = 0) => r.cases.push({ name, ms, failure: { message, type, body } })

  if (f.crash) {
    r.problems.push(`crashed at import:\n${indent(f.crash.stack)}`)
    fail('import', `crashed at import: ${f.crash.message}`, f.crash.name, f.crash.stack)
  }
  countHarnessTests(r, f, tests, fail)
  for (const h of hooks) {
    const name = harness.hookLabel(h)
    r.problems.push(`${name} threw:\n${indent(h.error.stack)}`)
    fail(name, h.error.message, h.error.name, h.error.stack)
  }
  countUvuSuites(r, f, fail)
  for (const run of registry.runs.filter((x) => x.file === f.file && x.error)) {
    const e = run.error!
    r.problems.push(`uvu's runner threw${run.suite ? ` in suite "${run.suite}"` : ''} (its remaining tests and after hooks did not run):\n${indent(e.stack)}`)
    fail(`${run.suite ? `${run.suite} › ` : ''}suite runner`, e.message, e.name, e.stack)
  }
  for (const a of f.aborted) {
    r.problems.push(`uvu's suite runner threw (its remaining tests and after hooks did not run):\n${indent(a.stack)}`)
    fail('suite runner', a.message, a.name, a.stack)
  }
  for (const u of f.uncaught) {
    r.problems.push(`${u.kind} during ${u.during}:\n${indent(u.error.stack)}`)
    fail(`${u.kind} (during ${u.during})`, `${u.kind}: ${u.error.message}`, u.error.name, u.error.stack)
  }
  if (!f.crash && r.declared === 0 && f.aborted.length === 0) {
    const why = bailed && f.file > bailed ? `did not run: --bail stopped the tier after a failure in ${bailed}` : 'declares no tests (or never calls test.run())'
    r.problems.push(why)
    fail('tests', why, 'NoTests', why)
  }
  return r
}

type Fail = (name: string, message: string, type: string, body: string, ms?: number) => void

/** The file's tests declared through test/harness.ts, each passed, failed, unfinished or not run (with the reason). */
function countHarnessTests(r: FileReport, f: FileResult, tests: typeof registry.tests, fail: Fail): void {
  const notRun = new Map<string, string[]>()
  for (const t of tests) {
    r.declared++
    const ms = t.durationMs ?? 0
    if (t.status === 'passed') {
      r.ran++, r.passed++
      r.cases.push({ name: label(t), ms })
    } else if (t.status === 'failed') {
      r.ran++, r.failed++
      const e = t.error!
      const body = e.details ? `${e.stack}\n\n${e.details}` : e.stack
      r.problems.push(`test "${label(t)}" failed:\n${indent(body)}`)
      fail(label(t), e.message, e.name, body, ms)
    } else if (t.status === 'running') {
      // Started and never settled: only possible when the process exits (or uvu's exec stops) under it.
      r.ran++, r.failed++
      const why = `did not finish: the ${finished ? 'tier' : 'process'} ended while it was running (process.exit called?)`
      r.problems.push(`test "${label(t)}" ${why}`)
      fail(label(t), why, 'DidNotFinish', why)
    } else {
      const why = notRunReason(t, f)
      notRun.set(why, [...(notRun.get(why) ?? []), label(t)])
      fail(label(t), `did not run: ${why}`, 'NotRun', `did not run: ${why}`)
    }
  }
  for (const [why, names] of notRun) {
    r.problems.push(names.length === 1 ? `test "${names[0]}" did not run: ${why}` : `${names.length} tests did not run: ${why}:\n${names.map((n) => `        "${n}"`).join('\n')}`)
  }
}

/** Suites that import uvu directly: only uvu's own counts are known, and a swallowed hook error shows as missing tests. */
function countUvuSuites(r: FileReport, f: FileResult, fail: Fail): void {
  for (const [i, raw] of f.raw.entries()) {
    const name = `uvu suite${f.raw.length > 1 ? ` ${i + 1}` : ''} (imports uvu directly: uvu's counts only)`
    r.declared += raw.total
    r.ran += raw.passed + raw.failed
    r.passed += raw.passed
    r.failed += raw.failed
    const issues: string[] = []
    if (raw.failed) issues.push(`${raw.failed} of ${raw.total} tests failed (uvu's report above)`)
    const missing = raw.total - raw.passed - raw.failed - raw.skipped
    if (missing > 0) issues.push(`${missing} of ${raw.total} tests did not run and uvu reported no failure for them: a hook threw and uvu swallowed the error (use test/harness.ts to see it)`)
    if (requireHarness) issues.push('imports uvu directly: declare tests with test/harness.ts (--require-harness)')
    for (const i of issues) r.problems.push(i)
    if (issues.length) fail(name, issues.join('; '), 'UvuSuite', [...issues, raw.report].filter(Boolean).join('\n\n'))
    else r.cases.push({ name, ms: 0 })
  }
}

function counts(r: Pick<FileReport, 'declared' | 'ran' | 'passed' | 'failed' | 'hookErrors'>): string {
  return `${r.declared} declared, ${r.ran} ran, ${r.passed} passed, ${r.failed} failed, ${r.hookErrors} hook errors`
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** The ten slowest tests of the tier, slowest first: where its time goes. */
function slowest(reports: FileReport[], n = 10): string[] {
  const cases = reports.flatMap((r) => r.cases.map((c) => ({ ...c, file: r.file }))).filter((c) => c.ms > 0)
  if (cases.length < 2) return []
  const top = cases.sort((a, b) => b.ms - a.ms).slice(0, n)
  return ['', `── ${tier}: the ${top.length} slowest tests ──`, ...top.map((c) => `  ${secs(c.ms).padStart(7)}  ${c.file}: ${c.name}`)]
}

function report(): number {
  const reports = results.map(fileReport)
  const total = { declared: 0, ran: 0, passed: 0, failed: 0, hookErrors: 0 }
  for (const r of reports) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r[k]
  const crashed = results.filter((f) => f.crash).length
  const out: string[] = ['', `── ${tier}: per file ──`]
  for (const r of reports) out.push(`  ${r.problems.length ? 'FAIL' : 'ok  '} ${r.file}: ${counts(r)} in ${secs(r.ms)}${r.direct ? "  [imports uvu directly: uvu's counts]" : ''}`)
  out.push(...slowest(reports))
  const problems = reports.flatMap((r) => r.problems.map((p) => `  ${r.file}: ${p}`)).concat(tierProblems.map((p) => `  ${p}`))
  if (problems.length) out.push('', `── ${tier}: problems ──`, ...problems)
  out.push('', `tier ${tier}: ${counts(total)}${crashed ? `, ${crashed} crashed at import` : ''}`)
  const elapsed = ((performance.now() - started) / 1000).toFixed(1)
  out.push(problems.length ? `tier ${tier} FAILED: ${problems.length} problem(s) above (${elapsed} s)` : `tier ${tier} passed (${elapsed} s)`, '')
  process.stdout.write(out.join('\n') + '\n')
  if (junitPath) {
    try {
      mkdirSync(path.dirname(path.resolve(junitPath)), { recursive: true })
      writeFileSync(junitPath, junit(reports))
    } catch (e) {
      process.stderr.write(`run.mts: could not write ${junitPath}: ${(e as Error).message}\n`)
      return 1
    }
  }
  return problems.length ? 1 : 0
}

// ---- JUnit XML ----

function junit(reports: FileReport[]): string {
  const suites: JunitSuite[] = reports.map((r) => ({
    name: r.file,
    file: r.file,
    cases: r.cases.map((c) => ({ name: c.name, classname: r.file, timeMs: c.ms, failure: c.failure })),
  }))
  if (tierProblems.length) {
    suites.push({ name: `tier ${tier}`, cases: tierProblems.map((p) => ({ name: 'tier', classname: `tier ${tier}`, timeMs: 0, failure: { message: p, type: 'TierProblem', body: p } })) })
  }
  return junitXml(suites, { name: `tier ${tier}`, totalMs: performance.now() - started })
}
