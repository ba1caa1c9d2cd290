// The shorter pass on Compose v1 (docker-compose 1.29, deprecated but still run by some): a stack
// v1 created, with v1's container names (project_service_1), the main job and a restart by name.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { config, counts, EXACT, explain, GOOD_RUN, run, script, sh, startedAt, targetOf } from '../e2e/stack.ts'

const v1 = ['docker-compose', ...config.composeFiles.flatMap((f) => ['-f', f]), '--project-directory', config.compose!.dir, '-p', config.project]

test.before(async () => {
  // The stack as v1 makes it: its containers removed (volumes and network stay: Docker 20.10 can
  // keep a stale endpoint on a network, and then `down` cannot remove it), then up with docker-compose.
  const version = await run(['docker-compose', 'version', '--short'])
  console.log(`    Compose v1 ${version.stdout.trim()}`)
  await run([...v1, 'rm', '--stop', '--force'], { timeoutMs: 300_000 })
  await run([...v1, 'up', '-d'], { timeoutMs: 1_800_000 })
})

test("v1's container names are found by their labels, as v2's are", async () => {
  const names = (await run(['docker', 'ps', '--filter', `label=com.docker.compose.project=${config.project}`, '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean).sort()
  assert.ok(names.includes(`${config.project}_api_1`), names.join(', '))
  assert.ok(names.includes(`${config.project}_worker_8`), names.join(', '))
  const o = await script('assess')
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /docker-compose: compose project reset-and-test-example/)
  assert.match(o.out, /containers ready: .*worker×8/)
})

test('make reset-and-test on Compose v1: exit 0 and exactly one good run of data', async () => {
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=${EXACT.join(' ')}`])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /would run|about to destroy/)
  assert.match(o.out, /7 validate\s+ok/)
  assert.equal(await counts(), GOOD_RUN)
})

test('a restart of one container named as v1 names it: only its service restarts', async () => {
  const all = await targetOf(config).instances()
  const api = all.find((i) => i.service === 'api')!
  const redis = all.find((i) => i.service === 'redis')!
  assert.is(api.name, `${config.project}_api_1`)
  const [apiAt, redisAt] = await startedAt([api.id, redis.id])
  const o = await script('restart', ['--yes', '--services', api.name])
  assert.is(o.code, 0, explain(o))
  // the api's PID 1 (a shell) does not catch SIGTERM: it is killed at once, not after the grace period
  assert.match(o.out, /docker-compose .* restart -t 0 api\b/)
  const [apiNow, redisNow] = await startedAt([api.id, redis.id])
  assert.is.not(apiNow, apiAt)
  assert.is(redisNow, redisAt)
})

test.run()
