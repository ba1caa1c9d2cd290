// The main job, end to end on the real example stack: make reset-and-test from a dirty stack, the
// dry run, the refusal without a terminal, the confirmation in a terminal, the app's own tests.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { EMPTY, ENV, GOOD_RUN, STALE_LINE, alembicVersion, counts, db, dbsize, explain, inTerminal, logSize, logText, script, seedDirty, sh, stackUp, withRedisClient, writeStats, need } from './stack.ts'

// Clean first: a worker whose log shows a broker reconnect (an earlier run stopped Redis) would be restarted by the
// first reset, and its shutdown lines would count as errors logged during it.
test.before(() => need('clean'))

test('make reset-and-test from a dirty stack: exit 0, the relation table, exactly one good run of data, errors of the reset reported apart', async () => {
  await seedDirty()
  const version = await alembicVersion()
  const json = path.join(SUITE_ROOT, 'reports', 'e2e-main.json')
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=--json ${json}`])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /phase\s+status\s+duration/, 'summary table')
  assert.match(o.out, /1 assess\s+ok\s+[\d.]+ s\s+containers=12 postgres=15\.\d+/, 'a figure named like the password stays readable')
  for (const phase of ['assess', 'truncate-logs', 'restart', 'truncate-db', 'flush-redis', 'run-test', 'validate']) assert.match(o.out, new RegExp(`\\d ${phase}\\s+ok`), phase)
  // The relations, both sides shown, with the real app's uneven leads
  assert.match(o.out, /one ENRICH_LEAD job COMPLETED per lead\s+ENRICH_LEAD COMPLETED = leads\s+87 = 87\s+ok/)
  assert.match(o.out, /every campaign in a state of CAMPAIGN_FINISHED_STATES \(RUNNING,COMPLETED\)\s+campaigns in those states = campaigns\s+10 = 10\s+ok/)
  assert.match(o.out, /verdict "🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING" and exit code 0/)
  assert.match(o.out, /decided=pass pattern/)
  // In place (the default) no worker stops, so none logs its shutdown ERROR (the restart mode's are in 03-verdict)
  assert.match(o.out, /no errors logged during the test/)
  assert.not.match(o.out, /errors logged during the reset/)
  // The plan named what it destroyed before anything was
  assert.match(o.out, /about to destroy:[^]*database fastapi_k8_proto on reset-and-test-example-postgres-1 \([\d.]+\), an instance of postgres/)
  assert.match(o.out, /paused in place while the database and Redis are emptied: 8 Celery workers of worker \(queues celery\)/)
  assert.match(o.out, /FLUSHALL empties every database: db0 \(\d+ keys\)/)
  assert.equal(await counts(), GOOD_RUN)
  const jobs = await db<{ job_type: string; status: string; n: number }>(`SELECT job_type::text, status::text, count(*)::int AS n FROM jobs GROUP BY 1, 2 ORDER BY 1`)
  assert.equal(jobs, [{ job_type: 'ENRICH_LEAD', status: 'COMPLETED', n: 87 }, { job_type: 'FETCH_LEADS', status: 'COMPLETED', n: 10 }])
  const [{ first }] = await db<{ first: number }>('SELECT min(id)::int AS first FROM jobs')
  assert.is(first, 1, 'RESTART IDENTITY: the first job after the reset is number 1')
  assert.is(await alembicVersion(), version, 'alembic_version untouched')
  const log = logText()
  assert.not.ok(log.includes(STALE_LINE), 'the log holds only this run')
  assert.ok(log.length > 0, "the log holds this run's lines")
  const stale = await withRedisClient((r) => r.lrange('mock_apify:dataset_working:list', 0, -1))
  assert.not.ok(stale.includes('stale-lead-1'), 'seeded Redis keys are gone')
  const report = JSON.parse(readFileSync(json, 'utf8'))
  assert.is(report.exitCode, 0)
  assert.equal(report.plan.database.tables.map((t: { name: string }) => t.name), ['jobs', 'leads', 'campaigns', 'organizations', 'users'])
  assert.is(report.phases[6].checks.length, 10)
})

test('--dry-run shows the plan and every command, and changes nothing', async () => {
  await seedDirty()
  const before = { stats: await writeStats(), keys: await dbsize(), log: logSize() }
  const o = await script('reset_and_run', ['--dry-run'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /would destroy:/)
  // in place (the default) restarts nothing that did not change, and pauses the workers
  assert.match(o.out, /containers, mode in-place \(created from [^)]*\): nothing restarted/)
  assert.is(o.out.match(/would pause worker until Redis is cleared/g)?.length, 1)
  assert.match(o.out, /would put back what was set aside/)
  assert.not.match(o.out, /would run: docker compose .* restart/)
  assert.match(o.out, /TRUNCATE TABLE ONLY "jobs", ONLY "leads", ONLY "campaigns", ONLY "organizations", ONLY "users" RESTART IDENTITY;/)
  assert.match(o.out, /would send: FLUSHALL ASYNC/)
  assert.match(o.out, /would truncate .*combined\.log/)
  assert.match(o.out, /would run in .*test_concurrent_campaigns_flow\.py/)
  assert.equal({ stats: await writeStats(), keys: await dbsize(), log: logSize() }, before)
  // the restart mode restarts the api alone, killed at once: its PID 1 (a shell) ignores SIGTERM
  const restart = await script('reset_and_run', ['--dry-run', '--restart-mode', 'restart'])
  assert.is(restart.code, 0, explain(restart))
  assert.match(restart.out, /would run: docker compose .* restart -t 0 api\n/)
  assert.is(restart.out.match(/would stop worker until Redis is cleared/g)?.length, 1)
  assert.match(restart.out, /would start worker and wait until ready/)
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

test('in a terminal: shows the plan and asks once; "no" exits 8, "yes" goes ahead', async () => {
  await seedDirty()
  const before = await writeStats()
  const no = inTerminal('node --import tsx scripts/truncate-db.mts', 'no\n')
  assert.is(no.code, 8, no.out)
  assert.match(no.out, /about to destroy:/)
  assert.match(no.out, /database fastapi_k8_proto on .*5 tables emptied/)
  assert.match(no.out, /jobs: \d+ rows/)
  assert.match(no.out, /Type "yes" to go ahead/)
  assert.match(no.out, /not confirmed; nothing was changed/)
  assert.is(await writeStats(), before)
  const yes = inTerminal('node --import tsx scripts/truncate-db.mts', 'yes\n')
  assert.is(yes.code, 0, yes.out)
  assert.equal(await counts(), EMPTY)
})

test("make docker-test runs the app's pytest suite in a one-off api container", async () => {
  const o = await sh(['make', '--no-print-directory', 'docker-test'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /\d+ passed/)
})

test.run()
