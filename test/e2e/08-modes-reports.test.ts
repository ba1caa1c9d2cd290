// The recreate mode on real containers, identities restarting at 1, and what CI gets from a
// failure: a JUnit file and a diagnostics folder whose files name it.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { compose, counts, db, EMPTY, explain, script, seedDirty, stackUp, withRedisClient, need } from './stack.ts'

test.before(() => need('up'))

test('recreate mode: every container is new, the held workers too; after the truncation every sequence of the reset tables starts again at 1', async () => {
  await seedDirty()
  await db("SELECT setval('jobs_id_seq', 5000)")
  const before = (await (await compose()).instances()).map((i) => i.id)
  const o = await script('reset_and_run', ['--yes', '--restart-mode', 'recreate', '--skip', 'run-test,validate'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /containers, mode recreate/)
  const after = await (await compose()).instances()
  assert.is(after.length, 12)
  assert.ok(after.every((i) => !before.includes(i.id)), 'every container was recreated')
  assert.equal(await counts(), EMPTY)
  // Every sequence owned by a column of a reset table (serial or identity), read one by one.
  const owned = await db<{ seq: string }>(
    `SELECT s.oid::regclass::text AS seq FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
     JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' AND t.relname IN ('jobs', 'leads', 'campaigns', 'organizations', 'users')`,
  )
  const seqs: { seq: string; last_value: string; is_called: boolean }[] = []
  for (const { seq } of owned) seqs.push({ seq, ...(await db<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${seq}`))[0] })
  assert.ok(seqs.length >= 1, 'the reset tables have a sequence (jobs.id)')
  for (const s of seqs) assert.ok(s.last_value === null || (s.last_value === '1' && !s.is_called), `${s.seq} restarted: ${JSON.stringify(s)}`)
})

test('a failure forced with TEST_COMMAND=false leaves a JUnit file and a diagnostics folder whose files name it', async () => {
  const junit = path.join(SUITE_ROOT, 'reports', 'e2e-forced-failure.xml')
  await withRedisClient((r) => r.set('diagnostics:probe', '1')) // a keyspace to report, whatever the tests before left
  const o = await script('run-test', ['--junit', junit, '--test-pass-pattern', ''], { RT_TEST_COMMAND: 'false' })
  assert.is(o.code, 6, explain(o))
  const xml = readFileSync(junit, 'utf8')
  assert.match(xml, /<testsuites tests="1" failures="1"/)
  assert.match(xml, /<testcase classname="run-test" name="6 run-test"[^]*<failure message="failed: the test exited with code 1/)
  const dir = /diagnostics: (\S+)/.exec(o.out)![1]
  const files = readdirSync(dir).sort()
  assert.equal(files, ['error.txt', 'logs', 'postgres-activity.txt', 'redis-keyspace.txt', 'report.json', 'status.txt'])
  assert.match(readFileSync(path.join(dir, 'error.txt'), 'utf8'), /phase: run-test[^]*the test exited with code 1/)
  assert.is(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')).phases[0].status, 'failed')
  assert.match(readFileSync(path.join(dir, 'status.txt'), 'utf8'), /reset-and-test-example-api-1/)
  assert.match(readFileSync(path.join(dir, 'postgres-activity.txt'), 'utf8'), /pid\s+usename\s+application_name/)
  assert.match(readFileSync(path.join(dir, 'redis-keyspace.txt'), 'utf8'), /db0: \d+ keys/)
  const logs = readdirSync(path.join(dir, 'logs'))
  assert.ok(logs.includes('reset-and-test-example-api-1.log'), `the failed phase's service has its log tail: ${logs}`)
  assert.ok(existsSync(path.join(dir, 'logs', 'reset-and-test-example-api-1.log')))
})

test.run()
