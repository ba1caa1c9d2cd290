// The real app passes by default and the checks are a file the user edits; the suite starts from
// whatever state the stack was left in; the example's build is reproducible; a failed health
// probe puts the api's log into the diagnostics.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { compose, config, container, counts, db, EMPTY, example, explain, GOOD_RUN, run, script, seedDirty, stackChanged, stackUp, writeStats, need } from './stack.ts'

test.before(() => need('up'))

const CHECKS = path.join(SUITE_ROOT, '.state', 'e2e-checks')
const SHIPPED = readFileSync(path.join(SUITE_ROOT, 'checks', 'fastapi-k8-proto.yaml'), 'utf8')

/** A checks file of the test's own: the shipped one, edited. */
function checksFile(name: string, text: string): string {
  mkdirSync(CHECKS, { recursive: true })
  const file = path.join(CHECKS, name)
  writeFileSync(file, text)
  return file
}

test('the stand-in leaves its campaigns RUNNING like the real app, and the default checks pass (exit 0)', async () => {
  await seedDirty()
  const o = await script('reset_and_run', ['--yes'])
  assert.is(o.code, 0, explain(o))
  const states = await db<{ status: string; n: number }>('SELECT status::text, count(*)::int AS n FROM campaigns GROUP BY 1')
  assert.equal(states, [{ status: 'RUNNING', n: 10 }])
  assert.match(o.out, /every campaign in a state of CAMPAIGN_FINISHED_STATES \(RUNNING,COMPLETED\)\s+campaigns in those states = campaigns\s+10 = 10\s+ok/)
  assert.match(o.out, /campaigns created and running: RUNNING: 10/, "the test's own summary")
  // Finished means RUNNING or COMPLETED only because the setting says so:
  const strict = await script('validate', ['--campaign-finished-states', 'COMPLETED'])
  assert.is(strict.code, 7, explain(strict))
  assert.match(strict.out, /every campaign in a state of CAMPAIGN_FINISHED_STATES \(COMPLETED\)\s+campaigns in those states = campaigns\s+0 ≠ 10\s+FAILED/)
})

test('the main job with a checks file a test wrote: a check added, one removed', async () => {
  const edited = SHIPPED.replace(/- name: no duplicate lead email\n(  .*\n){3}/, '') +
    '\n- name: at most ${EXPECT_CAMPAIGNS} organizations\n  count: {organizations: SELECT count(*) FROM organizations}\n  relation: "<="\n  other: ${EXPECT_CAMPAIGNS}\n'
  assert.ok(!edited.includes('no duplicate lead email'), 'the check is removed from the copy')
  const file = checksFile('edited.yaml', edited)
  const o = await script('reset_and_run', ['--yes', '--checks-file', file])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, new RegExp(`checks from ${path.relative(SUITE_ROOT, file).replace(/\./g, '\\.')}`))
  assert.match(o.out, /at most 10 organizations\s+organizations <= EXPECT_CAMPAIGNS\s+1 <= 10\s+ok/)
  assert.not.match(o.out, /no duplicate lead email/)
  assert.match(o.out, /all 10 checks hold/)
  assert.equal(await counts(), GOOD_RUN)
})

test('a malformed checks file: exit 9 naming its line, before anything is touched', async () => {
  await seedDirty()
  const before = await writeStats()
  const lines = SHIPPED.split('\n')
  const at = lines.findIndex((l) => l.includes('relation: ">="')) // the first check with >=
  lines[at] = '  relation: "=>"'
  const file = checksFile('malformed.yaml', lines.join('\n'))
  const o = await script('reset_and_run', ['--yes', '--checks-file', file])
  assert.is(o.code, 9, explain(o))
  assert.match(o.out, new RegExp(`${file.replace(/[.]/g, '\\.')}:${at + 1}: relation "=>" is not one of = != >= <= > <`))
  assert.match(o.out, /nothing was changed/)
  assert.is(await writeStats(), before, 'nothing was reset')
  const missing = await script('validate', ['--checks-file', path.join(CHECKS, 'no-such-file.yaml')])
  assert.is(missing.code, 9, explain(missing))
  assert.match(missing.out, /CHECKS_FILE .*no-such-file\.yaml does not exist/)
})

test('two `up -d --build` of an unchanged example build the same image ids and recreate nothing', async () => {
  const images = async () => (await run(['docker', 'image', 'inspect', '-f', '{{.Id}}', ...['api', 'worker', 'flower', 'postgres', 'redis'].map((s) => `reset-and-test-example-${s}:latest`)])).stdout.trim()
  const containers = async () => (await run(['docker', 'ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${config.project}`])).stdout.split('\n').sort().join(',')
  // The first may bring the stack up to date with what earlier tests changed; the second has nothing to do.
  await example.compose(['up', '-d', '--build'], { timeoutMs: 1_800_000 })
  const [ids, made] = [await images(), await containers()]
  const second = await example.compose(['up', '-d', '--build'], { timeoutMs: 1_800_000 })
  assert.is(await images(), ids, 'the same image ids')
  assert.is(await containers(), made, 'the same containers')
  assert.equal((second.stdout + second.stderr).split('\n').filter((l) => /Recreate|Creat/.test(l)), [], 'nothing recreated')
  stackChanged()
  await stackUp() // the api ready again for the tests after this one
})

test('the api running but not answering its health URL: assess fails with exit 1 and the diagnostics keep its log', async () => {
  const api = await container('api')
  // uvicorn's reloader and its server process (PID 1, the shell, stays running: the container is "running")
  const list = 'for p in /proc/[0-9]*; do n=${p#/proc/}; [ "$n" = 1 ] || [ "$n" = $$ ] && continue; c=$(tr "\\0" " " < $p/cmdline 2>/dev/null); case "$c" in /usr/bin/python3*) echo $n;; esac; done'
  const pids = (await run(['docker', 'exec', api.id, 'sh', '-c', list])).stdout.split(/\s+/).filter(Boolean)
  assert.ok(pids.length > 0, 'uvicorn runs in the api container')
  await run(['docker', 'exec', api.id, 'sh', '-c', 'kill -STOP "$@"', 'sh', ...pids])
  try {
    const o = await script('assess', ['--ready-timeout', '6'])
    assert.is(o.code, 1, explain(o))
    assert.match(o.out, /api to answer \/api\/v1\/health/)
    assert.match(o.out, /not ready: reset-and-test-example-api-1.*\(does not answer \/api\/v1\/health\)/)
    const dir = /diagnostics: (\S+)/.exec(o.out)![1]
    const logs = readdirSync(path.join(dir, 'logs'))
    assert.ok(logs.includes('reset-and-test-example-api-1.log'), `the api's log is kept: ${logs.join(', ')}`)
    assert.match(readFileSync(path.join(dir, 'logs', 'reset-and-test-example-api-1.log'), 'utf8'), /its health probe \/api\/v1\/health fails/)
  } finally {
    await run(['docker', 'exec', api.id, 'sh', '-c', 'kill -CONT "$@"', 'sh', ...pids])
  }
  assert.is((await script('assess')).code, 0)
})

test('after `docker compose stop` of the whole example: make reset-and-test exits 0, says what it started and what it left stopped', async () => {
  await example.compose(['up', '-d'], { timeoutMs: 300_000 }) // flower too
  await example.compose(['stop'], { timeoutMs: 300_000 })
  stackChanged()
  assert.ok((await (await compose()).current()).every((i) => i.state === 'exited'), 'every container stopped')
  const o = await script('reset_and_run', ['--yes', '--skip', 'run-test,validate'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /not running: postgres \(exited\), redis \(exited\), api \(exited\), worker \(exited(, exited){7}\); starting them/)
  assert.match(o.out, /left stopped \(not required\): reset-and-test-example-flower-1: exited with code \d+/)
  assert.match(o.out, /containers ready: api×1, postgres×1, redis×1, worker×8 \(started: postgres, redis, api, worker\)/)
  assert.equal(await counts(), EMPTY)
  const flower = (await (await compose()).current()).find((i) => i.service === 'flower')!
  assert.is(flower.state, 'exited', 'the optional service the user stopped stays stopped')
  await stackUp()
})

test.run()
