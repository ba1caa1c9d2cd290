// Stop means stop, resume into a clean state, no stale work: a signal inside each destructive
// phase (each made slow on purpose) leaves every later phase's data untouched and exits 130; a
// real smoke test interrupted half-way, then --resume, ends with an exact validation; task
// messages left in the broker never write into the fresh database; Redis with its password
// through both access paths.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import path from 'node:path'
import pg from 'pg'
import { appKeys, compose, config, container, counts, db, dbsize, EXACT, explain, fakeService, GOOD_RUN, removeContainer, run, script, seedDirty, sh, stackUp, until, withRedisClient, writeStats, need } from './stack.ts'
import { stateKey } from '../../lib/config/config.ts'
import { RunRecord } from '../../lib/run/record.ts'

test.before(() => need('up'))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** The workers a stopped run left held, started again the way a user would. */
async function backToReady() {
  const o = await script('assess')
  assert.is(o.code, 0, explain(o))
}

const ourSessions = () => db<{ state: string; wait: string | null }>(`SELECT state, wait_event_type AS wait FROM pg_stat_activity WHERE application_name LIKE 'reset-and-test:%' AND application_name NOT LIKE '%:cancel'`)

test('SIGINT while the TRUNCATE waits for a lock: cancelled on the server, rolled back, flush-redis never runs, exit 130', async () => {
  await seedDirty()
  const rows = await writeStats()
  const keys = await appKeys() // the held workers change the broker's own keys as they stop
  const port = (await (await compose()).instance('postgres')).ports['5432/tcp']
  const holder = new pg.Client({ host: '127.0.0.1', port, user: config.database.user, password: config.database.password, database: config.database.name })
  await holder.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('LOCK TABLE leads IN ACCESS SHARE MODE')
    let pid = 0
    // The restart mode: in place would end the session holding the lock
    const running = script('reset_and_run', ['--yes', '--only', 'truncate-db,flush-redis', '--lock-timeout', '120', '--restart-mode', 'restart'], {}, { onSpawn: (p) => (pid = p) })
    await until('the TRUNCATE to wait for its lock', async () => (await ourSessions()).some((s) => s.wait === 'Lock'))
    process.kill(pid, 'SIGINT')
    const o = await running
    assert.is(o.code, 130, explain(o))
    assert.match(o.out, /4 truncate-db\s+interrupted/)
    assert.match(o.out, /5 flush-redis\s+not run/)
    assert.match(o.out, /worker is held stopped until flush-redis runs/)
    await until('our session to be gone or idle', async () => (await ourSessions()).every((s) => s.state === 'idle' && s.wait !== 'Lock'), 10_000)
    await holder.query('ROLLBACK')
    assert.is(await writeStats(), rows, 'nothing truncated: the statement was cancelled and rolled back')
    assert.equal(await appKeys(), keys, 'flush-redis did not run')
    const record = RunRecord.read(path.join(config.stateDir, `${stateKey(config)}.last-run.json`))!
    assert.equal([record.completed, record.stopped, record.held], [[], { phase: 'truncate-db', how: 'interrupted' }, ['worker']])
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    await holder.end()
    await backToReady()
  }
})

test('SIGINT while keys are deleted by pattern: it stops between batches, the test never runs, exit 130', async () => {
  await withRedisClient((r) => r.flushdb())
  const N = 600_000
  await withRedisClient(async (r) => {
    for (let i = 0; i < N; i += 10_000) {
      const args: string[] = []
      for (let j = i; j < i + 10_000; j++) args.push(`bulk:${j}`, '1')
      await r.mset(...args)
    }
  })
  const campaigns = (await counts()).campaigns
  let pid = 0
  const running = script('reset_and_run', ['--yes', '--only', 'flush-redis,run-test', '--redis-mode', 'patterns', '--redis-patterns', 'bulk:*'], {}, { onSpawn: (p) => (pid = p) })
  await until('the deletion to start', async () => (await dbsize()) < N - 5000)
  process.kill(pid, 'SIGINT')
  const o = await running
  assert.is(o.code, 130, explain(o))
  assert.match(o.out, /5 flush-redis\s+interrupted/)
  assert.match(o.out, /6 run-test\s+not run/)
  const left = await withRedisClient(async (r) => (await r.keys('bulk:*')).length)
  assert.ok(left > 0 && left < N, `stopped part-way: ${left} of ${N} keys left`)
  await sleep(1000)
  assert.is((await withRedisClient(async (r) => (await r.keys('bulk:*')).length)), left, 'nothing deletes keys after the stop')
  assert.is((await counts()).campaigns, campaigns, 'the test did not run')
  await withRedisClient((r) => r.flushdb())
  await backToReady()
})

test('SIGINT while the restart waits for a slow container: no later phase runs, data and keys untouched, exit 130', async () => {
  const slow = await fakeService('slowpoke', ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '100000', '--health-start-period', '600s'])
  try {
    await seedDirty()
    const rows = await writeStats()
    // The app's keys (a restarted broker client may add its own _kombu bindings meanwhile)
    const keys = await appKeys()
    let pid = 0
    const running = script('reset_and_run', ['--yes', '--only', 'restart,truncate-db,flush-redis', '--restart-mode', 'restart'], {}, { onSpawn: (p) => (pid = p) })
    await until('the restart to wait', async () => (await run(['docker', 'ps', '--filter', `label=com.docker.compose.project=${config.project}`, '--filter', 'status=running', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => /worker/.test(n)).length === 0, 180_000)
    await sleep(3000)
    process.kill(pid, 'SIGINT')
    const o = await running
    assert.is(o.code, 130, explain(o))
    assert.match(o.out, /3 restart\s+interrupted/)
    assert.match(o.out, /4 truncate-db\s+not run/)
    assert.is(await writeStats(), rows)
    assert.equal(await appKeys(), keys)
  } finally {
    await removeContainer(slow)
    await backToReady()
  }
})

test('a real smoke test interrupted half-way, then --resume: it starts again at the first destructive phase and validates exactly', async () => {
  let pid = 0
  // The real smoke test at a slower poll (0.1 s by default): half-way then lasts seconds, long enough to be caught.
  const slower = { RT_TEST_COMMAND: `SMOKE_POLL_INTERVAL=0.5 ${config.test.command}` }
  const t0 = Date.now()
  const first = script('reset_and_run', ['--yes', ...EXACT], slower, { onSpawn: (p) => (pid = p) })
  // This run's record (the last run's, written before t0, may say flush-redis too), then its campaigns.
  const flushed = () => {
    const record = RunRecord.read(path.join(config.stateDir, `${stateKey(config)}.last-run.json`))
    return Date.parse(record?.at ?? '') >= t0 && record!.completed.includes('flush-redis')
  }
  await until('the smoke test to be half-way', async () => flushed() && (await counts().catch(() => ({ campaigns: 0 }))).campaigns >= 4, 300_000)
  process.kill(pid, 'SIGINT')
  const stopped = await first
  assert.is(stopped.code, 130, explain(stopped))
  assert.match(stopped.out, /6 run-test\s+interrupted/)
  const half = await counts()
  assert.ok(half.campaigns >= 4 && half.campaigns < 10, `half-way: ${JSON.stringify(half)}`)
  const resumed = await script('reset_and_run', ['--resume', '--yes', ...EXACT])
  assert.is(resumed.code, 0, explain(resumed))
  assert.match(resumed.out, /run-test was interrupted: resuming from truncate-logs, so that the test runs on a freshly reset stack/)
  assert.not.match(resumed.out, /1 assess/, 'assess completed before and is not run again')
  assert.match(resumed.out, /leads = EXPECT_LEADS\s+leads = EXPECT_LEADS\s+87 = 87\s+ok/)
  assert.equal(await counts(), GOOD_RUN)
})

test('task messages waiting in the broker before the reset (a retry with a countdown) never write into the fresh database', async () => {
  // fetch_leads of job 1 with a countdown: the workers hold it until then. Job ids restart at 1,
  // so if it ran after the reset it would fetch leads again for the test's first campaign.
  const api = await container('api')
  const seeded = Date.now()
  // Due 20 s on: after the reset, while the test runs and its first campaign (job 1) exists.
  const send = "from app.workers.celery_app import celery_app\nfor _ in range(3): celery_app.send_task('app.workers.campaign_tasks.fetch_leads', args=[1], countdown=20)"
  await run(['docker', 'exec', api.id, 'python', '-c', send])
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=${EXACT.join(' ')}`])
  assert.is(o.code, 0, explain(o))
  assert.equal(await counts(), GOOD_RUN)
  const wait = seeded + 25_000 - Date.now()
  if (wait > 0) await sleep(wait)
  assert.equal(await counts(), GOOD_RUN, 'still exactly one run of data after the messages were due')
  const [{ n }] = await db<{ n: number }>(`SELECT count(*)::int AS n FROM leads WHERE campaign_id = (SELECT campaign_id FROM jobs WHERE id = 1)`)
  assert.is(n, 5, "the first campaign kept its 5 leads")
})

test('the whole main job against the password-protected Redis through redis-cli in the container (REDISCLI_AUTH)', async () => {
  const o = await script('reset_and_run', ['--yes', '--redis-access', 'exec', ...EXACT])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, new RegExp(String.raw`redis on ${config.project}-redis-1, an instance of redis .*\(redis-cli runs inside it\), via redis-cli in container`))
  assert.equal(await counts(), GOOD_RUN)
})

test.run()
