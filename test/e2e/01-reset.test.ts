// The main job, end to end: make reset-and-test on a dirty stack, the dry run, the refusal without a terminal.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { alembicVersion, counts, db, dbsize, explain, logSize, logText, script, seedDirty, sh, stackUp, STALE_LINE, withRedisClient, writeStats } from './stack.ts'

test.before(stackUp)

test('make reset-and-test from a dirty stack ends with exit 0 and exactly the test results', async () => {
  await seedDirty()
  const version = await alembicVersion()
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /phase\s+status\s+duration/, 'summary table')
  for (const phase of ['assess', 'truncate-logs', 'restart', 'truncate-db', 'flush-redis', 'run-test', 'validate']) assert.match(o.out, new RegExp(`\\d ${phase}\\s+ok`), phase)
  assert.equal(await counts(), { users: 1, organizations: 1, campaigns: 10, leads: 200, jobs: 210 })
  const jobs = await db<{ job_type: string; status: string; n: number }>(`SELECT job_type::text, status::text, count(*)::int AS n FROM jobs GROUP BY 1, 2 ORDER BY 1`)
  assert.equal(jobs, [{ job_type: 'ENRICH_LEAD', status: 'COMPLETED', n: 200 }, { job_type: 'FETCH_LEADS', status: 'COMPLETED', n: 10 }])
  assert.is(await alembicVersion(), version, 'alembic_version untouched')
  const log = logText()
  assert.not.ok(log.includes(STALE_LINE), 'the log holds only this run')
  assert.ok(log.length > 0, "the log holds this run's lines")
  const stale = await withRedisClient((r) => r.lrange('mock_apify:dataset_working:list', 0, -1))
  assert.not.ok(stale.includes('stale-lead-1'), 'seeded Redis keys are gone')
})

test('--dry-run prints what it would do and changes nothing', async () => {
  await seedDirty()
  const before = { stats: await writeStats(), keys: await dbsize(), log: logSize() }
  const o = await script('reset_and_run', ['--dry-run'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /would run: docker(-compose| compose) .* restart/)
  assert.match(o.out, /TRUNCATE TABLE "jobs", "leads", "campaigns", "organizations", "users" RESTART IDENTITY CASCADE;/)
  assert.match(o.out, /would send: FLUSHALL ASYNC/)
  assert.match(o.out, /would truncate .*combined\.log/)
  assert.match(o.out, /would run in .*test_concurrent_campaigns_flow\.py/)
  await new Promise((r) => setTimeout(r, 1000)) // statistics are flushed within a second
  assert.equal({ stats: await writeStats(), keys: await dbsize(), log: logSize() }, before)
})

test('no terminal and no --yes: refused at once with exit 8, nothing touched', async () => {
  const before = await writeStats()
  const t0 = Date.now()
  const o = await script('reset_and_run', ['--skip', 'run-test,validate'])
  assert.is(o.code, 8, explain(o))
  assert.match(o.out, /no terminal to ask for confirmation.*Rerun with --yes/)
  assert.ok(Date.now() - t0 < 30_000)
  assert.is(await writeStats(), before)
})

test.run()
