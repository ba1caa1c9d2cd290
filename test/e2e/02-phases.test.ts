// Each phase script run alone does its one job and nothing else.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { statSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config.ts'
import { alembicVersion, compose, counts, dbsize, explain, logFile, logSize, logText, run, script, seedDirty, stackUp, STALE_LINE, withRedisClient, writeStats } from './stack.ts'

test.before(stackUp)

const nonZero = (c: Record<string, number>) => Object.values(c).every((n) => n > 0)

test('assess: checks everything and changes nothing', async () => {
  const before = await writeStats()
  const o = await script('assess')
  assert.is(o.code, 0, explain(o))
  for (const what of [/Docker engine/, /containers ready: .*worker×8/, /PostgreSQL 15/, /Redis 7/, /test file .* present/, /log directory .* writable/]) assert.match(o.out, what)
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

test('truncate-db: every table empty, alembic_version kept; Redis and the log untouched', async () => {
  await seedDirty()
  const version = await alembicVersion()
  const keys = await dbsize()
  const o = await script('truncate-db', ['--yes'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /before: jobs=\d+ leads=\d+/)
  assert.match(o.out, /one TRUNCATE of 5 tables/)
  assert.equal(await counts(), { users: 0, organizations: 0, campaigns: 0, leads: 0, jobs: 0 })
  assert.is(await alembicVersion(), version)
  assert.is(await dbsize(), keys)
  assert.ok(logText().includes(STALE_LINE))
})

test('truncate-db through psql in the container (DB_ACCESS=exec)', async () => {
  await seedDirty()
  const o = await script('truncate-db', ['--yes', '--db-access', 'exec'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /via psql in container/)
  assert.equal(await counts(), { users: 0, organizations: 0, campaigns: 0, leads: 0, jobs: 0 })
})

test('flush-redis: Redis empty; database untouched', async () => {
  await seedDirty()
  const before = await writeStats()
  const o = await script('flush-redis', ['--yes'])
  assert.is(o.code, 0, explain(o))
  assert.is(await dbsize(), 0)
  assert.is(await writeStats(), before)
  assert.ok(nonZero(await counts()))
})

test('flush-redis by pattern removes exactly the matching keys (REDIS_ACCESS port and exec)', async () => {
  for (const access of ['port', 'exec']) {
    await withRedisClient((r) => r.flushdb())
    await seedDirty()
    const all = await withRedisClient((r) => r.keys('*'))
    const o = await script('flush-redis', ['--yes', '--redis-mode', 'patterns', '--redis-patterns', 'circuit_breaker:*,queue_paused:*', '--redis-access', access])
    assert.is(o.code, 0, explain(o))
    const left = (await withRedisClient((r) => r.keys('*'))).sort()
    assert.equal(left, all.filter((k) => !/^(circuit_breaker|queue_paused):/.test(k)).sort(), access)
    assert.match(o.out, /10 keys removed/)
  }
})

test('restart: every container restarted and ready; data kept', async () => {
  await seedDirty()
  const c = await compose()
  const started = async () => {
    const ids = (await c.containers()).map((x) => x.id)
    return (await run(['docker', 'inspect', '--format', '{{.State.StartedAt}}', ...ids])).stdout.trim().split('\n')
  }
  const before = { at: await started(), counts: await counts() }
  const o = await script('restart', ['--yes'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /12 containers ready after/)
  const after = await started()
  assert.ok(after.every((t, i) => t !== before.at[i]), 'each container has a new start time')
  assert.equal(await counts(), before.counts)
})

test('restart of named services or containers only', async () => {
  const c = await compose()
  const all = await c.containers()
  const api = all.find((x) => x.service === 'api')!
  const redisBefore = all.find((x) => x.service === 'redis')!
  const startedAt = async (id: string) => (await run(['docker', 'inspect', '--format', '{{.State.StartedAt}}', id])).stdout.trim()
  const [apiAt, redisAt] = [await startedAt(api.id), await startedAt(redisBefore.id)]
  const o = await script('restart', ['--yes', '--services', api.name])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /restart api/)
  assert.is.not(await startedAt(api.id), apiAt)
  assert.is(await startedAt(redisBefore.id), redisAt)
})

test('run-test alone: passes, streams and saves its output, adds exactly one run of data', async () => {
  const before = await counts()
  const o = await script('run-test')
  assert.is(o.code, 0, explain(o))
  const after = await counts()
  assert.is(after.campaigns - before.campaigns, 10)
  assert.is(after.leads - before.leads, 200)
  const saved = readdirSync(path.join(SUITE_ROOT, 'logs')).filter((f) => f.startsWith('run-test-')).sort().pop()!
  const text = readFileSync(path.join(SUITE_ROOT, 'logs', saved), 'utf8')
  assert.ok(text.length > 0 && o.out.includes(text.trim().split('\n').pop()!), 'saved output matches the streamed output')
})

test('validate: the expected/actual table, exit 7 on a mismatch and 0 when counts match', async () => {
  const c = await counts()
  const bad = await script('validate', ['--expect-campaigns', String(c.campaigns + 1)])
  assert.is(bad.code, 7, explain(bad))
  assert.match(bad.out, /campaigns after the test\s+\d+\s+\d+\s+MISMATCH/)
  const env = ['--expect-campaigns', String(c.campaigns), '--expect-leads', String(c.leads), '--expect-fetch-jobs-completed', '', '--expect-enrich-jobs-completed', '', '--expect-failed-jobs', '', '--expect-paused-campaigns', '']
  const good = await script('validate', env)
  assert.is(good.code, 0, explain(good))
})

test.run()
