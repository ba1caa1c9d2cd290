// The run loop with a fake target and a fake prompt: the gates, the plan and the confirmation, a
// refusal that puts held workers back, signals and their exit codes, the record, --json - and
// --version. No Docker: a command that reached the runner would fail the test.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execute, type Parts, type ScriptSpec } from '../../lib/run/cli.ts'
import type { PhaseSpec } from '../../lib/run/context.ts'
import { RunRecord } from '../../lib/run/record.ts'
import { RefusedError, UsageError } from '../../lib/util/errors.ts'
import restart from '../../scripts/restart.mts'
import truncateLogs from '../../scripts/truncate-logs.mts'
import { FakeTarget, noRunner, phaseOf } from './fake-target.ts'

process.env.RT_REPORT_DIR = mkdtempSync(path.join(tmpdir(), 'loop-reports-')) // the runs' pages, not in reports/

function setup(confirm: 'yes' | 'no' = 'yes') {
  const target = new FakeTarget()
  const asked: string[] = []
  const parts: Parts = {
    runner: noRunner,
    target: () => target,
    confirm: async (question) => (asked.push(question), confirm === 'yes'),
    stateDir: mkdtempSync(path.join(tmpdir(), 'loop-')),
  }
  return { target, asked, parts }
}

/** The loop's tests run the restart mode: the in-place mode reads real servers (its tests are end-to-end). */
const RESTART = ['--restart-mode', 'restart']
const spec = (phases: PhaseSpec[]): ScriptSpec => ({ script: 'x.mts', purpose: 'p', phases })

/** Runs with stdout and stderr kept apart and off the test report. */
async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const o = process.stdout.write.bind(process.stdout)
  const e = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write
  try {
    return { value: await fn(), stdout, stderr }
  } finally {
    process.stdout.write = o
    process.stderr.write = e
  }
}

test('the plan of what the phases destroy is shown and confirmed once, then the phases act on the target', async () => {
  const { target, asked, parts } = setup('yes')
  process.env.CI = ''
  const { value, stdout } = await quietly(() => execute(spec([truncateLogs, restart]), [...RESTART, ], parts))
  assert.is(value, 0, stdout)
  assert.equal(asked, ['Type "yes" to go ahead: '], 'asked once, before the first destructive phase')
  assert.match(stdout, /about to destroy:[^]*log file \/fake\/logs\/combined.log \(configured as [^)]*\): 120 bytes emptied[^]*containers, mode restart \(a fake compose project p\): 2 restarted: p-api-1, p-worker-1/)
  assert.equal(target.journal, ['truncate log', 'restart api,worker (restart)'])
  assert.match(stdout, /2 truncate-logs\s+ok[^]*3 restart\s+ok/)
})

test('not confirmed: exit 8 and the target untouched', async () => {
  const { target, parts } = setup('no')
  const { value, stderr } = await quietly(() => execute(spec([truncateLogs, restart]), [...RESTART, ], parts))
  assert.is(value, 8)
  assert.match(stderr, /refused: not confirmed; nothing was changed/)
  assert.equal(target.journal, [])
})

test('a production signal of the target refuses the run before anything at all changes, assess included', async () => {
  const { target, parts } = setup()
  target.signalsToGive = ['the context is named prod-eu']
  let assessed = false
  const assess: PhaseSpec = { ...phaseOf('assess'), run: async () => void (assessed = true) }
  const { value, stderr } = await quietly(() => execute(spec([assess, truncateLogs]), [...RESTART, '--yes'], parts))
  assert.is(value, 8)
  assert.match(stderr, /this looks like a production target: the context is named prod-eu/)
  assert.not.ok(assessed, 'assess did not start anything')
  assert.equal(target.journal, [])
})

test('a refusal after the workers were held starts them again: the refusal changes nothing', async () => {
  const { target, parts } = setup()
  const refusing: PhaseSpec = {
    ...phaseOf('truncate-db'),
    destroys: null,
    run: async (ctx) => {
      ctx.record.hold(['worker'])
      await ctx.target.stop(['worker'])
      throw new RefusedError('a table appeared since the plan')
    },
  }
  const { value, stdout, stderr } = await quietly(() => execute(spec([refusing]), [...RESTART, '--yes'], parts))
  assert.is(value, 8)
  assert.match(stderr, /refused: a table appeared since the plan/)
  assert.equal(target.journal, ['stop worker', 'start worker'])
  assert.match(stdout, /worker started: 1 instances ready after [\d.]+ s: the refusal leaves the stack as it was/)
  assert.ok(target.list.filter((i) => i.service === 'worker').every((i) => i.state === 'running'))
})

test('SIGTERM during a phase: exit 143 (not 130), no later phase, the record says where it stopped', async () => {
  const { parts } = setup()
  let later = false
  const signalled: PhaseSpec = { ...phaseOf('run-test'), run: async () => {
    process.kill(process.pid, 'SIGTERM')
    await new Promise((r) => setTimeout(r, 100))
  } }
  const after: PhaseSpec = { ...phaseOf('validate'), run: async () => void (later = true) }
  const { value, stdout } = await quietly(() => execute(spec([signalled, after]), [...RESTART, '--yes'], parts))
  assert.is(value, 143)
  assert.not.ok(later)
  assert.match(stdout, /SIGTERM received/)
  const file = readdirSync(parts.stateDir!).find((f) => f.endsWith('.last-run.json'))!
  assert.equal(RunRecord.read(path.join(parts.stateDir!, file))!.stopped, { phase: 'run-test', how: 'interrupted' })
})

test('a failure exits with the phase\'s code and leaves the record for --resume', async () => {
  const { parts } = setup()
  const failing: PhaseSpec = { ...phaseOf('run-test'), run: async () => { throw new Error('the test exited with code 1') } }
  const { value } = await quietly(() => execute(spec([failing]), [...RESTART, ], parts))
  assert.is(value, 6)
  const file = readdirSync(parts.stateDir!).find((f) => f.endsWith('.last-run.json'))!
  assert.match(file, /^compose-[\w-]+-[0-9a-f]{8}\.last-run\.json$/, 'keyed by the target kind, the project and where it is')
  assert.equal(RunRecord.read(path.join(parts.stateDir!, file))!.stopped, { phase: 'run-test', how: 'failed' })
})

test('a failure says what the run changed before it, from what the steps said, and what it did not reach', async () => {
  const { parts } = setup()
  const saying: PhaseSpec = { ...phaseOf('assess'), run: async (ctx) => void ctx.record.changed('started worker') }
  const failing: PhaseSpec = { ...phaseOf('run-test'), run: async () => { throw new Error('boom') } }
  const later: PhaseSpec = { ...phaseOf('restart'), run: async () => {} }
  const untouched: PhaseSpec = { ...phaseOf('truncate-logs'), destroys: null, run: async () => { throw new Error('first') } }
  const { value, stderr } = await quietly(() => execute(spec([saying, truncateLogs, failing, later]), ['--yes', ...RESTART], parts))
  assert.is(value, 6)
  assert.match(stderr, /run-test failed: boom; changed before it stopped: started worker; emptied the log; not changed: the containers\./)
  const nothing = await quietly(() => execute(spec([untouched]), ['--yes', ...RESTART], setup().parts))
  assert.match(nothing.stderr, /truncate-logs failed: first; nothing was changed\./)
})

test("a later phase's read-only probe runs before the first phase changes anything: its refusal is exit 9, nothing touched", async () => {
  const { target, parts } = setup()
  const probed: string[] = []
  const first: PhaseSpec = { ...phaseOf('run-test'), probe: async () => void probed.push('run-test'), run: async () => void target.journal.push('ran the test') }
  const writing: PhaseSpec = {
    ...phaseOf('validate'),
    probe: async () => {
      probed.push('validate')
      throw new UsageError("checks/x.yaml:12: count 'n' tried to write (PostgreSQL refused: cannot execute setval() in a read-only transaction); a check must only read")
    },
    run: async () => ({}),
  }
  const { value, stderr } = await quietly(() => execute(spec([truncateLogs, first, writing]), [...RESTART, '--yes'], parts))
  assert.is(value, 9)
  assert.equal(probed, ['run-test', 'validate'], 'every later phase probed, the first not (its run checks before it touches anything)')
  assert.equal(target.journal, [], 'no phase ran')
  assert.match(stderr, /checks\/x\.yaml:12: count 'n' tried to write \(PostgreSQL refused: cannot execute setval\(\) in a read-only transaction\); a check must only read; nothing was changed/)
})

test('--json - puts the report alone on stdout; everything for people goes to stderr', async () => {
  const { parts } = setup()
  const ok: PhaseSpec = { ...phaseOf('validate'), run: async () => ({ checks: 10 }) }
  const { value, stdout, stderr } = await quietly(() => execute(spec([ok]), [...RESTART, '--json', '-'], parts))
  assert.is(value, 0)
  const report = JSON.parse(stdout)
  assert.equal([report.exitCode, report.phases[0].figures], [0, { checks: 10 }])
  assert.match(stderr, /validate done/)
})

test('--version prints the version and runs nothing', async () => {
  const { target, parts } = setup()
  const { value, stdout } = await quietly(() => execute(spec([truncateLogs]), [...RESTART, '--version'], parts))
  assert.is(value, 0)
  assert.match(stdout, /^reset-and-test \d+\.\d+\.\d+\n$/)
  assert.equal(target.journal, [])
})

test.run()
