// Validation by relations, and the smoke test's verdict: pure logic, no database.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { INVARIANTS, judge, relations, relationsSql } from '../../lib/validation.ts'
import { verdict } from '../../lib/verdict.ts'

const expect10 = [{ key: 'EXPECT_CAMPAIGNS' as const, label: 'campaigns', value: 10 }]

test('the relations: the campaign count asked for, then the invariants of a good run', () => {
  const list = relations(expect10)
  assert.is(list.length, 1 + INVARIANTS.length)
  assert.equal(list.map((r) => r.name).slice(0, 5), ['campaigns = EXPECT_CAMPAIGNS', 'every campaign COMPLETED', 'one FETCH_LEADS job COMPLETED per campaign', 'no campaign without exactly one FETCH_LEADS job COMPLETED', 'one ENRICH_LEAD job COMPLETED per lead'])
  const { sql, columns } = relationsSql(list)
  assert.ok(sql.startsWith('SELECT (SELECT count(*) FROM campaigns)::int AS l0, '))
  assert.ok(columns.includes('l4') && columns.includes('r4'), 'ENRICH_LEAD COMPLETED and leads both counted')
  assert.not.ok(columns.includes('r0'), 'a fixed number is not queried')
})

test('a good run with 87 leads holds; the table shows both sides', () => {
  const list = relations(expect10)
  const good = { l0: 10, l1: 10, r1: 10, l2: 10, r2: 10, l3: 0, l4: 87, r4: 87, l5: 0, l6: 0, l7: 0, l8: 1, l9: 1 }
  const checks = judge(list, good)
  assert.ok(checks.every((c) => c.ok), JSON.stringify(checks.filter((c) => !c.ok)))
  const enrich = checks.find((c) => c.name === 'one ENRICH_LEAD job COMPLETED per lead')!
  assert.equal([enrich.relation, enrich.values], ['ENRICH_LEAD COMPLETED = leads', '87 = 87'])
})

test('a broken relation fails and says which side is which', () => {
  const checks = judge(relations(expect10), { l0: 10, l1: 9, r1: 10, l2: 10, r2: 10, l3: 0, l4: 86, r4: 87, l5: 1, l6: 0, l7: 0, l8: 0, l9: 1 })
  const failed = checks.filter((c) => !c.ok).map((c) => c.detail)
  assert.equal(failed, [
    'campaigns COMPLETED = campaigns: 9 ≠ 10',
    'ENRICH_LEAD COMPLETED = leads: 86 ≠ 87',
    'campaigns that differ = 0: 1 ≠ 0',
    'users >= 1: 0 < 1',
  ])
})

test('exact numbers are extra checks, off unless asked for', () => {
  const list = relations([...expect10, { key: 'EXPECT_LEADS', label: 'leads', value: 87 }])
  assert.is(list[1].name, 'leads = EXPECT_LEADS')
})

const PASS = /TEST RESULT: SUCCESSFUL EXECUTION/m
const FAIL = /TEST RESULT: (SERVICE FAILURE DETECTED|APPLICATION\/INFRASTRUCTURE FAILURE)/m

test('the verdict line decides, even when the test exits 0', () => {
  const ok = verdict('...\n🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING\n', 0, PASS, FAIL)
  assert.equal([ok.passed, ok.decided], [true, 'pass pattern'])
  assert.match(ok.reason, /"🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING"/)
  const service = verdict('🛑 TEST RESULT: SERVICE FAILURE DETECTED\n', 0, PASS, FAIL)
  assert.equal([service.passed, service.decided], [false, 'fail pattern'])
  assert.match(service.reason, /failure verdict "🛑 TEST RESULT: SERVICE FAILURE DETECTED".*exit code 0/)
  assert.equal(verdict('❌ TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE', 0, PASS, FAIL).passed, false)
})

test('no verdict line: fails when a pass pattern is required, passes on exit 0 when none is', () => {
  assert.equal(verdict('done\n', 0, PASS, FAIL).decided, 'no pass verdict')
  assert.equal(verdict('done\n', 0, null, FAIL), { passed: true, decided: 'exit code 0', reason: 'exit code 0 (no TEST_PASS_PATTERN to match)' })
  assert.equal(verdict('🎉 TEST RESULT: SUCCESSFUL EXECUTION\n', 1, PASS, FAIL).decided, 'exit code')
})

test.run()
