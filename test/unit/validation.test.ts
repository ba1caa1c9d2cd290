// Validation by relations read from a checks file, and the smoke test's verdict: pure logic, no database.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { KEYS, SUITE_ROOT } from '../../lib/config/config.ts'
import { ChecksWrite, countChecks, judge, loadChecks, relationsSql, sqlValue, writingChecks } from '../../lib/app/checks.ts'
import { DbError } from '../../lib/access/database.ts'
import { verdict } from '../../lib/app/verdict.ts'

const SHIPPED = path.join(SUITE_ROOT, 'checks', 'fastapi-k8-proto.yaml')
const defaults = Object.fromEntries(Object.entries(KEYS).map(([k, [v]]) => [k, v as string]))
const settings = (extra: Record<string, string> = {}) => (k: string) => ({ ...defaults, ...extra })[k]

function file(text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'checks-')), 'checks.yaml')
  writeFileSync(f, text)
  return f
}

test('the shipped checks: the campaign count, campaigns in a finished state (RUNNING counts), the relations; exact numbers off', () => {
  const { checks, problems } = loadChecks(SHIPPED, settings())
  assert.equal(problems, [])
  assert.equal(checks.relations.map((r) => r.name).slice(0, 5), [
    'campaigns = EXPECT_CAMPAIGNS',
    'every campaign in a state of CAMPAIGN_FINISHED_STATES (RUNNING,COMPLETED)',
    'one FETCH_LEADS job COMPLETED per campaign',
    'no campaign without exactly one FETCH_LEADS job COMPLETED',
    'one ENRICH_LEAD job COMPLETED per lead',
  ])
  assert.is(checks.relations.length, 10)
  assert.equal(checks.off.map((o) => o.replace(/ \(.*/, '')), ['leads = EXPECT_LEADS', 'FETCH_LEADS COMPLETED = EXPECT_FETCH_JOBS_COMPLETED', 'ENRICH_LEAD COMPLETED = EXPECT_ENRICH_JOBS_COMPLETED', 'jobs = EXPECT_JOBS'])
  assert.match(checks.relations[1].left.sql!, /IN \('RUNNING', 'COMPLETED'\)/)
  assert.equal(checks.relations[0].right, { label: 'EXPECT_CAMPAIGNS', value: 10 })
  assert.match(checks.relations[0].at, /fastapi-k8-proto\.yaml:\d+$/)
  const on = loadChecks(SHIPPED, settings({ EXPECT_LEADS: '87' })).checks
  assert.is(on.relations.length, 11)
  assert.equal(on.relations.find((r) => r.name === 'leads = EXPECT_LEADS')!.right, { label: 'EXPECT_LEADS', value: 87 })
})

test('the real app\'s good run (every campaign RUNNING, 87 leads) holds; the table shows both sides', () => {
  const list = loadChecks(SHIPPED, settings()).checks.relations
  const { sql, columns } = relationsSql(list)
  assert.ok(sql.startsWith('SELECT (SELECT count(*) FROM campaigns)::bigint AS l0, '))
  assert.not.ok(columns.includes('r0'), 'a fixed number is not queried')
  const good = { l0: 10, l1: 10, r1: 10, l2: 10, r2: 10, l3: 0, l4: 87, r4: 87, l5: 0, l6: 0, l7: 0, l8: 1, l9: 1 }
  const checks = judge(list, good)
  assert.ok(checks.every((c) => c.ok), JSON.stringify(checks.filter((c) => !c.ok)))
  const enrich = checks.find((c) => c.name === 'one ENRICH_LEAD job COMPLETED per lead')!
  assert.equal([enrich.relation, enrich.values], ['ENRICH_LEAD COMPLETED = leads', '87 = 87'])
})

test('a broken relation fails and says which side is which', () => {
  const list = loadChecks(SHIPPED, settings()).checks.relations
  const checks = judge(list, { l0: 10, l1: 8, r1: 10, l2: 9, r2: 10, l3: 0, l4: 86, r4: 87, l5: 1, l6: 0, l7: 0, l8: 0, l9: 1 })
  assert.equal(checks.filter((c) => !c.ok).map((c) => c.detail), [
    'campaigns in those states = campaigns: 8 ≠ 10',
    'FETCH_LEADS COMPLETED = campaigns: 9 ≠ 10',
    'ENRICH_LEAD COMPLETED = leads: 86 ≠ 87',
    'campaigns that differ = 0: 1 ≠ 0',
    'users >= 1: 0 < 1',
  ])
})

test('settings in SQL become literals; the finished states are a setting', () => {
  assert.is(sqlValue('RUNNING, COMPLETED'), "'RUNNING', 'COMPLETED'")
  assert.is(sqlValue("O'Brien"), "'O''Brien'")
  assert.is(sqlValue('42'), '42')
  const only = loadChecks(SHIPPED, settings({ CAMPAIGN_FINISHED_STATES: 'COMPLETED' })).checks.relations[1]
  assert.match(only.left.sql!, /IN \('COMPLETED'\)/)
})

test('a mistake in the checks file is named with its line, every one at once', () => {
  const f = file(['- name: fine', '  count: {n: SELECT 1}', '  relation: "="', '  other: 1', '- name: no relation', '  count: {n: SELECT 1}', '  other: 1', '- name: bad op', '  count: {n: SELECT 1}', '  relation: "=="', '  other: 1', '- name: writes', '  count: {n: "DELETE FROM users"}', '  relation: "="', '  other: 0', '- name: unknown setting', '  count: {n: SELECT 1}', '  relation: "="', '  other: ${NO_SUCH_KEY}', '- name: typo', '  count: {n: SELECT 1}', '  relation: "="', '  other: 1', '  othr: 2', ''].join('\n'))
  const { problems } = loadChecks(f, settings())
  assert.equal(problems.map((p) => p.replace(f, 'F')), [
    'F:5: the check has no "relation"',
    'F:10: relation "==" is not one of = != >= <= > < (quote it: relation: "=")',
    'F:13: count: the SQL must be one SELECT (or WITH ... SELECT) returning one number',
    'F:19: ${NO_SUCH_KEY} is not a setting of the suite (see .env.example)',
    'F:24: unknown field "othr" (a check has name, count, relation, other)',
  ])
  assert.match(loadChecks(file('- name: x\n  count: {n: [\n'), settings()).problems[0], /:\d+: not valid YAML/)
  assert.match(loadChecks(file('name: x\n'), settings()).problems[0], /:1: the file must be a list of checks/)
  assert.match(loadChecks(file('- name: x\n  count: {n: "SELECT 1; DROP TABLE users"}\n  relation: "="\n  other: 1\n'), settings()).problems[0], /:2: count: the SQL must be one statement/)
  assert.match(loadChecks('/nonexistent/checks.yaml', settings()).problems[0], /does not exist/)
})

test('other relations: != > < <=', () => {
  const rel = (op: string) => loadChecks(file(`- name: n ${op} 3\n  count: {n: SELECT 1}\n  relation: "${op}"\n  other: 3\n`), settings()).checks.relations
  assert.equal(judge(rel('!='), { l0: 2 }).map((c) => [c.ok, c.values]), [[true, '2 != 3']])
  assert.equal(judge(rel('>'), { l0: 3 }).map((c) => [c.ok, c.values]), [[false, '3 ≤ 3']])
  assert.equal(judge(rel('<'), { l0: 2 }).map((c) => c.ok), [true])
  assert.equal(judge(rel('<='), { l0: 4 }).map((c) => [c.ok, c.values]), [[false, '4 > 3']])
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

const WRITING = `- name: jobs counted
  count: {jobs: SELECT count(*) FROM jobs}
  relation: ">="
  other: 0

- name: a check that moves a sequence
  count:
    n: SELECT setval('jobs_id_seq', 4242)
  relation: "="
  other: {also: "SELECT count(*) FROM leads WHERE nextval('x') > 0"}
`

/** A database that refuses, as PostgreSQL does in a READ ONLY transaction, any query calling setval or nextval. */
const readOnly = (queries: string[] = []) => ({
  rows: async <T>(sql: string): Promise<T[]> => {
    queries.push(sql)
    const f = /\b(setval|nextval)\(/.exec(sql)?.[1]
    if (f) throw new DbError(`cannot execute ${f}() in a read-only transaction (SQLSTATE 25006)`, '25006', `cannot execute ${f}() in a read-only transaction`)
    return [{ l0: 1, n: 1 } as T]
  },
})

test("each query side knows its line: a check that writes is named by the file, its line, the side and its label", async () => {
  const f = file(WRITING)
  const { checks, problems } = loadChecks(f, settings())
  assert.equal(problems, [])
  assert.match(checks.relations[1].left.at!, /checks\.yaml:8$/, "the label's line")
  assert.match(checks.relations[1].right.at!, /checks\.yaml:10$/)
  const shown = path.relative(process.cwd(), f)
  assert.equal(await writingChecks(readOnly(), checks.relations), [
    `${shown}:8: count 'n' tried to write (PostgreSQL refused: cannot execute setval() in a read-only transaction); a check must only read`,
    `${shown}:10: other 'also' tried to write (PostgreSQL refused: cannot execute nextval() in a read-only transaction); a check must only read`,
  ])
})

test('the counts run as one query; when PostgreSQL refuses a write in it, each side is run alone (read-only) to name the writers', async () => {
  const { checks } = loadChecks(file(WRITING), settings())
  const queries: string[] = []
  const e = await countChecks(readOnly(queries), checks.relations).then(() => null, (e: Error) => e)
  assert.ok(e instanceof ChecksWrite)
  assert.equal((e as ChecksWrite).found.length, 2)
  assert.match(e!.message, /:8: count 'n' tried to write[^]*:10: other 'also' tried to write/)
  assert.is(queries.length, 1 + 3, 'the combined query, then each query side alone')
  const fine = loadChecks(SHIPPED, settings()).checks.relations
  assert.equal(await countChecks(readOnly(), fine), { l0: 1, n: 1 })
  // Any other failure is the database's, as it was
  const broken = { rows: async () => { throw new DbError('relation "jobs" does not exist (SQLSTATE 42P01)', '42P01') } }
  const other = await countChecks(broken, fine).then(() => null, (e: Error) => e)
  assert.ok(other instanceof DbError && !(other instanceof ChecksWrite))
})

test.run()
