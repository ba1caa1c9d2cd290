// Each phase script run alone does its one job and nothing else.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { alembicVersion, appKeys, compose, counts, dbsize, EMPTY, explain, logFile, logSize, logText, script, seedDirty, stackUp, STALE_LINE, startedAt, withRedisClient, writeStats, need } from './stack.ts'

test.before(() => need('up'))

const nonZero = (c: Record<string, number>) => Object.values(c).every((n) => n > 0)

test('assess: checks everything and changes nothing; the 307 of the health path is followed and shown', async () => {
  const before = await writeStats()
  const o = await script('assess')
  assert.is(o.code, 0, explain(o))
  for (const what of [/Docker engine/, /containers ready: .*postgres×1.*worker×8/, /PostgreSQL 15/, /Redis 7/, /test file .* present/, /log .* writable/]) assert.match(o.out, what)
  assert.match(o.out, /api answered on http:\/\/127\.0\.0\.1:28000\/api\/v1\/health -> http:\/\/127\.0\.0\.1:28000\/api\/v1\/health\/ \(redirected\)/)
  assert.is(await writeStats(), before)
})

test('truncate-logs: empties the log in place; database and Redis untouched', async () => {
  await seedDirty()
  const inode = statSync(logFile).ino
  const before = { db: await writeStats(), keys: await dbsize() }
  const o = await script('truncate-logs', ['--yes'])
  assert.is(o.code, 0, explain(o))
  assert.is(logSize(), 0)
  assert.is(statSync(logFile).ino, inode, 'same inode')
  assert.equal({ db: await writeStats(), keys: await dbsize() }, before)
})

test('truncate-db: every table empty and its identity restarted, alembic_version kept; Redis and the log untouched', async () => {
  await seedDirty()
  const version = await alembicVersion()
  const keys = await dbsize()
  const o = await script('truncate-db', ['--yes'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /one TRUNCATE of 5 tables/)
  assert.equal(await counts(), EMPTY)
  assert.is(await alembicVersion(), version)
  assert.is(await dbsize(), keys)
  assert.ok(logText().includes(STALE_LINE))
})

test('truncate-db through psql in the container (DB_ACCESS=exec)', async () => {
  await seedDirty()
  const o = await script('truncate-db', ['--yes', '--db-access', 'exec'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /via psql in container/)
  assert.equal(await counts(), EMPTY)
})

test('flush-redis: Redis empty (with its password, through the port and through redis-cli); database untouched', async () => {
  for (const access of ['port', 'exec']) {
    await seedDirty()
    const before = await writeStats()
    const o = await script('flush-redis', ['--yes', '--redis-access', access])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, access === 'exec' ? /redis-cli in container/ : /redis client to 127\.0\.0\.1:26379/)
    // Paused workers consume as before after the flush, their queues bound again: nothing else is there.
    const left = await withRedisClient((r) => r.keys('*'))
    assert.equal(left.filter((k) => !k.startsWith('_kombu.binding.')), [], `${access}: only the bindings`)
    assert.match(o.out, /worker: consuming as before/)
    assert.match(o.out, /clean: queues celery empty and bound/)
    assert.is(await writeStats(), before)
    assert.ok(nonZero(await counts()))
  }
})

test('flush-redis by pattern removes exactly the matching keys (REDIS_ACCESS port and exec)', async () => {
  for (const access of ['port', 'exec']) {
    await withRedisClient((r) => r.flushdb())
    await seedDirty()
    // The broker's own keys (_kombu.binding.*, unacked_mutex) come and go with the workers: not compared.
    const all = await appKeys()
    const o = await script('flush-redis', ['--yes', '--redis-mode', 'patterns', '--redis-patterns', 'circuit_breaker:*,queue_paused:*', '--redis-access', access])
    assert.is(o.code, 0, explain(o))
    assert.equal(await appKeys(), all.filter((k) => !/^(circuit_breaker|queue_paused):/.test(k)), access)
    assert.match(o.out, /10 keys removed/)
  }
})

test('restart: the api and the workers restarted and ready, postgres and redis left running; data kept; the workers are not held when Redis is not cleared', async () => {
  await seedDirty()
  const c = await compose()
  const all = await c.instances()
  const restarted = all.filter((x) => x.service === 'api' || x.service === 'worker')
  const kept = all.filter((x) => x.service === 'postgres' || x.service === 'redis')
  const before = { at: await startedAt(restarted.map((x) => x.id)), kept: await startedAt(kept.map((x) => x.id)), counts: await counts() }
  const o = await script('restart', ['--yes', '--restart-mode', 'restart'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, new RegExp(`${restarted.length} restarted: `))
  assert.match(o.out, /restart -t 0 api/, "the api's PID 1 ignores SIGTERM: killed at once")
  assert.match(o.out, new RegExp(`${all.length} containers ready after`), 'every running container waited for, restarted or not')
  assert.not.match(o.out, /held/)
  const after = await startedAt(restarted.map((x) => x.id))
  assert.ok(after.every((t, i) => t !== before.at[i]), 'each api and worker container has a new start time')
  assert.equal(await startedAt(kept.map((x) => x.id)), before.kept, 'postgres and redis were not restarted')
  assert.equal(await counts(), before.counts)
})

test('restart of named services or containers only (in place: those besides what changed)', async () => {
  const c = await compose()
  const all = await c.instances()
  const api = all.find((x) => x.service === 'api')!
  const redisBefore = all.find((x) => x.service === 'redis')!
  const [apiAt, redisAt] = await startedAt([api.id, redisBefore.id])
  const o = await script('restart', ['--yes', '--services', api.name])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /api restarted: named in SERVICES/)
  assert.match(o.out, /restarted api, nothing else \([^)]*restart -t 0 api\)/)
  const [apiNow, redisNow] = await startedAt([api.id, redisBefore.id])
  assert.is.not(apiNow, apiAt)
  assert.is(redisNow, redisAt)
})

test('run-test alone: passes on its verdict, streams and saves its output, adds exactly one run of data', async () => {
  // The earlier tests left seeded keys the app cannot read (non-JSON dataset records, breaker
  // counters): the reset clears them, run-test alone does not. The workers' bindings stay.
  await withRedisClient(async (r) => {
    const seeded = (await r.keys('*')).filter((k) => !k.startsWith('_kombu.'))
    if (seeded.length) await r.del(...seeded)
  })
  const before = await counts()
  const o = await script('run-test')
  assert.is(o.code, 0, explain(o))
  const after = await counts()
  assert.is(after.campaigns - before.campaigns, 10)
  assert.is(after.leads - before.leads, 87)
  const saved = readdirSync(path.join(SUITE_ROOT, 'logs')).filter((f) => f.startsWith('run-test-')).sort().pop()!
  const text = readFileSync(path.join(SUITE_ROOT, 'logs', saved), 'utf8')
  assert.ok(text.includes('TEST RESULT: SUCCESSFUL EXECUTION') && o.out.includes(text.trim().split('\n').pop()!), 'saved output matches the streamed output')
})

test('validate: exit 7 naming the relation that does not hold', async () => {
  // run-test alone on top of earlier rows: more campaigns than one run makes
  const bad = await script('validate')
  assert.is(bad.code, 7, explain(bad))
  assert.match(bad.out, /campaigns = EXPECT_CAMPAIGNS\s+campaigns = EXPECT_CAMPAIGNS\s+\d+ ≠ 10\s+FAILED/)
  assert.match(bad.out, /checks? failed: campaigns = EXPECT_CAMPAIGNS/)
})

test.run()
