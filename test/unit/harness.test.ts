// The test harness and tier runner, proved with real child processes over the fixtures in test/fixtures/harness/ (hook errors, failures, crashes, hangs, exits; counts and JUnit XML).
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from '../harness.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const FIXTURES = 'test/fixtures/harness'
const tmp = mkdtempSync(path.join(tmpdir(), 'harness-test-'))

interface Outcome {
  code: number | null
  /** stdout and stderr together, without colour codes. */
  out: string
  /** The JUnit file's text ('' if none was written). */
  xml: string
  ms: number
}

/** A few children at a time (each loads tsx): on a busy machine the rest wait instead of slowing all. */
const slots = { free: Math.max(2, availableParallelism()), waiting: [] as (() => void)[] }
async function limited<T>(job: () => Promise<T>): Promise<T> {
  if (slots.free > 0) slots.free--
  else await new Promise<void>((r) => slots.waiting.push(r))
  try {
    return await job()
  } finally {
    const next = slots.waiting.shift()
    if (next) next()
    else slots.free++
  }
}

/** Runs argv (node arguments) from the repository's root; never rejects. */
const node = (name: string, argv: string[], env: Record<string, string> = {}) => limited(() => spawnNode(name, argv, env))

function spawnNode(name: string, argv: string[], env: Record<string, string>): Promise<Outcome> {
  const junit = path.join(tmp, `${name}.xml`)
  const childEnv: Record<string, string | undefined> = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env }
  for (const k of ['TEST_TIMEOUT_MS', 'HOOK_TIMEOUT_MS']) if (!(k in env)) delete childEnv[k]
  const args = argv.map((a) => (a === '$JUNIT' ? junit : a))
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000)
    const done = (code: number | null, extra = '') => {
      clearTimeout(timer)
      let xml = ''
      try {
        xml = readFileSync(junit, 'utf8')
      } catch {}
      resolve({ code, out: out.replace(/\u001b\[[0-9;]*m/g, '') + extra, xml, ms: Date.now() - t0 })
    }
    child.on('error', (e) => done(null, `\nspawn failed: ${e.message}`))
    child.on('close', (code) => done(code))
  })
}

/** test/run.mts over the fixtures, with a JUnit file; args usually include --match. */
const tier = (name: string, args: string[], env: Record<string, string> = {}) =>
  node(name, ['--import', 'tsx', 'test/run.mts', '--tier', 'fixture', '--junit', '$JUNIT', ...args, FIXTURES], env)
const only = (fixture: string, env: Record<string, string> = {}, extra: string[] = []) => tier(fixture, ['--match', `/${fixture}\\.test\\.ts$`, ...extra], env)

// Every child starts at once in the before hook (they take a second each); each test waits for its own.
let runs: Record<string, Promise<Outcome>> = {}
/** The TMPDIR each tmpdir run is given: the fixture's folder lands in it (or in the tier's own folder inside it). */
const tmpOf = (name: string) => path.join(tmp, `tmpdir-${name}`)
test.before(() => {
  for (const name of ['own', 'shared']) mkdirSync(tmpOf(name))
  runs = {
    ownTmp: only('tmpdir', { TMPDIR: tmpOf('own') }, ['--own-tmpdir']),
    sharedTmp: only('tmpdir', { TMPDIR: tmpOf('shared') }),
    green: only('green'),
    beforeThrows: only('before-throws'),
    failing: only('failing'),
    crash: only('crash'),
    hang: only('hang', { TEST_TIMEOUT_MS: '300' }),
    hooks: only('hooks'),
    noRun: only('no-run'),
    direct: tier('direct-uvu', ['--require-harness', '--match', '/(green|direct-uvu)\\.test\\.ts$']),
    exits: only('exits'),
    uncaught: only('uncaught'),
    bail: tier('bail', ['--bail', '--match', '/(failing|green)\\.test\\.ts$']),
    all: tier('all', ['--match', '^(?!.*exits)'], { TEST_TIMEOUT_MS: '300' }),
    none: tier('none', ['--match', 'no-such-fixture']),
    usage: node('usage', ['--import', 'tsx', 'test/run.mts', FIXTURES]),
    plainUvu: node('plain-uvu', ['node_modules/uvu/bin.js', FIXTURES, 'before-throws', '-r', 'tsx']),
  }
})
test.after(() => rmSync(tmp, { recursive: true, force: true }))

// ---- a tiny XML parser: fails on anything not well-formed ----

interface El {
  name: string
  attrs: Record<string, string>
  children: El[]
  text: string
}

function decode(s: string): string {
  assert.not.match(s, /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/, `a bare & in ${JSON.stringify(s.slice(0, 80))}`)
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : named[e])
}

function parseXml(xml: string): El {
  assert.not.match(xml, /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/, 'characters XML 1.0 cannot carry')
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/)
  const body = xml.replace(/^<\?xml[^?]*\?>/, '')
  const root: El = { name: '#document', attrs: {}, children: [], text: '' }
  const open = [root]
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/y
  for (let pos = 0; pos < body.length; pos = token.lastIndex) {
    token.lastIndex = pos
    const m = token.exec(body)
    if (!m) throw new Error(`malformed XML at ${pos}: ${JSON.stringify(body.slice(pos, pos + 80))}`)
    const [, close, name, attrText, selfClose, text] = m
    const top = open[open.length - 1]
    if (text !== undefined) {
      if (open.length === 1) assert.is(text.trim(), '', 'text outside the root element')
      top.text += decode(text)
    } else if (close) {
      assert.is(name, top.name, `</${name}> closes <${top.name}>`)
      open.pop()
    } else {
      const attrs: Record<string, string> = {}
      for (const a of attrText.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
        assert.not.ok(a[1] in attrs, `attribute ${a[1]} twice`)
        attrs[a[1]] = decode(a[2])
      }
      const el: El = { name, attrs, children: [], text: '' }
      top.children.push(el)
      if (!selfClose) open.push(el)
    }
  }
  assert.is(open.length, 1, `unclosed <${open[open.length - 1].name}>`)
  assert.is(root.children.length, 1, 'one root element')
  return root.children[0]
}

interface Junit {
  root: El
  suites: El[]
  /** testsuite name → testcase name → its <failure>, or null when it passed. */
  cases: Map<string, Map<string, El | null>>
}

/** Parses the JUnit file and checks the counts each element states against its children. */
function junit(o: Outcome): Junit {
  assert.ok(o.xml, `no JUnit file was written; output:\n${o.out}`)
  const root = parseXml(o.xml)
  assert.is(root.name, 'testsuites')
  assert.is(root.attrs.name, 'tier fixture')
  const cases = new Map<string, Map<string, El | null>>()
  let tests = 0
  let failures = 0
  for (const s of root.children) {
    assert.is(s.name, 'testsuite')
    const byName = new Map<string, El | null>()
    for (const c of s.children) {
      assert.is(c.name, 'testcase')
      assert.match(c.attrs.time, /^\d+(\.\d+)?$/)
      assert.ok(c.attrs.classname)
      const failure = c.children.find((x) => x.name === 'failure') ?? null
      if (failure) assert.ok(failure.attrs.message, 'a failure has a message')
      byName.set(c.attrs.name, failure)
    }
    const failed = [...byName.values()].filter(Boolean).length
    assert.is(Number(s.attrs.tests), s.children.length, `${s.attrs.name}: tests=`)
    assert.is(Number(s.attrs.failures), failed, `${s.attrs.name}: failures=`)
    tests += s.children.length
    failures += failed
    cases.set(s.attrs.name, byName)
  }
  assert.is(Number(root.attrs.tests), tests)
  assert.is(Number(root.attrs.failures), failures)
  return { root, suites: root.children, cases }
}

const file = (name: string) => `${FIXTURES}/${name}.test.ts`
const explain = (o: Outcome) => `exit ${o.code}; output:\n${o.out}`
/** The tier's counts line. */
const tierLine = (o: Outcome) => o.out.split('\n').find((l) => l.startsWith('tier fixture: ')) ?? `(no tier line)\n${o.out}`

// ---- the cases ----

test('a before hook that throws: exit 1, the hook error with its stack, "0 ran" of 5 declared', async () => {
  const o = await runs.beforeThrows
  assert.is(o.code, 1, explain(o))
  assert.is(tierLine(o), 'tier fixture: 5 declared, 0 ran, 0 passed, 0 failed, 1 hook errors')
  assert.match(o.out, `FAIL ${file('before-throws')}: 5 declared, 0 ran, 0 passed, 0 failed, 1 hook errors`)
  assert.match(o.out, /before-throws\.test\.ts: before hook threw:\n\s+Error: fixture: the stack did not come up\n\s+at stackUp \(.*before-throws\.test\.ts:\d+:\d+\)/)
  assert.match(o.out, /5 tests did not run: the before hook failed: fixture: the stack did not come up/)
  assert.match(o.out, /tier fixture FAILED/)
  const j = junit(o)
  const cases = j.cases.get(file('before-throws'))!
  assert.is(cases.size, 6)
  for (let n = 1; n <= 5; n++) assert.is(cases.get(`needs the stack ${n}`)?.attrs.message, 'did not run: the before hook failed: fixture: the stack did not come up')
  const hook = cases.get('before hook')
  assert.is(hook?.attrs.message, 'fixture: the stack did not come up')
  assert.match(hook!.text, /at stackUp \(.*before-throws\.test\.ts:\d+:\d+\)/)
})

test('uvu alone would pass that file; under plain `uvu` the harness still fails it and prints the hook error', async () => {
  const o = await runs.plainUvu
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, '(0 / 5)')
  assert.match(o.out, /FAIL {2}"before hook" threw\n\s+Error: fixture: the stack did not come up/)
  assert.match(o.out, /harness: 5 declared test\(s\) did not run/)
})

test('a failing test: exit 1, the failure listed with its message, expected and actual; the others pass', async () => {
  const o = await runs.failing
  assert.is(o.code, 1, explain(o))
  assert.is(tierLine(o), 'tier fixture: 3 declared, 3 ran, 2 passed, 1 failed, 0 hook errors')
  assert.match(o.out, /failing\.test\.ts: test "fails <on purpose> & "loudly"" failed:\n\s+Assertion: fixture: 1 \+ 1 is <not> 3/)
  assert.match(o.out, /expected: 3\n\s+actual: {3}2/)
  const cases = junit(o).cases.get(file('failing'))!
  assert.is(cases.get('passes first'), null)
  assert.is(cases.get('passes after the failure'), null)
  const failure = cases.get('fails <on purpose> & "loudly"')
  assert.ok(failure, 'the failing test by its exact name')
  // Markup characters escaped and back; the bell (not allowed in XML) spelled out; colour codes dropped.
  assert.is(failure!.attrs.message, 'fixture: 1 + 1 is <not> 3 & said so with a bell \\u0007 and colour')
  assert.is(failure!.attrs.type, 'Assertion')
  assert.match(failure!.text, /failing\.test\.ts:\d+:\d+/)
})

test('all green: exit 0, the counts line, a JUnit file without failures', async () => {
  const o = await runs.green
  assert.is(o.code, 0, explain(o))
  assert.is(tierLine(o), 'tier fixture: 4 declared, 4 ran, 4 passed, 0 failed, 0 hook errors')
  assert.match(o.out, `ok   ${file('green')}: 4 declared, 4 ran, 4 passed, 0 failed, 0 hook errors`)
  assert.match(o.out, new RegExp(`ok   ${file('green')}: .* in \\d+\\.\\d s\\n`), "each file's duration")
  assert.match(o.out, /── fixture: the 4 slowest tests ──\n( +\d+\.\d s  test\/fixtures\/harness\/green\.test\.ts: .+\n){4}/)
  assert.match(o.out, /tier fixture passed/)
  assert.not.match(o.out, /problems/)
  const j = junit(o)
  assert.is(j.root.attrs.failures, '0')
  assert.equal([...j.cases.get(file('green'))!.keys()], ['one', 'two', 'named suite › sees its state', 'named suite › and the hooks run per test'])
})

test('a file that throws at import: exit 1 naming the file and the error; its declared test did not run', async () => {
  const o = await runs.crash
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, `${file('crash')}: crashed at import:`)
  assert.match(o.out, /Error: fixture: crashed at import\n\s+at loadSettings/)
  assert.match(o.out, 'test "never gets to run" did not run: the file crashed at import before calling test.run()')
  assert.match(tierLine(o), /, 1 crashed at import$/)
  const cases = junit(o).cases.get(file('crash'))!
  assert.is(cases.get('import')?.attrs.message, 'crashed at import: fixture: crashed at import')
  assert.match(cases.get('never gets to run')!.attrs.message, /^did not run: /)
})

test('a test that hangs past TEST_TIMEOUT_MS fails naming it, the next test runs, and the tier does not wait for the hang', async () => {
  const o = await runs.hang
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, /test "waits forever" failed:\n\s+TimeoutError: test "waits forever" in test\/fixtures\/harness\/hang\.test\.ts timed out after 300 ms.*\n\s+at .*hang\.test\.ts:\d+/)
  // A hook hangs too: its own { timeout } option, and its suite's test does not run.
  assert.match(o.out, /slow setup › before hook threw:\n\s+TimeoutError: the before hook of suite "slow setup" in test\/fixtures\/harness\/hang\.test\.ts timed out after 200 ms/)
  assert.match(o.out, 'test "slow setup › needs the setup" did not run: the before hook failed: the before hook of suite "slow setup"')
  assert.is(tierLine(o), 'tier fixture: 3 declared, 2 ran, 1 passed, 1 failed, 1 hook errors')
  // The fixture's timer is 10 minutes and the child is killed (code null) after 100 s: exiting at all proves it.
  assert.ok(o.ms < 100_000, `took ${o.ms} ms: the hung test's timer held the process`)
  const cases = junit(o).cases.get(file('hang'))!
  assert.is(cases.get('waits forever')?.attrs.type, 'TimeoutError')
  assert.is(cases.get('runs after the hung one'), null)
})

test('before.each, after.each and after hooks that throw: each recorded with its stack; the tests they ran for fail', async () => {
  const o = await runs.hooks
  assert.is(o.code, 1, explain(o))
  assert.is(tierLine(o), 'tier fixture: 4 declared, 4 ran, 2 passed, 2 failed, 3 hook errors')
  assert.match(o.out, /each hooks › before\.each hook \(test "setup fails"\) threw:\n\s+Error: fixture: before\.each failed\n\s+at .*hooks\.test\.ts:\d+/)
  assert.match(o.out, /cleanup › after hook threw:\n\s+Error: fixture: after hook failed/)
  const cases = junit(o).cases.get(file('hooks'))!
  assert.is(cases.get('each hooks › setup fails')?.attrs.message, 'fixture: before.each failed')
  assert.is(cases.get('each hooks › cleanup fails')?.attrs.message, 'fixture: after.each failed')
  assert.is(cases.get('each hooks › unaffected'), null)
  assert.is(cases.get('cleanup › passes anyway'), null)
  assert.is(cases.get('each hooks › after.each hook (test "cleanup fails")')?.attrs.message, 'fixture: after.each failed')
  assert.is(cases.get('cleanup › after hook')?.attrs.message, 'fixture: after hook failed')
})

test('declared tests whose test.run() is never called: did not run, exit 1', async () => {
  const o = await runs.noRun
  assert.is(o.code, 1, explain(o))
  assert.is(tierLine(o), 'tier fixture: 2 declared, 0 ran, 0 passed, 0 failed, 0 hook errors')
  assert.match(o.out, /2 tests did not run: test\.run\(\) was never called/)
  assert.is(junit(o).cases.get(file('no-run'))!.get('declared only')?.attrs.message, 'did not run: test.run() was never called')
})

test('a file importing uvu directly: its swallowed hook error shows as tests that did not run; --require-harness also names it', async () => {
  const o = await runs.direct
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, '(0 / 2)')
  assert.match(o.out, `FAIL ${file('direct-uvu')}: 2 declared, 0 ran, 0 passed, 0 failed, 0 hook errors in `)
  assert.match(o.out, /direct-uvu\.test\.ts: .* in [\d.]+ s  \[imports uvu directly: uvu's counts\]/)
  assert.match(o.out, '2 of 2 tests did not run and uvu reported no failure for them: a hook threw and uvu swallowed the error')
  assert.match(o.out, `${file('direct-uvu')}: imports uvu directly: declare tests with test/harness.ts (--require-harness)`)
  assert.match(o.out, `ok   ${file('green')}: 4 declared`)
  const failure = junit(o).cases.get(file('direct-uvu'))!.get("uvu suite (imports uvu directly: uvu's counts only)")
  assert.match(failure!.attrs.message, /2 of 2 tests did not run/)
})

test('a test calling process.exit(0): exit 1, the report still printed and the JUnit file written', async () => {
  const o = await runs.exits
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, /the process exited \(code 0\) before the tier finished/)
  assert.match(o.out, 'test "exits the process" did not finish')
  assert.match(o.out, 'test "never reached" did not run')
  assert.is(tierLine(o), 'tier fixture: 3 declared, 2 ran, 1 passed, 1 failed, 0 hook errors')
  assert.ok(junit(o).cases.get('tier fixture')?.get('tier'))
})

test('an unhandled rejection during a passing test fails the tier, naming the test', async () => {
  const o = await runs.uncaught
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, /unhandled rejection during test "leaves a stray rejection":\n\s+Error: fixture: nobody awaited this/)
  const failure = junit(o).cases.get(file('uncaught'))!.get('unhandled rejection (during test "leaves a stray rejection")')
  assert.is(failure?.attrs.message, 'unhandled rejection: fixture: nobody awaited this')
})

test('--bail: after the first file with a failure the rest do not run, and are reported as such', async () => {
  const o = await runs.bail
  assert.is(o.code, 1, explain(o))
  assert.is(tierLine(o), 'tier fixture: 7 declared, 3 ran, 2 passed, 1 failed, 0 hook errors')
  assert.match(o.out, `4 tests did not run: --bail: the tier stopped after a failure in ${file('failing')}`)
  assert.match(junit(o).cases.get(file('green'))!.get('one')!.attrs.message, /^did not run: --bail/)
})

test('the whole directory: one line per file in order, every file runs whatever the others did, totals add up', async () => {
  const o = await runs.all
  assert.is(o.code, 1, explain(o))
  const lines = o.out.split('\n').filter((l) => /^ {2}(ok {2}|FAIL) test\//.test(l)).map((l) => l.slice(7, l.indexOf(':')))
  const names = ['before-throws', 'crash', 'direct-uvu', 'failing', 'green', 'hang', 'hooks', 'no-run', 'tmpdir', 'uncaught']
  assert.equal(lines, names.map(file))
  assert.match(o.out, `ok   ${file('green')}: 4 declared, 4 ran, 4 passed, 0 failed, 0 hook errors`)
  assert.is(tierLine(o), 'tier fixture: 26 declared, 15 ran, 11 passed, 4 failed, 5 hook errors, 1 crashed at import')
  assert.equal(junit(o).suites.map((s) => s.attrs.name), names.map(file))
})

test("--own-tmpdir: the tier's temporary files go to a folder of its own under TMPDIR, removed when it ends", async () => {
  const made = (o: Outcome) => /^made (.+)$/m.exec(o.out)?.[1] ?? ''
  const own = await runs.ownTmp
  assert.is(own.code, 0, explain(own))
  assert.match(path.relative(tmpOf('own'), made(own)), /^rt-fixture-\w+\/fixture-\w+$/, explain(own))
  assert.not.ok(existsSync(made(own)), 'removed')
  // tsx-<uid> is the child's tsx cache, made under TMPDIR before run.mts starts.
  assert.equal(readdirSync(tmpOf('own')).filter((f) => !f.startsWith('tsx-')), [], 'nothing else left under TMPDIR')
  const shared = await runs.sharedTmp
  assert.is(shared.code, 0, explain(shared))
  assert.is(path.dirname(made(shared)), tmpOf('shared'), 'without the flag: in TMPDIR itself')
  assert.ok(existsSync(made(shared)), 'and left there')
})

test('no file matching --match fails the tier; a missing --tier is a usage error', async () => {
  const o = await runs.none
  assert.is(o.code, 1, explain(o))
  assert.match(o.out, 'no test files matching /no-such-fixture/')
  junit(o)
  const u = await runs.usage
  assert.is(u.code, 2, explain(u))
  assert.match(u.out, '--tier NAME is required')
})

test.run()
