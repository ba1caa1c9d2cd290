import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { acquireLock, isLocalHost, productionSignals, RefusedError, resumePhases } from '../../lib/safety.ts'

const services = { api: 'api', postgres: 'postgres', redis: 'redis' }
const base = { env: {}, databaseUrl: '', redisUrl: '', services, safeHosts: [] as string[] }

test('environment variables that say production are signals', () => {
  assert.equal(productionSignals({ ...base, env: { APP_ENV: 'production', NODE_ENV: 'development', ENVIRONMENT: 'LIVE' } }), ['ENVIRONMENT=LIVE', 'APP_ENV=production'])
  assert.equal(productionSignals({ ...base, env: { RAILS_ENV: 'test' } }), [])
})

test('a database or Redis URL on a remote host is a signal unless allowed', () => {
  assert.equal(productionSignals({ ...base, databaseUrl: 'postgres://u:p@localhost:15432/db', redisUrl: 'redis://redis:6379/0' }), [])
  const s = productionSignals({ ...base, databaseUrl: 'postgres://u:p@db.example.com/db' })
  assert.is(s.length, 1)
  assert.match(s[0], /DATABASE_URL points at db.example.com.*SAFE_HOSTS/)
  assert.equal(productionSignals({ ...base, databaseUrl: 'postgres://u:p@db.example.com/db', safeHosts: ['db.example.com'] }), [])
})

test('local hosts: loopback, compose service names, docker bridge addresses', () => {
  for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', 'postgres', '172.18.0.3', '192.168.96.2']) assert.ok(isLocalHost(h, { services, safeHosts: [] }), h)
  for (const h of ['10.0.0.5', 'prod-db', '8.8.8.8', '172.32.0.1']) assert.not.ok(isLocalHost(h, { services, safeHosts: [] }), h)
})

test('one run at a time: a live holder is named, a dead one is taken over, release frees the lock', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lock-'))
  const release = acquireLock(dir, 'p', 'reset_and_run.mts')
  writeFileSync(path.join(dir, 'p.lock'), JSON.stringify({ pid: process.ppid, script: 'reset_and_run.mts', startedAt: 'then' }))
  assert.throws(() => acquireLock(dir, 'p', 'truncate-db.mts'), (e: Error) => e instanceof RefusedError && /another run is in progress: reset_and_run.mts \(pid \d+/.test(e.message))
  writeFileSync(path.join(dir, 'p.lock'), JSON.stringify({ pid: 2 ** 22 + 7, script: 'x', startedAt: 'then' }))
  const again = acquireLock(dir, 'p', 'truncate-db.mts')
  again()
  assert.not.ok(existsSync(path.join(dir, 'p.lock')))
  release()
})

test('--resume continues after the last completed phase of the recorded selection', () => {
  assert.equal(resumePhases({ selected: ['assess', 'truncate-db', 'flush-redis', 'run-test'], completed: 'truncate-db' }), ['flush-redis', 'run-test'])
  assert.throws(() => resumePhases(null), /nothing to resume/)
  assert.throws(() => resumePhases({ selected: ['assess'], completed: 'assess' }), /completed every phase/)
})

test.run()
