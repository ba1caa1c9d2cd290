import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { compare, logProblems } from '../../lib/expect.ts'

test('exact and minimum expectations', () => {
  const checks = compare(
    [
      { key: 'EXPECT_LEADS', label: 'leads', op: '=', value: 200 },
      { key: 'EXPECT_USERS_MIN', label: 'users', op: '>=', value: 1 },
      { key: 'EXPECT_CAMPAIGNS', label: 'campaigns', op: '=', value: 10 },
    ],
    { EXPECT_LEADS: 200, EXPECT_USERS_MIN: 3, EXPECT_CAMPAIGNS: 9 },
  )
  assert.equal(checks.map((c) => [c.label, c.actual, c.ok]), [['leads', 200, true], ['users', 3, true], ['campaigns', 9, false]])
})

test('an expectation nothing measures is an error, not a pass', () => {
  assert.throws(() => compare([{ key: 'EXPECT_LEADS', label: 'leads', op: '=', value: 1 }], {}), /no query measures EXPECT_LEADS/)
})

test('log problems: ERROR, CRITICAL and tracebacks, not words that contain them', () => {
  const log = ['INFO ok', 'ERROR task failed', 'INFO no ERRORS here', 'CRITICAL db down', 'Traceback (most recent call last):', 'INFO error lowercase'].join('\n')
  assert.equal(logProblems(log), ['ERROR task failed', 'CRITICAL db down', 'Traceback (most recent call last):'])
})

test.run()
