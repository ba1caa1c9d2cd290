import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execute, usage } from '../../lib/run/cli.ts'
import type { PhaseSpec } from '../../lib/run/context.ts'
import { RunRecord } from '../../lib/run/record.ts'
import { phaseOf } from './fake-target.ts'
import { quietly } from './quietly.ts'
import { CheckFailed } from '../../lib/util/errors.ts'

const stateDir = mkdtempSync(path.join(tmpdir(), 'state-'))
process.env.RT_STATE_DIR = stateDir
process.env.RT_REPORT_DIR = path.join(stateDir, 'reports') // the runs' pages, not in the checkout's reports/

const ok = (name: string, figures = {}): PhaseSpec => ({ ...phaseOf(name), destroys: null, run: async () => figures })
const boom = (name: string): PhaseSpec => ({ ...phaseOf(name), destroys: null, run: async () => { throw new Error(`${name} broke`) } })


test('a failing phase exits with its own code and the later phases do not run', async () => {
  const json = path.join(stateDir, 'report.json')
  const { value, text } = await quietly(() =>
    execute({ script: 'x.mts', purpose: 'p', phases: [ok('assess', { containers: 12 }), ok('truncate-logs'), boom('truncate-db'), ok('validate')] }, ['--json', json]),
  )
  assert.is(value, 4)
  assert.match(text, /truncate-db failed: truncate-db broke/)
  const report = JSON.parse(readFileSync(json, 'utf8'))
  assert.is(report.exitCode, 4)
  assert.equal(report.phases.map((p: { name: string; status: string }) => `${p.name}:${p.status}`), ['assess:ok', 'truncate-logs:ok', 'truncate-db:failed', 'validate:not run'])
  assert.equal(report.phases[0].figures, { containers: 12 })
  assert.is(report.phases[2].error, 'truncate-db broke')
  assert.type(report.phases[0].durationMs, 'number')
  assert.match(text, /phase\s+status\s+duration/)
})

test('each phase maps to its exit code', async () => {
  const names = ['assess', 'truncate-logs', 'restart', 'truncate-db', 'flush-redis', 'run-test', 'validate']
  for (const [i, name] of names.entries()) {
    const { value } = await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [boom(name)] }, []))
    assert.is(value, i + 1, name)
  }
})

test("an error while planning is the phase's failure; an error may carry its own code", async () => {
  const early: PhaseSpec = { ...phaseOf('flush-redis'), inventory: async () => { throw new Error('cannot list keys') }, run: async () => ({}) }
  const { value, text } = await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [early] }, ['--yes']))
  assert.is(value, 5)
  assert.match(text, /flush-redis failed: cannot list keys/)
  const own: PhaseSpec = { ...phaseOf('check-consistency'), run: async () => { throw new CheckFailed('found 2') } }
  assert.is((await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [own] }, []))).value, 7)
})

test('Ctrl-C during a phase: no later phase starts, the summary shows the interrupted phase, exit 130, the record says so', async () => {
  process.env.RT_STATE_DIR = stateDir // other test files of the tier set their own
  let later = false
  const signalled: PhaseSpec = { ...phaseOf('truncate-logs'), destroys: null, run: async () => {
    process.kill(process.pid, 'SIGINT')
    await new Promise((r) => setTimeout(r, 100)) // the signal arrives while the phase still runs
  } }
  const after: PhaseSpec = { ...phaseOf('truncate-db'), destroys: null, run: async () => void (later = true) }
  const junit = path.join(stateDir, 'junit.xml')
  const { value, text } = await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [ok('assess'), signalled, after] }, ['--junit', junit]))
  assert.is(value, 130)
  assert.not.ok(later, 'the next phase did not start')
  assert.match(text, /SIGINT received/)
  assert.match(text, /2 truncate-logs\s+interrupted/)
  assert.match(text, /4 truncate-db\s+not run/)
  const record = readdirSync(stateDir).find((f) => f.endsWith('.last-run.json'))!
  assert.equal(RunRecord.read(path.join(stateDir, record))!.stopped, { phase: 'truncate-logs', how: 'interrupted' })
  assert.match(readFileSync(junit, 'utf8'), /name="2 truncate-logs"[^]*<failure message="interrupted: interrupted by SIGINT"/)
})

test('success exits 0', async () => {
  const { value } = await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [ok('assess')] }, []))
  assert.is(value, 0)
})

test('unknown options and bad configuration exit 9 before any phase runs', async () => {
  let ran = false
  const spy: PhaseSpec = { ...phaseOf('assess'), run: async () => void (ran = true) }
  const { value, text } = await quietly(() => execute({ script: 'x.mts', purpose: 'p', phases: [spy] }, ['--bogus', '--restart-mode', 'reboot', '--ready-timeout', 'x']))
  assert.is(value, 9)
  assert.not.ok(ran)
  assert.match(text, /unknown option: --bogus/)
  assert.match(text, /RESTART_MODE="reboot"/)
  assert.match(text, /READY_TIMEOUT="x"/)
})

test('--help prints usage with the exit codes and exits 0', async () => {
  const { value, text } = await quietly(() => execute({ script: 'x.mts', purpose: 'Does x.', phases: [] }, ['--help']))
  assert.is(value, 0)
  assert.match(text, /usage: \.\/scripts\/x\.mts/)
  assert.match(usage({ script: 'x.mts', purpose: 'p', phases: [] }), /8 refused/)
})

test.run()
