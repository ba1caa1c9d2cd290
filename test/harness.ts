// The test harness: uvu's suite API with every declared test, outcome, duration and hook error recorded in one registry (uvu swallows hook errors), and a timeout on each test and hook.
import { suite as uvuSuite } from 'uvu'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'

// ---- uvu's globals (its CLI and test/run.mts share one queue: one group per file, one entry per suite run) ----

/** What uvu's runner resolves to for one suite run: [error report or true, passed, skipped, total]. */
export type UvuResult = [string | true, number, number, number]
export type UvuEntry = () => Promise<UvuResult>

declare global {
  // eslint-disable-next-line no-var
  var UVU_QUEUE: Array<Array<string | null | UvuEntry>>
  // eslint-disable-next-line no-var
  var UVU_INDEX: number | undefined
  // eslint-disable-next-line no-var
  var UVU_DEFER: number | undefined
}

// ---- the registry ----

export interface ErrorInfo {
  name: string
  message: string
  /** The stack as thrown (it begins with `name: message`). */
  stack: string
  /** Expected and actual values of a failed assertion, when the error carries them. */
  details?: string
}

export type HookKind = 'before' | 'after' | 'before.each' | 'after.each'

export interface TestRecord {
  file: string
  suite: string
  name: string
  /** declared → queued (test.run() called) → running → passed | failed; not-run when its suite ran without it. */
  status: 'declared' | 'queued' | 'running' | 'passed' | 'failed' | 'not-run'
  error?: ErrorInfo
  durationMs?: number
  /** Why a test whose suite ran did not run (e.g. the before hook threw). */
  reason?: string
  timeoutMs?: number
}

export interface HookError {
  file: string
  suite: string
  hook: HookKind
  /** The test a before.each / after.each hook ran for. */
  test?: string
  error: ErrorInfo
  /** True when the error was also the failure uvu reported for a test (before.each / after.each). */
  reportedAsTestFailure: boolean
}

export interface SuiteRun {
  file: string
  suite: string
  tests: TestRecord[]
  state: 'queued' | 'running' | 'done'
  /** The function in uvu's queue that runs this suite (test/run.mts finds its runs by it). */
  entry: UvuEntry
  durationMs?: number
  /** uvu's runner itself threw (an error in uvu): the suite's remaining tests and after hooks did not run. */
  error?: ErrorInfo
}

export interface Registry {
  tests: TestRecord[]
  hookErrors: HookError[]
  runs: SuiteRun[]
  /** Set by test/run.mts while it imports a test file (a path relative to the working directory): declarations belong to it. */
  currentFile: string | undefined
  /** Set by test/run.mts: it reports from the registry, so the harness's own exit check stays quiet. */
  runner: boolean
}

const KEY = Symbol.for('reset-and-test/test-harness-registry')
const store = globalThis as unknown as Record<symbol, Registry | undefined>
/** Everything the harness saw, in declaration order; shared even if this module were loaded twice. */
export const registry: Registry = (store[KEY] ??= { tests: [], hookErrors: [], runs: [], currentFile: undefined, runner: false })

// ---- timeouts ----

export const DEFAULT_TEST_TIMEOUT_MS = 10 * 60_000
/** Hooks such as the e2e tier's stackUp build images (its compose timeout is 30 min): a longer default. */
export const DEFAULT_HOOK_TIMEOUT_MS = 45 * 60_000

function envMs(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${JSON.stringify(raw)} is not a positive number of milliseconds`)
  return n
}

/** TEST_TIMEOUT_MS, else 10 minutes. */
export const testTimeoutMs = () => envMs('TEST_TIMEOUT_MS', DEFAULT_TEST_TIMEOUT_MS)
/** HOOK_TIMEOUT_MS, else the larger of TEST_TIMEOUT_MS and 45 minutes. */
export const hookTimeoutMs = () => envMs('HOOK_TIMEOUT_MS', Math.max(DEFAULT_HOOK_TIMEOUT_MS, testTimeoutMs()))

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

const seconds = (ms: number) => (ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`)

/**
 * Runs fn, failing with `what timed out after …` if it has not settled in ms (the timer keeps the process
 * alive meanwhile). The error's stack is `site`: where the test or hook was declared.
 */
async function withTimeout(fn: () => unknown, ms: number, what: string, hint: string, site: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TimeoutError(`${what} timed out after ${seconds(ms)} and was abandoned while still running (${hint})`)
      err.stack = `${err.name}: ${err.message}${site ? `\n${site}` : ''}`
      reject(err)
    }, ms)
  })
  try {
    await Promise.race([Promise.resolve().then(fn), expired])
  } finally {
    clearTimeout(timer)
  }
}

// ---- errors ----

/** Always an Error: uvu's report crashes (and then swallows everything) on a thrown non-Error. */
function asError(e: unknown): Error {
  if (e instanceof Error) return e
  const err = new Error(`a non-Error was thrown: ${inspect(e, { depth: 3 })}`)
  err.name = 'NonErrorThrown'
  return err
}

/** Frames of the machinery between uvu and the test (this module, test/run.mts, uvu's runner, Node's internals). */
const MACHINERY = /^\s*at .*(?:[/\\]test[/\\]harness\.ts:|[/\\]test[/\\]run\.mts:|[/\\]node_modules[/\\]uvu[/\\]|\(node:internal[/\\]|^\s*at node:internal[/\\])/

/** The stack without the machinery's frames (all of it if that would leave no frame). */
export function cleanStack(stack: string): string {
  const lines = stack.split('\n')
  const firstFrame = lines.findIndex((l) => /^\s*at /.test(l))
  if (firstFrame < 0) return stack
  const kept = lines.slice(firstFrame).filter((l) => !MACHINERY.test(l))
  return kept.length ? [...lines.slice(0, firstFrame), ...kept].join('\n') : stack
}

export function errorInfo(e: unknown): ErrorInfo {
  const err = asError(e)
  const info: ErrorInfo = { name: err.name, message: err.message, stack: cleanStack(err.stack || `${err.name}: ${err.message}`) }
  const a = err as Error & { actual?: unknown; expected?: unknown; expects?: unknown }
  if ('expects' in err || ('actual' in err && 'expected' in err)) {
    const expected = 'expects' in err ? a.expects : a.expected
    const show = (v: unknown) => inspect(v, { depth: 4, breakLength: 120 }).slice(0, 2000)
    info.details = `expected: ${show(expected)}\nactual:   ${show(a.actual)}`
  }
  return info
}

// ---- which file is declaring ----

const HERE = fileURLToPath(import.meta.url)

/** The stack frames of the caller outside this module (and uvu, and Node): where a test or hook is declared. */
function declarationSite(): string {
  const stack = new Error().stack ?? ''
  return stack.split('\n').filter((l) => /^\s*at /.test(l) && !MACHINERY.test(l)).slice(0, 3).join('\n')
}

/**
 * The test file a declaration comes from: test/run.mts says so; otherwise the stack does (the nearest
 * *.test.* frame, so a helper module declaring tests for its caller counts as the caller; else the nearest frame outside this module).
 */
function declaringFile(): string {
  if (registry.currentFile) return registry.currentFile
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 50
  const stack = new Error().stack ?? ''
  Error.stackTraceLimit = limit
  const files: string[] = []
  for (const line of stack.split('\n').slice(1)) {
    const m = /((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):\d+:\d+\)?$/.exec(line.trim())
    if (!m) continue
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1]
    if (file === HERE || file.includes(`${path.sep}node_modules${path.sep}`)) continue
    files.push(file)
  }
  const file = files.find((f) => /\.test\.[cm]?[jt]sx?$/.test(f)) ?? files[0]
  return file ? path.relative(process.cwd(), file).split(path.sep).join('/') : '<unknown file>'
}

// ---- the API ----

export type Context = Record<string, any>
export type Crumbs = { __suite__: string; __test__: string }
export type Callback<T> = (context: T & Crumbs) => unknown
export interface Options {
  /** Milliseconds before the test (or hook) fails as timed out; default TEST_TIMEOUT_MS (hooks: HOOK_TIMEOUT_MS). */
  timeout?: number
}
export interface Hook<T> {
  (fn: Callback<T>, options?: Options): void
  each(fn: Callback<T>, options?: Options): void
}
export interface Test<T = Context> {
  (name: string, fn: Callback<T>, options?: Options): void
  before: Hook<T>
  after: Hook<T>
  /** Queues the tests and hooks declared so far as one suite run (as uvu's run does); later declarations start afresh. */
  run(): void
}

interface HookDecl<T> {
  fn: Callback<T>
  options?: Options
  site: string
}
interface Pending<T> {
  tests: TestRecord[]
  bEach: HookDecl<T>[]
  aEach: HookDecl<T>[]
  hookErrors: HookError[]
}

const label = (suite: string, name: string) => (suite ? `${suite} › ${name}` : name)

function recordHookError<T>(name: string, p: Pending<T>, hook: HookKind, file: string, e: unknown, test?: string, reported = false): HookError {
  const rec: HookError = { file, suite: name, hook, test, error: errorInfo(e), reportedAsTestFailure: reported }
  registry.hookErrors.push(rec)
  p.hookErrors.push(rec)
  return rec
}

async function runHook<T>(name: string, h: HookDecl<T>, hook: HookKind, file: string, ctx: T & Crumbs, test?: string) {
  const ms = h.options?.timeout ?? hookTimeoutMs()
  const what = `the ${hook} hook${test ? ` of test "${label(name, test)}"` : name ? ` of suite "${name}"` : ''} in ${file}`
  const fn = h.fn // called bare, so its stack frame reads `at stackUp`, not `at Object.stackUp`
  await withTimeout(() => fn(ctx), ms, what, h.options?.timeout ? 'its { timeout } option' : 'HOOK_TIMEOUT_MS sets the limit', h.site)
}

interface Declared<T> {
  name: string
  rec: TestRecord
  fn: Callback<T>
  options?: Options
  site: string
}

/** One test as uvu runs it: before.each hooks, the test, then after.each hooks even when the test failed. */
async function runTest<T>(suiteName: string, p: Pending<T>, d: Declared<T>, ctx: T & Crumbs): Promise<void> {
  const { rec, name, options } = d
  rec.status = 'running'
  const ms = (rec.timeoutMs = options?.timeout ?? testTimeoutMs())
  const started = performance.now()
  let failure: Error | undefined
  try {
    for (const h of p.bEach) {
      try {
        await runHook(suiteName, h, 'before.each', rec.file, ctx, name)
      } catch (e) {
        recordHookError(suiteName, p, 'before.each', rec.file, e, name, true)
        throw e
      }
    }
    const hint = options?.timeout ? 'its { timeout } option' : 'TEST_TIMEOUT_MS sets the limit'
    await withTimeout(() => d.fn(ctx), ms, `test "${label(suiteName, name)}" in ${rec.file}`, hint, d.site)
  } catch (e) {
    failure = asError(e)
  }
  for (const h of p.aEach) {
    try {
      await runHook(suiteName, h, 'after.each', rec.file, ctx, name)
    } catch (e) {
      recordHookError(suiteName, p, 'after.each', rec.file, e, name, !failure)
      failure ??= asError(e)
    }
  }
  rec.durationMs = performance.now() - started
  rec.status = failure ? 'failed' : 'passed'
  if (failure) {
    rec.error = errorInfo(failure)
    if (failure.stack) failure.stack = cleanStack(failure.stack) // uvu prints this one
    throw failure
  }
}

/**
 * After uvu ran a suite: its tests that neither passed nor failed are marked not run, with the
 * reason; hook errors uvu did not report as a test's failure are added to its report, so uvu's
 * own output shows them and counts the suite as failed (its exit code is 1 under its CLI too).
 */
function settle<T>(run: SuiteRun, p: Pending<T>, result: UvuResult): UvuResult {
  const beforeError = p.hookErrors.find((h) => h.hook === 'before')
  for (const rec of p.tests) {
    if (rec.status === 'passed' || rec.status === 'failed') continue
    rec.status = 'not-run'
    rec.reason = beforeError
      ? `the before hook failed: ${beforeError.error.message}`
      : run.error ? `uvu's runner threw: ${run.error.message}` : 'uvu did not run it'
  }
  const extra = p.hookErrors.filter((h) => !h.reportedAsTestFailure).map((h) => formatHookError(h))
  if (extra.length) result[0] = [typeof result[0] === 'string' ? result[0] : '', ...extra].filter(Boolean).join('\n')
  return result
}

/** Queues the suite's tests and hooks declared so far with uvu, wrapped in an entry that records the run. */
function queue<T>(inner: ReturnType<typeof uvuSuite<T>>, name: string, p: Pending<T>): void {
  const file = p.tests[0]?.file ?? declaringFile()
  for (const rec of p.tests) rec.status = 'queued'
  const group = globalThis.UVU_QUEUE[globalThis.UVU_INDEX || 0]
  const before = group.length
  inner.run()
  if (group.length !== before + 1) throw new Error('harness: uvu did not queue the suite where expected')
  const uvuRun = group[group.length - 1] as UvuEntry
  const run: SuiteRun = { file, suite: name, tests: p.tests, state: 'queued', entry: undefined as unknown as UvuEntry }
  run.entry = async () => {
    run.state = 'running'
    const started = performance.now()
    let result: UvuResult
    try {
      result = await uvuRun()
    } catch (e) {
      // uvu's runner itself threw (not a hook: they never throw from its `finally`): report, keep the queue going.
      run.error = errorInfo(e)
      result = [`  FAIL  uvu's runner threw\n    ${run.error.stack.split('\n').join('\n    ')}\n`, 0, 0, p.tests.length]
    }
    run.durationMs = performance.now() - started
    run.state = 'done'
    return settle(run, p, result)
  }
  group[group.length - 1] = run.entry
  registry.runs.push(run)
}

/** TEST_NAME (a regular expression) declares only the tests whose names it finds: for a developer's rerun, never in CI. */
const chosen = (name: string) => !process.env.TEST_NAME || new RegExp(process.env.TEST_NAME).test(name)

/** A named suite, like uvu's suite(name, state). */
export function suite<T extends object = Context>(name = '', state: T = {} as T): Test<T> {
  const inner = uvuSuite<T>(name, state)
  const fresh = (): Pending<T> => ({ tests: [], bEach: [], aEach: [], hookErrors: [] })
  let pending = fresh()

  const t = ((testName: string, fn: Callback<T>, options?: Options) => {
    if (typeof testName !== 'string' || typeof fn !== 'function') throw new TypeError('test(name, fn): a name and a function')
    if (!chosen(testName)) return // TEST_NAME picks some tests for a developer; a test not picked is not declared
    const rec: TestRecord = { file: declaringFile(), suite: name, name: testName, status: 'declared' }
    const d: Declared<T> = { name: testName, rec, fn, options, site: declarationSite() }
    registry.tests.push(rec)
    const p = pending
    p.tests.push(rec)
    inner(testName, (ctx) => runTest(name, p, d, ctx))
  }) as Test<T>

  const before = ((fn: Callback<T>, options?: Options) => {
    const p = pending
    const file = declaringFile()
    const h = { fn, options, site: declarationSite() }
    inner.before(async (ctx) => {
      try {
        await runHook(name, h, 'before', file, ctx)
      } catch (e) {
        recordHookError(name, p, 'before', file, e)
        throw asError(e) // uvu then skips the suite's tests, as it would (and says nothing: the run entry reports it)
      }
    })
  }) as Hook<T>
  before.each = (fn, options) => void pending.bEach.push({ fn, options, site: declarationSite() })

  const after = ((fn: Callback<T>, options?: Options) => {
    const p = pending
    const file = declaringFile()
    const h = { fn, options, site: declarationSite() }
    inner.after(async (ctx) => {
      try {
        await runHook(name, h, 'after', file, ctx)
      } catch (e) {
        // Recorded, not rethrown: uvu runs after hooks in a `finally`, and a throw there aborts the whole
        // queue (every later file) with nothing reported. The run entry reports it and fails the suite.
        recordHookError(name, p, 'after', file, e)
      }
    })
  }) as Hook<T>
  after.each = (fn, options) => void pending.aEach.push({ fn, options, site: declarationSite() })

  t.before = before
  t.after = after
  t.run = () => {
    const p = pending
    pending = fresh()
    queue(inner, name, p)
  }
  return t
}

export function hookLabel(h: Pick<HookError, 'hook' | 'suite' | 'test'>): string {
  return `${h.suite ? `${h.suite} › ` : ''}${h.hook} hook${h.test ? ` (test "${h.test}")` : ''}`
}

function formatHookError(h: HookError): string {
  const frames = h.error.stack.split('\n').filter((l) => /^\s*at /.test(l))
  return `  FAIL  "${hookLabel(h)}" threw\n    ${h.error.name}: ${h.error.message}\n${frames.map((l) => `    ${l.trim()}`).join('\n')}\n`
}

// The default `test` of each file (uvu shares one across files, so a file that forgets test.run()
// would have its tests run with the next file's): one suite per declaring file.
const perFile = new Map<string, Test<Context>>()
const current = (): Test<Context> => {
  const file = declaringFile()
  let s = perFile.get(file)
  if (!s) perFile.set(file, (s = suite('')))
  return s
}
const defaultBefore = ((fn, options) => current().before(fn, options)) as Hook<Context>
defaultBefore.each = (fn, options) => current().before.each(fn, options)
const defaultAfter = ((fn, options) => current().after(fn, options)) as Hook<Context>
defaultAfter.each = (fn, options) => current().after.each(fn, options)

/** The file's unnamed suite: test(name, fn), test.before/after(.each)(fn), test.run(). */
export const test: Test<Context> = Object.assign((name: string, fn: Callback<Context>, options?: Options) => current()(name, fn, options), {
  before: defaultBefore,
  after: defaultAfter,
  run: () => current().run(),
})

// Without test/run.mts (plain `uvu` or `node --import tsx file`): declared tests that never ran fail the process.
process.on('exit', () => {
  if (registry.runner) return
  const missed = registry.tests.filter((t) => t.status !== 'passed' && t.status !== 'failed')
  if (!missed.length) return
  process.stderr.write(`\nharness: ${missed.length} declared test(s) did not run:\n`)
  for (const t of missed) process.stderr.write(`  ${t.file}: "${label(t.suite, t.name)}": ${t.reason ?? (t.status === 'declared' ? 'test.run() was never called' : 'its suite did not run')}\n`)
  process.exitCode = process.exitCode || 1
})
