// The reset in seconds: the in-place mode restarts nothing (the workers pause and consume again),
// proves the state clean, keeps the no-stale-work guarantee, puts the queue bindings back, and
// recreates just what drifted from its configuration (image or compose files); the restart mode kills at once what would
// only wait out the grace period; --repeat and --until-fail.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { compose, config, container, counts, db, EXACT, explain, GOOD_RUN, run, script, sh, stackChanged, stackUp, startedAt, until, withRedisClient } from './stack.ts'

test.before(() => (stackChanged(), stackUp())) // a baseline matching the compose file: earlier tests change it

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const IN_PLACE = ['--restart-mode', 'in-place']
const ids = async () => (await run(['docker', 'ps', '-q', '--filter', `label=com.docker.compose.project=${config.project}`])).stdout.split('\n').filter(Boolean).sort()

test('in place: nothing restarts, the workers pause and consume again, the state is proven clean, and the smoke test passes', async () => {
  const before = await ids()
  const started = await startedAt(before)
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=${[...IN_PLACE, ...EXACT].join(' ')}`])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /containers, mode in-place \(created from [^)]*\): nothing restarted/)
  assert.match(o.out, /paused in place while the database and Redis are emptied[^]*reset-and-test-example-worker-1/)
  assert.match(o.out, /worker: 8 workers stopped consuming celery/)
  assert.match(o.out, /put back as they were: _kombu\.binding\.\* \(\d+\)/)
  assert.match(o.out, /clean: 5 tables empty, queue celery empty, \d+ queue bindings? back, no task active or reserved, 8 workers consuming, api answering \/api\/v1\/health/)
  assert.match(o.out, /3 restart\s+ok\s+[\d.]+ s\s+mode=in-place/)
  assert.equal(await ids(), before, 'the same containers')
  assert.equal(await startedAt(before), started, 'none restarted')
  assert.equal(await counts(), GOOD_RUN)
})

test('in place: a task running and tasks scheduled with a countdown before the reset never write into the fresh tables', async () => {
  const api = await container('api')
  const seeded = Date.now()
  // One task that runs for 20 s and then writes an organization; three fetch_leads of job 1 due in 50 s
  // (job ids restart at 1: run after the reset, they would fetch leads again for the test's first campaign).
  const send = [
    'from app.workers.celery_app import celery_app',
    "celery_app.send_task('app.workers.test_tasks.hold_then_write', args=[20])",
    "for _ in range(3): celery_app.send_task('app.workers.campaign_tasks.fetch_leads', args=[1], countdown=50)",
  ].join('\n')
  await run(['docker', 'exec', api.id, 'python', '-c', send])
  await sleep(2000) // the long task is running
  const o = await script('reset_and_run', ['--yes', ...IN_PLACE, ...EXACT])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /worker: 8 workers stopped consuming celery, [4-9] tasks revoked/)
  const wait = seeded + 65_000 - Date.now()
  if (wait > 0) await sleep(wait)
  assert.equal(await counts(), GOOD_RUN, 'exactly one run of data after the messages were due and the long task would have ended')
  assert.equal(await db("SELECT name FROM organizations WHERE name = 'stale work'"), [], 'the running task was terminated before it wrote')
})

test('in place: the queue bindings exist before the test, and a task the api sends after the flush is processed', async () => {
  const o = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'run-test,validate'])
  assert.is(o.code, 0, explain(o))
  assert.is(await withRedisClient((r) => r.exists('_kombu.binding.celery')), 1, 'the binding is back, though the api never declares its queue again')
  const test = await script('run-test')
  assert.is(test.code, 0, explain(test))
  assert.ok((await counts()).leads > 0, 'the api sent fetch_leads after the flush, and a worker took it')
})

test('in place: an image changed since the containers were created makes just that service be recreated, and the output says why', async () => {
  const before = Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
  const build = await run(['docker', 'build', '-q', '-t', 'reset-and-test-example-api:latest', '-'], { input: `FROM reset-and-test-example-api:latest\nLABEL bumped="${Date.now()}"\n` })
  assert.match(build.stdout, /sha256:/)
  try {
    const o = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'run-test,validate'])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /only what drifted is recreated: reset-and-test-example-api-1/)
    assert.match(o.out, /api recreated: its image reset-and-test-example-api:latest changed since reset-and-test-example-api-1 was created/)
    const after = Object.fromEntries((await (await compose()).instances()).map((i) => [i.name, i.id]))
    assert.is.not(after['reset-and-test-example-api-1'], before['reset-and-test-example-api-1'], 'the api was recreated')
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
    const changed = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'run-test,validate'], { COMPOSE_FILE: [...config.composeFiles, override].join(':') })
    assert.is(changed.code, 0, explain(changed))
    assert.match(changed.out, /worker recreated: Compose would recreate it: its configuration .* changed since reset-and-test-example-worker-1 was created/)
    const after = await names()
    for (const [name, id] of Object.entries(before)) {
      if (name.includes('-worker-')) assert.is.not(after[name], id, `${name} recreated`)
      else assert.is(after[name], id, `${name} untouched`)
    }
    const back = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'run-test,validate'])
    assert.is(back.code, 0, explain(back))
    assert.match(back.out, /only what drifted is recreated: reset-and-test-example-worker-1/, 'the file as it was: the workers again')
    const steady = await script('reset_and_run', ['--yes', ...IN_PLACE, '--skip', 'run-test,validate'])
    assert.is(steady.code, 0, explain(steady))
    assert.match(steady.out, /mode in-place \(created from [^)]*\): nothing restarted/, 'containers the suite recreated match their configuration')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('restart mode: the api (a shell as PID 1 that ignores SIGTERM) is killed at once, the workers stop as configured', async () => {
  // A worker still starting has not yet installed its SIGTERM handler and is (rightly) killed at
  // once too: wait until each catches it (bit 15 of SigCgt), as a worker does once it runs.
  const workers = (await (await compose()).instances()).filter((i) => i.service === 'worker')
  await until('every worker to catch SIGTERM', async () => {
    const masks = await Promise.all(workers.map(async (w) => /^SigCgt:\s*([0-9a-f]+)/m.exec((await run(['docker', 'exec', w.id, 'cat', '/proc/1/status'])).stdout)?.[1] ?? '0'))
    return masks.every((m) => (BigInt(`0x${m}`) >> 14n) % 2n === 1n)
  })
  const o = await script('restart', ['--yes'])
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
