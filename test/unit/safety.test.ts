// Safety without a target: production signals from every source, one run at a time, the record
// --resume reads and what it resumes, and the plan as a person reads it.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { acquireLock, RunRecord } from '../../lib/run/record.ts'
import { resumePhases } from '../../lib/run/select.ts'
import { databaseLines, heldServices, names, renderPlan, type DestructionPlan } from '../../lib/safety/plan.ts'
import { modeFor } from '../../lib/modes/index.ts'
import { productionSignals } from '../../lib/safety/production.ts'
import { STEPS } from '../../lib/run/registry.ts'
import { RefusedError } from '../../lib/util/errors.ts'

test('any source that says production is a signal: a shell saying development does not hide the app saying production', () => {
  const signals = productionSignals({ safety: {
    signalSources: [
      { source: 'the environment', env: { NODE_ENV: 'development' } },
      { source: '/suite/.env', env: {} },
      { source: '/app/.env', env: { NODE_ENV: 'production', ENVIRONMENT: 'LIVE' } },
    ],
  } })
  assert.equal(signals, ['ENVIRONMENT=LIVE in /app/.env', 'NODE_ENV=production in /app/.env'])
  assert.equal(productionSignals({ safety: { signalSources: [{ source: 'the environment', env: { RAILS_ENV: 'test', APP_ENV: 'staging-ish' } }] } }), [])
})

test('one run at a time: a live holder is named, a dead one is taken over, release frees the lock', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lock-'))
  const lock = path.join(dir, 'p.lock')
  const release = acquireLock(lock, 'reset_and_run.mts')
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, script: 'reset_and_run.mts', startedAt: 'then' }))
  assert.throws(() => acquireLock(lock, 'truncate-db.mts'), (e: Error) => e instanceof RefusedError && /another run is in progress: reset_and_run.mts \(pid \d+/.test(e.message))
  writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, script: 'x', startedAt: 'then' }))
  const again = acquireLock(lock, 'truncate-db.mts')
  again()
  assert.not.ok(existsSync(path.join(dir, 'p.lock')))
  release()
})

test('the run record is written whole and read back; a damaged one reads as none', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rec-'))
  const file = path.join(dir, 'p.last-run.json')
  const record = new RunRecord(file, ['assess', 'truncate-db'], null)
  record.completed('assess')
  record.hold(['worker'])
  record.stopped('truncate-db', 'interrupted')
  assert.equal(RunRecord.read(file)?.stopped, { phase: 'truncate-db', how: 'interrupted' })
  assert.equal(RunRecord.read(file)?.held, ['worker'])
  assert.not.ok(existsSync(`${file}.${process.pid}.tmp`))
  writeFileSync(file, '{"selected": 1')
  assert.is(RunRecord.read(file), null)
  assert.ok(readFileSync(path.join(dir, 'p.last-run.json'), 'utf8').length > 0)
})

const all = ['assess', 'truncate-logs', 'restart', 'truncate-db', 'flush-redis', 'run-test', 'validate']

test('--resume runs what did not complete; after the test or the validation stopped, it starts again at the first destructive phase', () => {
  assert.equal(resumePhases({ selected: all, completed: ['assess', 'truncate-logs', 'restart'], stopped: { phase: 'truncate-db', how: 'interrupted' } }).phases, ['truncate-db', 'flush-redis', 'run-test', 'validate'])
  const afterTest = resumePhases({ selected: all, completed: all.slice(0, 5), stopped: { phase: 'run-test', how: 'interrupted' } })
  assert.equal(afterTest.phases, all.slice(1))
  assert.match(afterTest.note, /run-test was interrupted: resuming from truncate-logs, so that the test runs on a freshly reset stack/)
  assert.equal(resumePhases({ selected: all, completed: all.slice(0, 6), stopped: { phase: 'validate', how: 'failed' } }).phases, all.slice(1))
  assert.equal(resumePhases({ selected: ['run-test'], completed: [], stopped: { phase: 'run-test', how: 'failed' } }).phases, ['run-test'], 'nothing destructive was selected')
  assert.throws(() => resumePhases(null), /nothing to resume/)
  assert.throws(() => resumePhases({ selected: ['assess'], completed: ['assess'] }), /completed every phase/)
})

test('CASCADE_TABLES names match with or without the schema', () => {
  assert.ok(names('audit_notes', 'public.audit_notes'))
  assert.ok(names('public.audit_notes', 'public.audit_notes'))
  assert.not.ok(names('other.audit_notes', 'public.audit_notes'))
  assert.not.ok(names('notes', 'public.audit_notes'))
})

test('workers are held only when the run clears the broker', () => {
  const workers = ['worker', 'beat']
  const clears = (phases: string[]) => phases.some((p) => STEPS.find((s) => s.name === p)?.clearsBroker === true)
  assert.equal(heldServices(clears(all), workers, ['api', 'worker']), ['worker'])
  assert.equal(heldServices(clears(['restart']), workers, ['api', 'worker']), [])
  assert.equal(heldServices(clears(['truncate-db', 'flush-redis']), workers, ['worker']), ['worker'])
  assert.equal(heldServices(clears(['reset-circuit']), workers, ['worker']), [], 'deleting some keys by pattern holds nothing')
})

test('the plan for a person names every table with its rows and key, the real log file, the servers and the held workers', () => {
  const plan: DestructionPlan = {
    target: 'compose project p in /app',
    engine: 'Docker engine 20.10 on host (ID X) at unix:///var/run/docker.sock',
    sources: ['app directory /app (RT_APP_DIR in the environment)'],
    log: { configured: '/app/logs/combined.log', where: '/elsewhere/real.log', bytes: 120 },
    containers: {
      ...{ mode: 'restart', restart: [{ name: 'p-api-1', service: 'api' }], changed: [], strays: [], workers: [], sessions: [] },
      ...{ held: [{ name: 'p-worker-1', service: 'worker', as: 'stopped' }], origin: 'created from /app', wipesVolumes: false },
    },
    database: {
      name: 'db',
      via: 'pg to 127.0.0.1:25432',
      server: 'p-postgres-1 (172.18.0.2)',
      tables: [
        { name: 'jobs', rows: 210, reason: 'configured' },
        { name: 'public.audit_notes', rows: 2, reason: 'reached', reachedBy: 'foreign key public.audit_notes(organization_id) -> organizations (audit_notes_organization_id_fkey)' },
      ],
      triggers: [],
    },
    redis: { via: 'redis client', server: 'p-redis-1 (172.18.0.3)', mode: 'flushall', databases: [{ db: 0, keys: 12 }, { db: 3, keys: 4 }], keep: [{ pattern: '_kombu.binding.*', keys: 2 }] },
    tasks: [],
  }
  const text = renderPlan(plan, modeFor('restart')).join('\n')
  assert.match(text, /log file \/elsewhere\/real.log \(configured as \/app\/logs\/combined.log\): 120 bytes emptied/)
  assert.match(text, /public.audit_notes: 2 rows \(reached as foreign key public.audit_notes\(organization_id\) -> organizations/)
  assert.match(text, /FLUSHALL empties every database: db0 \(12 keys\), db3 \(4 keys\); put back as they were: _kombu\.binding\.\* \(2\)/)
  assert.match(text, /held stopped while the database and Redis are emptied, then started: p-worker-1/)
  assert.match(text, /app directory \/app \(RT_APP_DIR in the environment\)/)
})

test("the plan's database lines: descendants with why they are reached, a partitioned parent, a foreign partition, every trigger that fires", () => {
  const lines = databaseLines({
    name: 'db',
    via: 'pg to 127.0.0.1:25432',
    server: 'p-postgres-1 (172.18.0.2)',
    tables: [
      { name: 'jobs', rows: 97, reason: 'configured' },
      { name: 'events', rows: 0, reason: 'configured', kind: 'p' },
      { name: 'public.jobs_archive', rows: 1, reason: 'reached', reachedBy: 'inheritance child of jobs' },
      { name: 'public.events_2026', rows: 40, reason: 'partition', reachedBy: 'partition of events' },
      { name: 'public.events_remote', rows: 'rows on another server (not counted)', reason: 'reached', reachedBy: 'partition of events', kind: 'f' },
    ],
    triggers: [{ name: 'audit_truncate', table: 'public.leads', timing: 'AFTER', function: 'audit_wipe' }],
  })
  assert.equal(lines, [
    'database db on p-postgres-1 (172.18.0.2), via pg to 127.0.0.1:25432: 5 tables emptied (TRUNCATE ... RESTART IDENTITY):',
    '  jobs: 97 rows',
    '  events: 0 rows, partitioned: its partitions below',
    '  public.jobs_archive: 1 rows (reached as inheritance child of jobs; named in CASCADE_TABLES)',
    '  public.events_2026: 40 rows (a partition of events: emptied with it)',
    '  public.events_remote: rows on another server (not counted), a foreign table: the rows are deleted on its server (reached as partition of events; named in CASCADE_TABLES)',
    '  trigger audit_truncate fires AFTER TRUNCATE on public.leads and runs audit_wipe (named in TRUNCATE_TRIGGERS)',
  ])
})

test.run()
