// The in-place reset is only worth its speed if the stack afterwards behaves as after a restart:
// the same dirty stack reset both ways gives the same fingerprint; edited code runs; every worker
// takes work after the broker restarts; a second worker service keeps exactly its own queue;
// migrations behind, strays, lock holders and drift are handled; --repeat and --until-fail.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { codeVersion, editCode, emailWorker, fingerprint, queuesByWorker, restartRedis, send, untilRunning, workersTakingWork } from './celery.ts'
import { alembicVersion, compose, config, container, counts, db, EMPTY, EXACT, explain, GOOD_RUN, run, script, sh, stackChanged, stackUp, startedAt, until, need } from './stack.ts'

test.before(() => need('fresh')) // a baseline matching the compose file: earlier tests change it

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const IN_PLACE = ['--restart-mode', 'in-place']
const RESET = ['--yes', '--skip', 'run-test,validate']
const ids = async () => (await run(['docker', 'ps', '-q', '--filter', `label=com.docker.compose.project=${config.project}`])).stdout.split('\n').filter(Boolean).sort()
/** The workers' queues once `n` workers answer consuming something (they reconnect after a broker restart), or after a minute. */
async function everyWorkerConsuming(n: number): Promise<Record<string, string[]>> {
  let last: Record<string, string[]> = {}
  await until(`${n} workers to consume a queue`, async () => Object.values((last = await queuesByWorker())).filter((q) => q.length).length >= n, 60_000).catch(() => {})
  return last
}
const workers = async () => (await (await compose()).instances()).filter((i) => i.service === 'worker').length

test('in place: nothing restarts, the workers pause untouched, the state is proven clean, and the smoke test passes', async () => {
  await script('reset_and_run', [...RESET, ...IN_PLACE]) // whatever earlier tests changed is restarted here
  const before = await ids()
  const started = await startedAt(before)
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=${[...IN_PLACE, ...EXACT].join(' ')}`])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /containers, mode in-place \(created from [^)]*\): nothing restarted/)
  assert.match(o.out, /paused in place while the database and Redis are emptied: 8 Celery workers of worker \(queues celery\)/)
  assert.match(o.out, /worker: 8 Celery workers paused in place \(celery ×8\), none running/)
  assert.match(o.out, /clean: 5 tables empty; queues celery empty and bound \(priority sub-queues and unacknowledged messages included\); 8 workers consume what they consumed before, none busy; api: GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/health/)
  assert.match(o.out, /3 restart\s+ok\s+[\d.]+ s\s+mode=in-place restarted=none/)
  assert.equal(await ids(), before, 'the same containers')
  assert.equal(await startedAt(before), started, 'none restarted')
  assert.equal(await counts(), GOOD_RUN)
})

/**
 * A dirty stack: a task's code edited since the workers started; on the email worker (the image's
 * code, paused in place) a task running and more waiting; a task scheduled with a countdown on the
 * celery workers; a stray in the api (holding a lock) and one in a worker left orphaned.
 */
async function dirty(version: string): Promise<{ undo: () => void; dueAt: number }> {
  const undo = editCode(version)
  // 2 run, 2 wait in the worker, 12 in the queue: some are still waiting when the reset pauses the
  // worker, 10 s or more later on a busy machine (the tier runs two stacks at once).
  for (let i = 0; i < 16; i++) await send('hold_then_write', [5], { queue: 'email' })
  await send('hold_then_write', [2], { countdown: 6 })
  const api = await container('api')
  const worker = await container('worker')
  const lock = `import os, time, psycopg2
c = psycopg2.connect(host=os.environ['POSTGRES_SERVER'], user=os.environ['POSTGRES_USER'], password=os.environ['POSTGRES_PASSWORD'], dbname=os.environ['POSTGRES_DB'])
c.cursor().execute('LOCK TABLE jobs IN ACCESS SHARE MODE')
time.sleep(600)`
  await run(['docker', 'exec', '-d', api.id, 'python3', '-c', lock])
  await run(['docker', 'exec', '-d', worker.id, 'sh', '-c', 'sleep 600 &'])
  await until('the email task to run and the lock to be held', async () => (await db<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'jobs' AND l.mode = 'AccessShareLock'"))[0].n > 0, 30_000)
  return { undo, dueAt: Date.now() + 9_000 }
}

/** After a reset: the fingerprint, the edited code running, every worker taking work after Redis restarts, no stale write. */
async function observe(version: string, dueAt: number) {
  await everyWorkerConsuming(9) // restarted workers answer a few seconds after they run
  const print = await fingerprint()
  const ran = await codeVersion('celery')
  await restartRedis()
  const consuming = await everyWorkerConsuming(9)
  const celery = await workersTakingWork('celery', 8)
  const email = await workersTakingWork('email', 1)
  const wait = dueAt - Date.now()
  if (wait > 0) await sleep(wait)
  const stale = await db("SELECT count(*)::int AS n FROM organizations WHERE name = 'stale work'")
  assert.is(ran, version, 'the edited task runs its new code')
  assert.is(Object.keys(consuming).length, 9, `every worker consumes after Redis restarted: ${JSON.stringify(consuming)}`)
  assert.equal([celery.workers.length, celery.done], [8, celery.sent], `every celery worker took tasks, every task ran: ${JSON.stringify(celery)}`)
  assert.equal([email.workers.length, email.done], [1, email.sent], `the email worker took every task: ${JSON.stringify(email)}`)
  assert.equal(stale, [{ n: 0 }], 'no task from before the reset wrote into the fresh tables')
  return print
}

test('differential: the same dirty stack reset in restart mode and in place looks the same afterwards', async () => {
  const email = await emailWorker()
  const undo: (() => void)[] = []
  try {
    const first = await dirty('restart-1')
    undo.push(first.undo)
    const restarted = await script('reset_and_run', RESET, { ...email.env, RT_RESTART_MODE: 'restart' })
    assert.is(restarted.code, 0, explain(restarted))
    const afterRestart = await observe('restart-1', first.dueAt)

    const second = await dirty('in-place-2')
    undo.push(second.undo)
    // observe() restarted Redis: every worker's log now shows the reconnect, which would restart
    // worker-email rather than pause it; its pause with a task running is what this half compares
    // (the reconnect rule has its own test below).
    const inPlace = await script('reset_and_run', RESET, { ...email.env, RT_RESTART_MODE: 'in-place', RT_WORKER_RECONNECT_PATTERN: '' })
    assert.is(inPlace.code, 0, explain(inPlace))
    assert.match(inPlace.out, /worker held stopped and started after Redis is cleared: app\/workers\/test_tasks\.py changed \d+ s after its process started/)
    assert.match(inPlace.out, /api restarted: app\/workers\/test_tasks\.py changed/)
    assert.match(inPlace.out, /paused in place while the database and Redis are emptied: 1 Celery workers of worker-email \(queues email\)/)
    assert.match(inPlace.out, /stopped \d+ processes that were not the service itself: [^\n]*sleep 600/)
    assert.match(inPlace.out, /worker-email: 1 Celery workers paused in place \(email ×1\), none running, \d+ waiting messages set aside, \d+ tasks revoked/)
    const afterInPlace = await observe('in-place-2', second.dueAt)
    assert.equal(afterInPlace, afterRestart)
    assert.equal((afterInPlace as { rows: unknown }).rows, EMPTY)
  } finally {
    undo.reverse().forEach((u) => u())
    await email.remove()
  }
})

test('in place, then Redis restarted: every worker consumes its queue again and takes work (celery/celery#7733 avoided); the next reset restarts the workers that reconnected (kombu < 5.4 can hang them: celery/celery#8030), then none', async () => {
  await script('reset_and_run', [...RESET, ...IN_PLACE])
  const o = await script('reset_and_run', [...RESET, ...IN_PLACE])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /nothing restarted/)
  await restartRedis()
  const consuming = await everyWorkerConsuming(await workers())
  assert.equal(Object.values(consuming), Array(await workers()).fill(['celery']))
  const ran = await workersTakingWork('celery', 8)
  assert.equal([ran.workers.length, ran.done], [8, ran.sent], `every worker took tasks, every task ran: ${JSON.stringify(ran)}`)
  const next = await script('reset_and_run', [...RESET, ...IN_PLACE])
  assert.is(next.code, 0, explain(next))
  assert.match(next.out, new RegExp(String.raw`worker held stopped and started after Redis is cleared: ${config.project}-worker-\d+ retried or lost its broker connection since it started \(its log: "consumer: Connection to broker lost\. Trying to re-establish the connection\.\.\."\)`))
  const steady = await script('reset_and_run', [...RESET, ...IN_PLACE])
  assert.is(steady.code, 0, explain(steady))
  assert.match(steady.out, /nothing restarted/, 'a worker started anew has no reconnect in its log')
})

test('two worker services, one with -Q email: each is paused with its own queues and gives back exactly those', async () => {
  const email = await emailWorker()
  try {
    await script('reset_and_run', [...RESET, ...IN_PLACE], email.env) // what earlier tests changed restarts here
    await untilRunning(await send('hold_then_write', [6], { queue: 'email' }))
    const o = await script('reset_and_run', [...RESET, ...IN_PLACE], email.env)
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /8 Celery workers of worker, 1 of worker-email \(queues celery, email\)/)
    assert.match(o.out, /worker, worker-email: 9 Celery workers paused in place \(celery ×8, email ×1\), none running, 1 tasks revoked/, explain(o))
    const consuming = await queuesByWorker()
    const emailNodes = Object.entries(consuming).filter(([w]) => w.startsWith('email@'))
    assert.equal(emailNodes.map(([, qs]) => qs), [['email']], 'the -Q email worker consumes email alone')
    assert.ok(Object.entries(consuming).filter(([w]) => !w.startsWith('email@')).every(([, qs]) => qs.join() === 'celery'))
    await sleep(5_000)
    assert.equal(await db("SELECT name FROM organizations WHERE name = 'stale work'"), [], 'the running email task was killed before it wrote')
  } finally {
    await email.remove()
  }
})

test('in place: edited code restarts just the services that run it (api and worker), named with the file; the rest stays', async () => {
  await script('reset_and_run', [...RESET, ...IN_PLACE])
  const before = Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
  const started = await startedAt(Object.values(before))
  const undo = editCode('edited')
  try {
    const o = await script('reset_and_run', [...RESET, ...IN_PLACE])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /worker held stopped and started after Redis is cleared: app\/workers\/test_tasks\.py changed \d+ s after its process started/)
    assert.is(await codeVersion(), 'edited')
    const now = await startedAt(Object.values(before))
    for (const [i, line] of now.entries()) {
      const restarted = /-(api|worker)-\d+ /.test(line)
      assert.is(line !== started[i], restarted, `${line.split(' ')[0]} ${restarted ? 'restarted' : 'untouched'}`)
    }
  } finally {
    undo()
  }
})

test('in place: migrations behind the scripts on disk restart the api, which applies them', async () => {
  await script('reset_and_run', [...RESET, ...IN_PLACE])
  const head = await alembicVersion()
  const api = await container('api')
  await run(['docker', 'exec', api.id, 'alembic', 'downgrade', '-1'])
  assert.is.not(await alembicVersion(), head)
  const o = await script('reset_and_run', [...RESET, ...IN_PLACE])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /api restarted: its migrations are behind: the database is at \S+, the scripts' head is \S+/)
  assert.match(o.out, /restarted api, nothing else/)
  assert.is(await alembicVersion(), head)
})

test('the pause is read from the workers, not the run record: --from truncate-db revokes a task sent after restart', async () => {
  const first = await script('reset_and_run', ['--yes', ...IN_PLACE, '--to', 'restart'])
  assert.is(first.code, 0, explain(first))
  // The task holds 20 s, then writes: still running when the reset pauses the workers, even when the
  // script takes 10 s to get there on a busy machine (a 6 s hold had ended first, once).
  const HOLD_S = 20
  await untilRunning(await send('hold_then_write', [HOLD_S]))
  const writesAt = Date.now() + HOLD_S * 1000
  const o = await script('reset_and_run', ['--yes', ...IN_PLACE, '--from', 'truncate-db', '--to', 'flush-redis'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /==> \[4\/7\] truncate-db[^]*worker: 8 Celery workers paused in place \(celery ×8\), none running, 1 tasks revoked[^]*one TRUNCATE/)
  await sleep(Math.max(0, writesAt + 1000 - Date.now()))
  assert.equal(await counts(), EMPTY)
})

test('in place: an image changed since the containers were created makes just that service be recreated, and the output says why', async () => {
  const before = Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
  const build = await run(['docker', 'build', '-q', '-t', `${config.project}-api:latest`, '-'], { input: `FROM ${config.project}-api:latest\nLABEL bumped="${Date.now()}"\n` })
  assert.match(build.stdout, /sha256:/)
  try {
    const o = await script('reset_and_run', [...RESET, ...IN_PLACE])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, new RegExp(String.raw`restarted: ${config.project}-api-1`))
    assert.match(o.out, new RegExp(String.raw`api recreated: its image ${config.project}-api:latest changed since ${config.project}-api-1 was created`))
    const after = Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
    assert.is.not(after[`${config.project}-api-1`], before[`${config.project}-api-1`], 'the api was recreated')
    for (const name of Object.keys(before).filter((n) => !n.includes('-api-'))) assert.is(after[name], before[name], `${name} untouched`)
  } finally {
    await (await compose()).compose(['build', 'api'], { timeoutMs: 600_000 }) // the image as the checkout makes it
    stackChanged()
    await stackUp()
  }
})

test('in place: a compose configuration changed since the containers were created makes just that service be recreated, and back', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rt-override-'))
  const override = path.join(dir, 'override.yml')
  writeFileSync(override, 'services:\n  worker:\n    environment:\n      EXTRA_SETTING: "1"\n')
  const names = async () => Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
  try {
    const before = await names()
    const changed = await script('reset_and_run', [...RESET, ...IN_PLACE], { COMPOSE_FILE: [...config.composeFiles, override].join(':') })
    assert.is(changed.code, 0, explain(changed))
    assert.match(changed.out, new RegExp(String.raw`worker held stopped and started after Redis is cleared: Compose would recreate it: its configuration .* changed since ${config.project}-worker-1 was created`))
    const after = await names()
    for (const [name, id] of Object.entries(before)) {
      if (name.includes('-worker-')) assert.is.not(after[name], id, `${name} recreated`)
      else assert.is(after[name], id, `${name} untouched`)
    }
    const back = await script('reset_and_run', [...RESET, ...IN_PLACE])
    assert.is(back.code, 0, explain(back))
    assert.match(back.out, /worker held stopped and started after Redis is cleared: Compose would recreate it/, 'the file as it was: the workers again')
    const steady = await script('reset_and_run', [...RESET, ...IN_PLACE])
    assert.is(steady.code, 0, explain(steady))
    assert.match(steady.out, /mode in-place \(created from [^)]*\): nothing restarted/, 'containers the suite recreated match their configuration')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('restart mode: the api (a shell as PID 1 that ignores SIGTERM) is killed at once, the workers stop as configured', async () => {
  // A worker still starting has not yet installed its SIGTERM handler and is (rightly) killed at
  // once too: wait until each catches it (bit 15 of SigCgt), as a worker does once it runs.
  const list = (await (await compose()).instances()).filter((i) => i.service === 'worker')
  await until('every worker to catch SIGTERM', async () => {
    const masks = await Promise.all(list.map(async (w) => /^SigCgt:\s*([0-9a-f]+)/m.exec((await run(['docker', 'exec', w.id, 'cat', '/proc/1/status'])).stdout)?.[1] ?? '0'))
    return masks.every((m) => (BigInt(`0x${m}`) >> 14n) % 2n === 1n)
  })
  const o = await script('restart', ['--yes', '--restart-mode', 'restart'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /restart -t 0 api/)
  assert.match(o.out, /restart worker\b/)
  assert.not.match(o.out, /restart[^\n]*postgres/, 'postgres and redis are emptied, not restarted')
})

test('--repeat 3: three runs, a row each, the pass rate and the time per run', async () => {
  const o = await script('reset_and_run', ['--yes', ...IN_PLACE, '--repeat', '3'], {}, { timeoutMs: 1_200_000 })
  assert.is(o.code, 0, explain(o))
  for (const n of [1, 2, 3]) assert.match(o.out, new RegExp(`==> run ${n} of 3`))
  assert.match(o.out, /run\s+verdict\s+assess\s+truncate-logs\s+restart\s+truncate-db\s+flush-redis\s+run-test\s+validate\s+rows left\s+total/)
  assert.is(o.out.match(/^\d\s+passed\s/gm)?.length, 3)
  assert.match(o.out, /passed 3 of 3 runs \(100%\), [\d.]+ s per run/)
})

test('--until-fail stops at the first failing run with exit 6 and keeps its diagnostics', async () => {
  const api = await container('api')
  const marker = '/tmp/rt-e2e-until-fail'
  await run(['docker', 'exec', api.id, 'rm', '-f', marker])
  const flaky = `sh -c 'if [ -f ${marker} ]; then echo "TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE"; else touch ${marker}; echo "TEST RESULT: SUCCESSFUL EXECUTION"; fi'`
  try {
    const o = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'validate', '--until-fail', '--repeat', '5'], { RT_TEST_COMMAND: flaky })
    assert.is(o.code, 6, explain(o))
    assert.match(o.out, /==> run 2 \(until one fails\)|==> run 2 of 5/)
    assert.not.match(o.out, /==> run 3/)
    assert.match(o.out, /^1\s+passed\s/m)
    assert.match(o.out, /^2\s+failed \(exit 6, run-test\)/m)
    assert.match(o.out, /passed 1 of 2 runs \(50%\)/)
    assert.match(o.out, /diagnostics: \S+/)
  } finally {
    await run(['docker', 'exec', api.id, 'rm', '-f', marker])
  }
})

test.run()
