// The recovery tasks against the real stack: a migration down and back up, the circuit-breaker
// keys reset (and only they), the checks finding what was seeded, and code rollback on a scratch
// git repository. Each test leaves the stack as it found it: schema at head, tables empty.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { alembicVersion, appKeys, db, dbsize, explain, run, script, stackUp, TABLES, withRedisClient, writeStats } from './stack.ts'

const HEAD = '0003_enrichment_and_completion'
const BELOW = '0002_campaigns_leads_jobs'
const SERVICES = ['perplexity', 'openai', 'apollo', 'instantly', 'millionverifier']

const emptyTables = () => db(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY CASCADE`)
const hasColumn = async (table: string, column: string) =>
  (await db(`SELECT 1 FROM information_schema.columns WHERE table_name = '${table}' AND column_name = '${column}'`)).length === 1

test.before(async () => {
  await stackUp()
  await emptyTables()
  await withRedisClient((r) => r.flushdb())
})

test.after(async () => {
  if ((await alembicVersion()) !== HEAD) await script('rollback-db', ['upgrade'])
  await emptyTables()
  await withRedisClient((r) => r.flushdb())
})

// ---- rollback-db ----

test('rollback-db: downgrade one revision and upgrade back; the schema follows each time', async () => {
  assert.is(await alembicVersion(), HEAD)
  assert.ok(await hasColumn('leads', 'enrichment_data'))
  await db(`INSERT INTO organizations (id, name) VALUES ('o-mig', 'Org');
            INSERT INTO campaigns (id, organization_id, name, status) VALUES ('c-mig', 'o-mig', 'c', 'RUNNING');
            INSERT INTO leads (id, campaign_id, email, enrichment_data) VALUES ('l-mig', 'c-mig', 'mig@example.com', '{"a": 1}')`)

  const o = await script('rollback-db', ['downgrade', BELOW, '--yes', '--backup'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, new RegExp(`downgrade from ${HEAD} to ${BELOW}, running the downgrade of 1 revision:\\n\\s+${HEAD}: lead enrichment columns`))
  assert.match(o.out, /Running downgrade 0003_enrichment_and_completion -> 0002_campaigns_leads_jobs/)
  assert.is(await alembicVersion(), BELOW)
  assert.not.ok(await hasColumn('leads', 'enrichment_data'))
  assert.not.ok(await hasColumn('jobs', 'completed_at'))
  const saved = /backup: \d+ rows of 5 tables saved to (\S+)/.exec(o.out)?.[1]
  assert.ok(saved && existsSync(saved), `the backup was written: ${o.out}`)
  // The rows in COPY's text format, one file a table, their columns in the manifest
  const leads = JSON.parse(readFileSync(path.join(path.dirname(saved!), 'manifest.json'), 'utf8')).saved.find((t: { table: string }) => t.table === 'leads')
  const line = readFileSync(path.join(saved!, 'leads.copy'), 'utf8').split('\n').find((l) => l.startsWith('l-mig\t'))
  assert.is(line?.split('\t')[leads.columns.indexOf('enrichment_data')], '{"a": 1}', 'the lead and its enrichment data saved')
  rmSync(path.dirname(saved!), { recursive: true })

  const up = await script('rollback-db', ['upgrade'])
  assert.is(up.code, 0, explain(up))
  assert.match(up.out, new RegExp(`upgrade from ${BELOW} to ${HEAD}`))
  assert.is(await alembicVersion(), HEAD)
  assert.ok(await hasColumn('leads', 'enrichment_data'))
  assert.ok(await hasColumn('jobs', 'completed_at'))
  await emptyTables()
})

test('rollback-db: relative downgrade (-- -1), dry run, no confirmation, unknown revision: only the first changes anything', async () => {
  const dry = await script('rollback-db', ['downgrade', 'base', '--dry-run'])
  assert.is(dry.code, 0, explain(dry))
  assert.match(dry.out, /running the downgrade of 3 revisions:\n.*0003_enrichment_and_completion.*\n.*0002_campaigns_leads_jobs.*\n.*0001_initial/)
  assert.match(dry.out, /\[dry-run\] would run in api: alembic downgrade base/)
  const unconfirmed = await script('rollback-db', ['downgrade', BELOW])
  assert.is(unconfirmed.code, 8, explain(unconfirmed))
  const unknown = await script('rollback-db', ['downgrade', 'no_such_revision', '--yes'])
  assert.is(unknown.code, 4, explain(unknown))
  assert.match(unknown.out, /unknown revision "no_such_revision"; revisions are: 0003_enrichment_and_completion, 0002_campaigns_leads_jobs, 0001_initial/)
  const usage = await script('rollback-db', ['sideways'])
  assert.is(usage.code, 9, explain(usage))
  assert.is(await alembicVersion(), HEAD, 'none of them changed the schema')

  const relative = await script('rollback-db', ['downgrade', '--yes', '--', '-1'])
  assert.is(relative.code, 0, explain(relative))
  assert.is(await alembicVersion(), BELOW)
  const current = await script('rollback-db', ['current'])
  assert.match(current.out, new RegExp(`database at ${BELOW}`))
  const back = await script('rollback-db', ['upgrade', HEAD.slice(0, 4)])
  assert.is(back.code, 0, explain(back))
  assert.is(await alembicVersion(), HEAD)
})

// ---- reset-circuit ----

/** The app's circuit-breaker keys for every service and the global one, and keys that must survive. */
async function seedCircuitAndOthers(tag: string) {
  const circuit: string[] = ['circuit_breaker:global']
  const others = ['celery', `celery-task-meta-${tag}`, '_kombu.binding.celery', 'mock_apify:dataset_loaded', 'circuit_breakers_config', 'my:circuit_breaker:x', 'queue_paused', `lead:${tag}`]
  await withRedisClient(async (r) => {
    const p = r.pipeline()
    for (const s of SERVICES) {
      p.set(`circuit_breaker:${s}`, JSON.stringify({ state: 'open', opened_at: Date.now() / 1000, metadata: {} }))
      p.set(`circuit_failures:${s}`, '7')
      p.set(`queue_paused:${s}`, '1')
      circuit.push(`circuit_breaker:${s}`, `circuit_failures:${s}`, `queue_paused:${s}`)
    }
    p.set('circuit_breaker:global', JSON.stringify({ state: 'open', opened_at: Date.now() / 1000 }))
    for (const k of others) p.set(k, 'keep')
    await p.exec()
  })
  return { circuit, others }
}

const keys = () => withRedisClient(async (r) => (await r.keys('*')).sort())

test('reset-circuit: removes exactly the circuit-breaker keys (port and exec access); every other key survives', async () => {
  for (const access of ['port', 'exec']) {
    await withRedisClient((r) => r.flushdb())
    const { circuit, others } = await seedCircuitAndOthers(access)
    assert.is(await dbsize(), circuit.length + others.length)

    const dry = await script('reset-circuit', ['--dry-run', '--redis-access', access])
    assert.is(dry.code, 0, explain(dry))
    assert.match(dry.out, /keys matching circuit_breaker:\* \(6\), circuit_failures:\* \(5\), queue_paused:\* \(5\)/)
    assert.is(await dbsize(), circuit.length + others.length, 'a dry run deletes nothing')

    const o = await script('reset-circuit', ['--yes', '--redis-access', access])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /circuit_breaker:global, the planned single global breaker, is covered by circuit_breaker:\*/)
    assert.match(o.out, /16 keys removed/)
    assert.equal(await keys(), [...others].sort(), access)
  }
})

test('reset-circuit: refuses * and an empty pattern list; --all is FLUSHDB of the app db only', async () => {
  await withRedisClient((r) => r.flushdb())
  const { circuit, others } = await seedCircuitAndOthers('all')
  for (const patterns of ['*', '', 'ok:*,**']) {
    const o = await script('reset-circuit', ['--yes', '--circuit-patterns', patterns])
    assert.is(o.code, 9, explain(o))
    assert.match(o.out, /CIRCUIT_PATTERNS: (no patterns|pattern "\*+" matches every key)/)
  }
  assert.is(await dbsize(), circuit.length + others.length)

  await withRedisClient(async (r) => {
    await r.select(1)
    await r.set('other-db-key', 'keep')
    await r.select(0)
  })
  const unconfirmed = await script('reset-circuit', ['--all'])
  assert.is(unconfirmed.code, 8, explain(unconfirmed))
  assert.match(unconfirmed.out, /FLUSHDB empties db0 \(24 keys\)/)
  const o = await script('reset-circuit', ['--all', '--yes'])
  assert.is(o.code, 0, explain(o))
  // A running worker may declare its queue binding again at once: only the broker's own keys may be back
  assert.equal(await appKeys(), [])
  const kept = await withRedisClient(async (r) => {
    await r.select(1)
    const v = await r.get('other-db-key')
    await r.del('other-db-key')
    await r.select(0)
    return v
  })
  assert.is(kept, 'keep', 'the other Redis database is untouched')
})

test('reset-circuit: a million matching keys go in batches while Redis keeps answering', async () => {
  await withRedisClient((r) => r.flushdb())
  const N = 1_000_000
  await withRedisClient(async (r) => {
    for (let i = 0; i < N; i += 10_000) {
      const args: string[] = []
      for (let j = i; j < i + 10_000; j++) args.push(`circuit_failures:bulk-${j}`, '1')
      await r.mset(...args)
    }
    const p = r.pipeline()
    for (let j = 0; j < 1000; j++) p.set(`survivor:${j}`, '1')
    await p.exec()
  })
  // Another client pings all along: the longest answer shows whether Redis was blocked.
  let slowest = 0
  let stop = false
  const pinger = withRedisClient(async (r) => {
    while (!stop) {
      const t0 = performance.now()
      await r.ping()
      slowest = Math.max(slowest, performance.now() - t0)
      await new Promise((res) => setTimeout(res, 5))
    }
  })
  const t0 = Date.now()
  const o = await script('reset-circuit', ['--yes'])
  const took = Date.now() - t0
  stop = true
  await pinger
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, new RegExp(`${N} keys removed`))
  assert.is(await dbsize(), 1000)
  console.log(`      (1M keys: reset-circuit ${(took / 1000).toFixed(1)} s, slowest PING meanwhile ${slowest.toFixed(0)} ms)`)
  assert.ok(slowest < 500, `Redis answered a PING within ${slowest.toFixed(0)} ms`)
  await withRedisClient((r) => r.flushdb())
})

// ---- check-circuit ----

test('check-circuit: exit 0 with every breaker closed, 7 naming the open ones and paused queues; changes nothing', async () => {
  await withRedisClient((r) => r.flushdb())
  const none = await script('check-circuit')
  assert.is(none.code, 0, explain(none))
  assert.match(none.out, /all 5 breakers closed, no queue paused/)

  await withRedisClient(async (r) => {
    for (const s of SERVICES) {
      await r.set(`circuit_breaker:${s}`, JSON.stringify({ state: 'closed', opened_at: null, metadata: {} }))
      await r.set(`circuit_failures:${s}`, '0')
      await r.set(`queue_paused:${s}`, '0')
    }
  })
  const json = path.join(mkdtempSync(path.join(tmpdir(), 'check-')), 'report.json')
  const closed = await script('check-circuit', ['--json', json])
  assert.is(closed.code, 0, explain(closed))
  assert.equal(JSON.parse(readFileSync(json, 'utf8')).phases[0].figures, { breakers: 5, open: 0, paused: 0 })

  await withRedisClient(async (r) => {
    await r.set('circuit_breaker:openai', JSON.stringify({ state: 'open', opened_at: 1732363200, metadata: { reason: '429' } }))
    await r.set('circuit_failures:openai', '5')
    await r.set('queue_paused:openai', '1')
    await r.set('queue_paused:apollo', '1')
    await r.set('circuit_breaker:global', JSON.stringify({ state: 'half_open', opened_at: 1732363200 }))
  })
  const before = await keys()
  for (const access of ['port', 'exec']) {
    const open = await script('check-circuit', ['--redis-access', access])
    assert.is(open.code, 7, explain(open))
    assert.match(open.out, /openai\s+open\s+2024-11-23T12:00:00Z\s+5\s+PAUSED/)
    assert.match(open.out, /apollo\s+closed\s+-\s+0\s+PAUSED/)
    assert.match(open.out, /global\s+half_open/)
    assert.match(open.out, /3 of 6 breakers not closed and running: openai open, queue paused; apollo closed, queue paused; global half_open/)
  }
  assert.equal(await keys(), before)
  const reset = await script('reset-circuit', ['--yes'])
  assert.is(reset.code, 0, explain(reset))
  assert.is((await script('check-circuit')).code, 0)
})

// ---- check-consistency ----

/** A consistent picture: a running campaign with live jobs, a completed one with every lead enriched. */
const CONSISTENT = `
  INSERT INTO organizations (id, name) VALUES ('o1', 'Org');
  INSERT INTO campaigns (id, organization_id, name, status) VALUES ('c-run', 'o1', 'running', 'RUNNING'), ('c-done', 'o1', 'done', 'COMPLETED');
  INSERT INTO leads (id, campaign_id, email) VALUES ('l-1', 'c-done', 'one@example.com'), ('l-2', 'c-done', 'two@example.com'), ('l-3', 'c-run', 'three@example.com');
  INSERT INTO jobs (id, task_id, name, job_type, status, campaign_id, lead_id, updated_at) VALUES
    (1, 't1', 'fetch', 'FETCH_LEADS', 'COMPLETED', 'c-done', NULL, now()),
    (2, 't2', 'enrich', 'ENRICH_LEAD', 'COMPLETED', 'c-done', 'l-1', now()),
    (3, 't3', 'enrich', 'ENRICH_LEAD', 'FAILED', 'c-done', 'l-2', now()),
    (4, 't4', 'enrich', 'ENRICH_LEAD', 'PROCESSING', 'c-run', 'l-3', now() - interval '5 minutes'),
    (5, 't5', 'fetch', 'FETCH_LEADS', 'PENDING', 'c-run', NULL, now());
  SELECT setval('jobs_id_seq', 100);`

/** One row breaking each invariant. */
const BROKEN = `
  INSERT INTO campaigns (id, organization_id, name, status) VALUES ('c-paused', 'o1', 'paused', 'PAUSED'), ('c-done2', 'o1', 'done too', 'COMPLETED');
  INSERT INTO leads (id, campaign_id, email) VALUES ('l-orphan', 'c-done2', 'orphan@example.com'), ('l-dup', 'c-run', ' One@Example.com');
  INSERT INTO jobs (id, task_id, name, job_type, status, campaign_id, lead_id, updated_at) VALUES
    (11, 't11', 'stuck', 'ENRICH_LEAD', 'PROCESSING', 'c-run', 'l-3', now() - interval '2 hours'),
    (12, 't12', 'paused', 'ENRICH_LEAD', 'PAUSED', 'c-run', 'l-3', now()),
    (13, 't13', 'left over', 'ENRICH_LEAD', 'PENDING', 'c-done2', NULL, now()),
    (14, NULL, 'no task', 'FETCH_LEADS', 'PENDING', 'c-run', NULL, now());`

test('check-consistency: a consistent database passes (exit 0); each seeded inconsistency is reported by its rows (exit 7)', async () => {
  await emptyTables()
  await db(CONSISTENT)
  const good = await script('check-consistency')
  assert.is(good.code, 0, explain(good))
  assert.is((good.out.match(/✓ [a-z-]+: /g) ?? []).length, 7)

  await db(BROKEN)
  const stats = await writeStats()
  const bad = await script('check-consistency')
  assert.is(bad.code, 7, explain(bad))
  for (const [name, rows] of [
    ['no-paused-campaigns', ['c-paused: campaign "paused"']],
    ['no-stuck-processing-jobs', ['11: ENRICH_LEAD job, campaign c-run, last updated 02:00:00 ago']],
    ['paused-jobs-have-paused-campaign', ['12: ENRICH_LEAD job, campaign c-run is RUNNING']],
    ['completed-campaigns-have-finished-jobs', ['c-done2: unfinished jobs 13 PENDING']],
    ['completed-campaign-leads-enriched', ['l-orphan: lead of campaign c-done2']],
    ['unique-lead-emails', ['one@example.com: leads l-1, l-dup']],
    ['pending-jobs-have-task', ['14: FETCH_LEADS job, campaign c-run']],
  ] as const) {
    assert.match(bad.out, new RegExp(`! ${name}: 1 row break`), name)
    for (const row of rows) assert.ok(bad.out.includes(`    ${row}`), `${name} names ${row}\n${bad.out}`)
  }
  assert.match(bad.out, /7 of 7 invariants broken/)

  const exec = await script('check-consistency', ['--db-access', 'exec', '--processing-limit', '180'])
  assert.is(exec.code, 7, explain(exec))
  assert.match(exec.out, /✓ no-stuck-processing-jobs: no job is PROCESSING for longer than 180 minutes/)
  assert.match(exec.out, /6 of 7 invariants broken/)
  assert.is(await writeStats(), stats, 'the checks wrote nothing')
  await emptyTables()
})

// ---- rollback-code ----

test('rollback-code on a scratch repository: dirty tree refused, backup branch, revert, branch from the backup', async () => {
  const repo = mkdtempSync(path.join(tmpdir(), 'rollback-code-'))
  const git = async (...args: string[]) => (await run(['git', '-C', repo, ...args])).stdout.trim()
  await git('init', '-q', '-b', 'main')
  await git('config', 'user.email', 'dev@example.com')
  await git('config', 'user.name', 'Dev')
  const file = path.join(repo, 'breaker.py')
  writeFileSync(file, 'GLOBAL = False\n')
  await git('add', '.')
  await git('commit', '-q', '-m', 'per-service breakers')
  const before = await git('rev-parse', 'HEAD')

  const list = await script('rollback-code', ['--repo', repo])
  assert.is(list.code, 0, explain(list))
  assert.match(list.out, /recent commits of .* \(on main\):\n\s+[0-9a-f]{7,} per-service breakers/)

  const backup = await script('rollback-code', ['--repo', repo, '--backup', 'simplification'])
  assert.is(backup.code, 0, explain(backup))
  assert.is(await git('rev-parse', 'backup-before-simplification'), before)

  writeFileSync(file, 'GLOBAL = True\n')
  await git('commit', '-q', '-am', 'one global breaker')
  const change = await git('rev-parse', 'HEAD')

  writeFileSync(file, 'GLOBAL = True  # uncommitted\n')
  const dirty = await script('rollback-code', ['--repo', repo, '--revert', change])
  assert.is(dirty.code, 8, explain(dirty))
  assert.match(dirty.out, /uncommitted changes in breaker.py. Commit them or stash them/)
  assert.is(await git('rev-parse', 'HEAD'), change, 'nothing was committed')
  await git('checkout', '--', 'breaker.py')

  const dry = await script('rollback-code', ['--repo', repo, '--revert', change.slice(0, 7), '--dry-run'])
  assert.is(dry.code, 0, explain(dry))
  assert.match(dry.out, new RegExp(`\\[dry-run\\] would run: git -C ${repo} revert --no-edit ${change}`))
  assert.is(await git('rev-parse', 'HEAD'), change)

  const revert = await script('rollback-code', ['--repo', repo, '--revert', change.slice(0, 7)])
  assert.is(revert.code, 0, explain(revert))
  assert.is(readFileSync(file, 'utf8'), 'GLOBAL = False\n')
  assert.match(await git('log', '-1', '--format=%s'), /^Revert "one global breaker"/)

  const unknown = await script('rollback-code', ['--repo', repo, '--from-backup', 'nothing'])
  assert.is(unknown.code, 1, explain(unknown))
  assert.match(unknown.out, /there is no branch backup-before-nothing/)

  const restore = await script('rollback-code', ['--repo', repo, '--from-backup', 'simplification'])
  assert.is(restore.code, 0, explain(restore))
  assert.is(await git('branch', '--show-current'), 'rollback-simplification')
  assert.is(await git('rev-parse', 'HEAD'), before)
  rmSync(repo, { recursive: true })
})

test.run()
