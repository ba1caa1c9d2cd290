// Faults and bad input: each ends with its documented exit code, a message naming the problem,
// and no data lost or half-deleted.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { stateKey } from '../../lib/config/config.ts'
import { appKeys, compose, config, container, counts, db, dbsize, EMPTY, explain, fakeService, removeContainer, run, script, seedDirty, stackUp, withRedisClient, writeStats, need, until, processesIn } from './stack.ts'

test.before(() => need('up'))

const HANG = 'sleep 4321'

test('a test that hangs past TEST_TIMEOUT: exit 6, and the process inside the container is gone', async () => {
  const t0 = Date.now()
  const o = await script('run-test', ['--test-timeout', '3'], { RT_TEST_COMMAND: HANG })
  assert.is(o.code, 6, explain(o))
  assert.match(o.out, /did not finish within TEST_TIMEOUT=3 s/)
  assert.ok(Date.now() - t0 < 30_000)
  assert.is(await processesIn('api', HANG), 0)
})

test('workers that take no task during the test (paused): a warning names the queue that stopped moving and what to do; TEST_TIMEOUT still ends it (exit 6)', async () => {
  const workers = (await (await compose()).instances()).filter((i) => i.service === 'worker').map((i) => i.id)
  try {
    // runc's freezer can fail on a busy machine ('unable to freeze'): the workers not paused are asked again.
    await until('every worker to be paused', async () => {
      const states = (await run(['docker', 'inspect', '-f', '{{.State.Paused}}', ...workers])).stdout.trim().split('\n')
      const left = workers.filter((_, i) => states[i] !== 'true')
      if (left.length) await run(['docker', 'pause', ...left], { allowFailure: true })
      return left.length === 0
    }, 60_000)
    const o = await script('run-test', ['--test-timeout', '20', '--queue-stall-warn', '3'])
    assert.is(o.code, 6, explain(o))
    assert.match(o.out, /the queue celery has held messages for [3-9] s without getting shorter \(\d+ now\): the workers may have stopped taking tasks \(kombu < 5\.4 after a broker reconnect: celery\/celery#8030\)/)
    assert.is(o.out.match(/without getting shorter/g)?.length, 1, 'one warning for one stretch')
    assert.match(o.out, /did not finish within TEST_TIMEOUT=20 s/)
  } finally {
    await run(['docker', 'unpause', ...workers], { allowFailure: true }) // those paused; the others say they were not
  }
  const reset = await script('reset_and_run', ['--yes', '--skip', 'run-test,validate']) // what the test enqueued goes
  assert.is(reset.code, 0, explain(reset))
})

test('SIGINT during the test: exit 130, no test process left in the container', async () => {
  let pid = 0
  const running = script('run-test', [], { RT_TEST_COMMAND: HANG }, { onSpawn: (p: number) => (pid = p) })
  try {
    await until('the test to run in the api container', async () => (await processesIn('api', HANG)) >= 1, 20_000)
  } finally {
    process.kill(pid, 'SIGINT')
  }
  const o = await running
  assert.is(o.code, 130, explain(o))
  assert.match(o.out, /SIGINT received/)
  assert.is(await processesIn('api', HANG), 0)
})

test('two runs at once: the second is refused at once, naming the first', async () => {
  let pid = 0
  const first = script('run-test', [], { RT_TEST_COMMAND: HANG }, { onSpawn: (p: number) => (pid = p) })
  const lock = path.join(config.stateDir, `${stateKey(config)}.lock`)
  try {
    await until('the first run to take the lock', async () => existsSync(lock), 10_000)
    const before = await writeStats()
    const second = await script('truncate-db', ['--yes'])
    assert.is(second.code, 8, explain(second))
    assert.match(second.out, new RegExp(`another run is in progress: run-test.mts \\(pid ${pid}`))
    assert.is(await writeStats(), before)
  } finally {
    process.kill(pid, 'SIGINT')
  }
  assert.is((await first).code, 130)
  assert.not.ok(existsSync(lock), 'the lock is released')
})

test('postgres stopped when the plan is made: refused with exit 8 (what cannot be inspected cannot be shown to be ours); rows intact', async () => {
  await seedDirty()
  const before = await counts()
  const pgc = await container('postgres')
  await run(['docker', 'stop', pgc.id])
  try {
    const o = await script('truncate-db', ['--yes'])
    assert.is(o.code, 8, explain(o))
    assert.match(o.out, /refused: .*postgres .*not running.*cannot be shown to be this project's/s)
  } finally {
    await run(['docker', 'start', pgc.id])
    await stackReady()
  }
  assert.equal(await counts(), before)
})

test('redis stopped when the plan is made: refused with exit 8; keys intact once it is back', async () => {
  const keys = await dbsize()
  const rc = await container('redis')
  await run(['docker', 'stop', rc.id])
  try {
    const o = await script('flush-redis', ['--yes'])
    assert.is(o.code, 8, explain(o))
    assert.match(o.out, /refused: .*redis .*not running/s)
  } finally {
    await run(['docker', 'start', rc.id])
    await stackReady()
  }
  assert.ok((await dbsize()) >= keys)
})

async function stackReady() {
  const o = await script('assess')
  assert.is(o.code, 0, explain(o))
}

test('a service that never becomes healthy: exit 3 within the deadline, naming it; a diagnostics folder names it too', async () => {
  const sick = await fakeService('worker', ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '100000'])
  try {
    const t0 = Date.now()
    const o = await script('restart', ['--yes', '--ready-timeout', '20'])
    assert.is(o.code, 3, explain(o))
    assert.match(o.out, /timed out after 2\d\.\d s waiting for/)
    assert.match(o.out, /\(service worker\): running \(starting\)/)
    assert.match(o.out, /diagnostics: \S+/)
    assert.ok(Date.now() - t0 < 90_000)
  } finally {
    await removeContainer(sick)
  }
})

test('a service that turns unhealthy: exit 3 at once, with its health log', async () => {
  const sick = await fakeService('sick', ['--health-cmd', 'echo database unreachable; false', '--health-interval', '1s', '--health-retries', '1'])
  try {
    await until('sick to be unhealthy', async () => (await run(['docker', 'inspect', '-f', '{{.State.Health.Status}}', sick])).stdout.trim() === 'unhealthy', 30_000)
    const o = await script('restart', ['--yes', '--services', 'api'])
    assert.is(o.code, 3, explain(o))
    assert.match(o.out, /gave up waiting .*\(service sick\): running \(unhealthy\)/)
    assert.match(o.out, /last health check: database unreachable/)
  } finally {
    await removeContainer(sick)
  }
})

test('a transaction holding a lock on leads: truncate-db fails within LOCK_TIMEOUT naming the pid; nothing truncated', async () => {
  await seedDirty()
  const before = await counts()
  const port = (await (await compose()).instance('postgres')).ports['5432/tcp']
  const holder = new pg.Client({ host: '127.0.0.1', port, user: config.database.user, password: config.database.password, database: config.database.name })
  await holder.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT count(*) FROM leads')
    const [{ pid }] = (await holder.query('SELECT pg_backend_pid() AS pid')).rows
    const t0 = Date.now()
    const o = await script('truncate-db', ['--yes', '--lock-timeout', '2', '--restart-mode', 'restart'])
    assert.is(o.code, 4, explain(o))
    assert.match(o.out, /could not lock the tables within LOCK_TIMEOUT=2 s; nothing was truncated/)
    assert.match(o.out, new RegExp(`pid ${pid} \\(idle in transaction.*holds AccessShareLock on leads`))
    assert.ok(Date.now() - t0 < 20_000)
    assert.equal(await counts(), before)
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    await holder.end()
  }
})

test('in place, the same transaction is ended before the truncation (a restart of the app ends its own)', async () => {
  await seedDirty()
  const port = (await (await compose()).instance('postgres')).ports['5432/tcp']
  const holder = new pg.Client({ host: '127.0.0.1', port, user: config.database.user, password: config.database.password, database: config.database.name })
  holder.on('error', () => {}) // its session is ended under it
  await holder.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT count(*) FROM leads')
    const [{ pid }] = (await holder.query('SELECT pg_backend_pid() AS pid')).rows
    const o = await script('truncate-db', ['--yes', '--lock-timeout', '2'])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, new RegExp(`ended 1 sessions holding locks on the tables [^\\n]*pid ${pid} `))
    assert.equal(await counts(), EMPTY)
  } finally {
    await holder.end().catch(() => {})
  }
})

test('a failure says what the run changed before it, and that matches the stack: a lock, then a Redis without FLUSHALL', async () => {
  // The lock: the restart mode restarts the api and stops the workers, then the TRUNCATE waits in vain.
  await seedDirty()
  const port = (await (await compose()).instance('postgres')).ports['5432/tcp']
  const holder = new pg.Client({ host: '127.0.0.1', port, user: config.database.user, password: config.database.password, database: config.database.name })
  await holder.connect()
  const before = await counts()
  const keys = await appKeys() // the broker's own keys come and go as workers stop
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT count(*) FROM leads')
    const o = await script('reset_and_run', ['--yes', '--restart-mode', 'restart', '--lock-timeout', '2', '--skip', 'run-test,validate'])
    assert.is(o.code, 4, explain(o))
    assert.match(o.out, /truncate-db failed: could not lock the tables[^]*\n +changed before it stopped: (started worker; )?emptied the log; stopped worker; restarted api \([^)]*\); not changed: Redis\./)
    assert.equal(await counts(), before, 'the database as the message says: not truncated')
    assert.equal(await appKeys(), keys, 'Redis as the message says: not changed')
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    await holder.end()
  }
  // Redis refuses the flush: the tables were truncated before it, and the message says so.
  await script('assess')
  await seedDirty()
  const password = 'Nperm-e2e-5k2w'
  await withRedisClient((r) => r.call('ACL', 'SETUSER', 'limited', 'on', `>${password}`, '~*', '&*', '+@all', '-flushall', '-flushdb'))
  try {
    const keysNow = await appKeys()
    const env = { RT_REDIS_USERNAME: 'limited', RT_REDIS_PASSWORD: password }
    const secrets = { values: [...config.secrets.values, password], words: config.secrets.words }
    const o = await script('reset_and_run', ['--yes', '--from', 'truncate-logs', '--skip', 'run-test,validate'], env, { secrets })
    assert.is(o.code, 5, explain(o))
    assert.match(o.out, /flush-redis failed: [^\n]*can't run this command[^\n]*; changed before it stopped: emptied the log; [^\n]*truncated jobs, leads, campaigns, organizations, users/)
    assert.not.match(o.out, /nothing was changed/)
    assert.equal(await counts(), EMPTY, 'the tables as the message says: truncated')
    assert.equal(await appKeys(), keysNow, "Redis kept every key of the app's")
  } finally {
    await withRedisClient((r) => r.call('ACL', 'DELUSER', 'limited'))
    await script('reset_and_run', ['--yes', '--skip', 'run-test,validate']) // the workers let go, whatever the mode held
  }
})

test('production signals refuse with exit 8; the override names the database', async () => {
  await seedDirty()
  const before = await counts()
  const env = await script('truncate-db', ['--yes'], { APP_ENV: 'production' })
  assert.is(env.code, 8, explain(env))
  assert.match(env.out, /looks like a production target: APP_ENV=production in the environment.*ALLOW_PRODUCTION=fastapi_k8_proto/)
  for (const weak of ['0', 'false', 'yes', 'other_db']) {
    const o = await script('truncate-db', ['--yes'], { APP_ENV: 'production', RT_ALLOW_PRODUCTION: weak })
    assert.is(o.code, 8, `ALLOW_PRODUCTION=${weak}: ${explain(o)}`)
  }
  assert.equal(await counts(), before)

  await db(`ALTER DATABASE ${config.database.name} SET reset_suite.environment = 'production'`)
  try {
    const marked = await script('truncate-db', ['--yes'])
    assert.is(marked.code, 8, explain(marked))
    assert.match(marked.out, /marked reset_suite.environment=production/)
    assert.equal(await counts(), before)
  } finally {
    await db(`ALTER DATABASE ${config.database.name} RESET reset_suite.environment`)
  }

  const allowed = await script('truncate-db', ['--yes'], { APP_ENV: 'production', RT_ALLOW_PRODUCTION: config.database.name })
  assert.is(allowed.code, 0, explain(allowed))
  assert.match(allowed.out, /ALLOW_PRODUCTION=fastapi_k8_proto: going ahead although APP_ENV=production/)
})

test('every malformed configuration is listed at once with exit 9, nothing touched', async () => {
  await seedDirty()
  const before = { db: await writeStats(), keys: await dbsize() }
  const o = await script('reset_and_run', ['--yes'], {
    RT_RESTART_MODE: 'reboot',
    RT_READY_TIMEOUT: '-1',
    RT_TEST_TIMEOUT: 'abc',
    RT_RESET_TABLES: 'jobs,leads;drop table users,"campaigns"',
    RT_REDIS_MODE: 'patterns',
    RT_REDIS_PATTERNS: '*',
  })
  assert.is(o.code, 9, explain(o))
  for (const p of [/RESTART_MODE="reboot"/, /READY_TIMEOUT="-1"/, /TEST_TIMEOUT="abc"/, /"leads;drop table users" is malformed/, /"\\"campaigns\\"" is malformed/, /"\*" matches every key/]) assert.match(o.out, p)
  const empty = await script('truncate-db', ['--yes'], { RT_RESET_TABLES: ' ' })
  assert.is(empty.code, 9, explain(empty))
  assert.match(empty.out, /RESET_TABLES is empty/)
  assert.equal({ db: await writeStats(), keys: await dbsize() }, before)
})

test('a table that does not exist is named and nothing is truncated (exit 4)', async () => {
  const before = await counts()
  const o = await script('truncate-db', ['--yes', '--reset-tables', 'jobs,leads,no_such_table'])
  assert.is(o.code, 4, explain(o))
  assert.match(o.out, /no_such_table not found in the database .*nothing was truncated/)
  assert.equal(await counts(), before)
})

test('a worker that stops during the test is named under the summary, with its exit code and when, whatever the verdict', async () => {
  const worker = (await (await compose()).instances()).find((i) => i.name.endsWith('worker-3'))!
  const slow = 'sh -c "sleep 6; echo TEST RESULT: SUCCESSFUL EXECUTION"'
  try {
    const running = script('reset_and_run', ['--yes', '--only', 'truncate-logs,run-test'], { RT_TEST_COMMAND: slow })
    // The run lists the containers before it starts the test: a worker killed once the test runs stopped during it.
    await until('the test to run in the api container', async () => (await processesIn('api', 'sleep 6')) >= 1, 60_000)
    await run(['docker', 'kill', worker.id])
    const o = await running
    assert.is(o.code, 0, explain(o))
    const summary = o.out.slice(o.out.lastIndexOf('phase  '))
    assert.match(summary, /6 run-test\s+ok/, 'the summary table')
    assert.match(summary, new RegExp(`during the test: ${worker.name} stopped at \\d\\d:\\d\\d:\\d\\d with exit code 137`))
  } finally {
    await run(['docker', 'start', worker.id])
  }
})

test.run()
