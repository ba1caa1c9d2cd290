// The right verdict on an app whose smoke test exits 0 either way: its verdict line decides; errors
// logged by the reset are told apart from errors logged by the test.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { counts, EXACT, explain, GOOD_RUN, script, stackUp, need } from './stack.ts'

test.before(() => need('up'))

const SMOKE = 'python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py'

test('the smoke test prints its failure verdict and exits 0: run-test exits 6 and says what decided', async () => {
  for (const [force, line] of [['service-failure', '🛑 TEST RESULT: SERVICE FAILURE DETECTED'], ['app-failure', '❌ TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE']]) {
    const o = await script('run-test', ['--junit', path.join(SUITE_ROOT, 'reports', `e2e-verdict-${force}.xml`)], { RT_TEST_COMMAND: `SMOKE_FORCE=${force} ${SMOKE}` })
    assert.is(o.code, 6, explain(o))
    assert.match(o.out, new RegExp(`the test printed its failure verdict "${line.replace(/[()/]/g, '\\$&')}" \\(TEST_FAIL_PATTERN; exit code 0\\)`))
    assert.match(readFileSync(path.join(SUITE_ROOT, 'reports', `e2e-verdict-${force}.xml`), 'utf8'), /<failure message="failed: the test printed its failure verdict/)
  }
})

test('a smoke test that prints no verdict and exits 0 passes only when no pass pattern is required', async () => {
  const env = { RT_TEST_COMMAND: `SMOKE_FORCE=no-verdict ${SMOKE}` }
  const required = await script('run-test', [], env)
  assert.is(required.code, 6, explain(required))
  assert.match(required.out, /exited 0 but printed no line matching TEST_PASS_PATTERN/)
  const free = await script('run-test', ['--test-pass-pattern', ''], env)
  assert.is(free.code, 0, explain(free))
  assert.match(free.out, /test passed in [\d.]+ s: exit code 0 \(no TEST_PASS_PATTERN to match\)/)
  const failing = await script('run-test', ['--test-pass-pattern', ''], { RT_TEST_COMMAND: 'false' })
  assert.is(failing.code, 6, explain(failing))
  assert.match(failing.out, /the test exited with code 1/)
  assert.match(failing.out, /; changed before it stopped: ran the test in \S+ for [\d.]+ s \(what it wrote stays\)/)
  assert.not.match(failing.out, /nothing was changed/)
})

test('--strict-logs: the workers\' ERROR lines of the restart are the reset\'s and do not fail; an error logged during the test does', async () => {
  const o = await script('reset_and_run', ['--yes', '--strict-logs', '--restart-mode', 'restart', ...EXACT])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /no errors logged during the test/)
  assert.match(o.out, /(\d+) errors logged during the reset \(not judged; restarted workers log them\)/)
  assert.match(o.out, /\d+× ERROR celery\.utils\.dispatch\.signal AttributeError/)
  for (const line of o.out.split('\n').filter((l) => /× ERROR/.test(l))) assert.ok(line.length <= 210, `a finding line of at most 200 characters: ${line}`)
  assert.equal(await counts(), GOOD_RUN)
  const findings = readdirSync(path.join(SUITE_ROOT, 'logs')).filter((f) => f.startsWith('log-findings-')).sort().pop()!
  const saved = JSON.parse(readFileSync(path.join(SUITE_ROOT, 'logs', findings), 'utf8'))
  assert.ok(saved.duringTheReset.length > 0 && saved.duringTheTest.length === 0, 'the full list is saved, split the same way')

  // An error logged after the test started: the app logs it inside its container, as a JSON line
  const inject = `echo '{"timestamp": "now", "level": "ERROR", "name": "app.api", "message": "injected while the test ran", "exc_info": ["Traceback (most recent call last):", "ValueError: injected"]}' >> /app/logs/combined.log`
  const withError = await script('run-test', ['--test-pass-pattern', ''], { RT_TEST_COMMAND: inject })
  assert.is(withError.code, 0, explain(withError))
  const strict = await script('validate', ['--strict-logs', '--expect-campaigns', '10'])
  assert.is(strict.code, 7, explain(strict))
  assert.match(strict.out, /1 errors logged during the test, 1 kinds:\n\s+1× ERROR app\.api ValueError: injected while the test ran/)
  assert.match(strict.out, /check failed: no errors logged during the test \(--strict-logs\)/)
  const lenient = await script('validate', ['--expect-campaigns', '10'])
  assert.is(lenient.code, 0, explain(lenient))
})

test.run()
