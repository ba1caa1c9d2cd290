// The main job, end to end: make reset-and-test on a dirty stack, the dry run, the refusal without a terminal.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { SUITE_ROOT } from '../../lib/config.ts'
import { alembicVersion, counts, db, dbsize, ENV, explain, logSize, logText, script, seedDirty, sh, stackUp, STALE_LINE, withRedisClient, writeStats } from './stack.ts'

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

/** A script in a real terminal (a pty from script(1)), typing `answer` at its prompt. */
function inTerminal(command: string, answer: string) {
  const res = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: SUITE_ROOT, input: answer, env: { ...ENV, CI: '' }, encoding: 'utf8', timeout: 120_000 })
  return { code: res.status ?? -1, out: res.stdout + res.stderr }
}

test('in a terminal: shows what will be destroyed and asks once; "no" exits 8, "yes" goes ahead', async () => {
  await seedDirty()
  const before = await writeStats()
  const no = inTerminal('node --import tsx scripts/truncate-db.mts', 'no\n')
  assert.is(no.code, 8, no.out)
  assert.match(no.out, /about to destroy:/)
  assert.match(no.out, /database fastapi_k8_proto via .*: jobs \(\d+ rows\), leads \(\d+ rows\)/)
  assert.match(no.out, /Type "yes" to go ahead/)
  assert.match(no.out, /not confirmed; nothing was changed/)
  assert.is(await writeStats(), before)
  const yes = inTerminal('node --import tsx scripts/truncate-db.mts', 'yes\n')
  assert.is(yes.code, 0, yes.out)
  assert.equal(await counts(), { users: 0, organizations: 0, campaigns: 0, leads: 0, jobs: 0 })
})

test("make docker-test runs the app's pytest suite in a one-off api container", async () => {
  const o = await sh(['make', '--no-print-directory', 'docker-test'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /\d+ passed/)
})

test.run()
