import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { PHASE_NAMES, PHASES } from '../../lib/run/registry.ts'
import { selectPhases, SelectionError } from '../../lib/run/select.ts'

test('phases keep the exit codes users know: 1..7 in order', () => {
  assert.equal(PHASES.map((p) => [p.number, p.exitCode]), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7]])
})

test('no selection runs every phase', () => {
  assert.equal(selectPhases({}), PHASE_NAMES)
})

test('--from and --to take names or numbers', () => {
  assert.equal(selectPhases({ from: 'truncate-db', to: 6 }), ['truncate-db', 'flush-redis', 'run-test'])
  assert.equal(selectPhases({ from: '3' }), ['restart', 'truncate-db', 'flush-redis', 'run-test', 'validate'])
})

test('--only and --skip', () => {
  assert.equal(selectPhases({ only: 'validate,assess' }), ['assess', 'validate'])
  assert.equal(selectPhases({ skip: 'restart,run-test,validate' }), ['assess', 'truncate-logs', 'truncate-db', 'flush-redis'])
})

test('bad selections are errors that name the problem', () => {
  assert.throws(() => selectPhases({ only: 'reboot' }), (e: Error) => e instanceof SelectionError && /unknown phase "reboot"/.test(e.message))
  assert.throws(() => selectPhases({ from: 'validate', to: 'assess' }), /comes after/)
  assert.throws(() => selectPhases({ only: 'assess', from: 'assess' }), /cannot be combined/)
  assert.throws(() => selectPhases({ only: 'assess', skip: '1' }), /no phase to run/)
})

test.run()
