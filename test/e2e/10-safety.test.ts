// What PostgreSQL, Docker and signals do behind the plan's back, each tried on the real stack:
// inheritance children and TRUNCATE triggers named or refused, nothing changed before the gate on a
// production-looking target, Ctrl-C at the prompt, numbers in flags, a key with a newline, a large
// log read in bounded memory, another Docker engine, ALLOW_PRODUCTION against the database
// reached, the re-check before the workers are held, a second signal, the lock and the record,
// redis-cli error replies, and backups that go back only where they came from.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { stateKey, SUITE_ROOT } from '../../lib/config/config.ts'
import { RunRecord } from '../../lib/run/record.ts'
import { FOREIGN_PORTS } from './ports.ts'
import { compose, config, counts, db, dbsize, example, explain, logFile, run, script, seedDirty, stackChanged, stackUp, terminalSession, withRedisClient, writeStats, need, until, processesIn } from './stack.ts'

test.before(() => need('up'))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const recordFile = path.join(config.stateDir, `${stateKey(config)}.last-run.json`)
const HANG = 'sleep 4321'

test('an inheritance child of a reset table is named in the plan and refused until CASCADE_TABLES names it; ONLY keeps it otherwise', async () => {
  await seedDirty()
  await db("CREATE TABLE jobs_archive () INHERITS (jobs); INSERT INTO jobs_archive (task_id, name, job_type, status) VALUES ('arch-1', 'archived', 'ENRICH_LEAD', 'COMPLETED')")
  try {
    const before = await writeStats()
    const [{ only }] = await db<{ only: number }>('SELECT count(*)::int AS only FROM ONLY jobs')
    const refused = await script('truncate-db', ['--yes'])
    assert.is(refused.code, 8, explain(refused))
    assert.match(refused.out, /would also empty a table the configuration does not name: public\.jobs_archive \(1 rows\), reached as inheritance child of jobs/)
    assert.match(refused.out, /CASCADE_TABLES=jobs_archive/)
    assert.is(await writeStats(), before)
    assert.equal(await db('SELECT task_id FROM jobs_archive'), [{ task_id: 'arch-1' }], 'the child keeps its row')
    const dry = await script('truncate-db', ['--dry-run', '--cascade-tables', 'jobs_archive'])
    assert.match(dry.out, new RegExp(`jobs: ${only} rows\\n`), "the parent's own rows, not its child's")
    assert.match(dry.out, /public\.jobs_archive: 1 rows \(reached as inheritance child of jobs; named in CASCADE_TABLES\)/)
    const allowed = await script('truncate-db', ['--yes', '--cascade-tables', 'jobs_archive'])
    assert.is(allowed.code, 0, explain(allowed))
    assert.equal(await db<{ n: number }>('SELECT count(*)::int AS n FROM jobs'), [{ n: 0 }], 'the child emptied with its parent, as the plan said')
  } finally {
    await db('DROP TABLE IF EXISTS jobs_archive')
  }
})

test('a partitioned table named alone in RESET_TABLES is emptied with its partitions, each listed in the plan with its rows', async () => {
  await db(`CREATE TABLE hid_events (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE hid_events_2026 PARTITION OF hid_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    CREATE TABLE hid_events_2027 PARTITION OF hid_events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
    INSERT INTO hid_events VALUES (1, '2026-03-01'), (2, '2026-04-01'), (3, '2027-02-01')`)
  try {
    const tables = ['--reset-tables', 'hid_events']
    const dry = await script('truncate-db', ['--dry-run', ...tables])
    assert.is(dry.code, 0, explain(dry))
    assert.match(dry.out, /hid_events: 0 rows, partitioned: its partitions below/)
    assert.match(dry.out, /public\.hid_events_2026: 2 rows \(a partition of hid_events: emptied with it\)/)
    assert.match(dry.out, /public\.hid_events_2027: 1 rows \(a partition of hid_events: emptied with it\)/)
    const o = await script('truncate-db', ['--yes', ...tables])
    assert.is(o.code, 0, explain(o))
    assert.equal(await db<{ n: number }>('SELECT count(*)::int AS n FROM hid_events'), [{ n: 0 }])
  } finally {
    await db('DROP TABLE IF EXISTS hid_events')
  }
})

test('a trigger that fires on the TRUNCATE is named and refused until TRUNCATE_TRIGGERS names it', async () => {
  await seedDirty()
  await db(`CREATE TABLE truncate_audit (n int); INSERT INTO truncate_audit SELECT generate_series(1, 3);
    CREATE FUNCTION wipe_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM truncate_audit; RETURN NULL; END $$;
    CREATE TRIGGER leads_truncate AFTER TRUNCATE ON leads FOR EACH STATEMENT EXECUTE FUNCTION wipe_audit()`)
  try {
    const before = await writeStats()
    const refused = await script('truncate-db', ['--yes'])
    assert.is(refused.code, 8, explain(refused))
    assert.match(refused.out, /would fire a trigger the configuration does not name: leads_truncate \(AFTER TRUNCATE on public\.leads, runs wipe_audit\)/)
    assert.match(refused.out, /TRUNCATE_TRIGGERS=leads\.leads_truncate/)
    assert.is(await writeStats(), before)
    assert.equal(await db<{ n: number }>('SELECT count(*)::int AS n FROM truncate_audit'), [{ n: 3 }], 'the table the trigger would empty is untouched')
    const allowed = await script('truncate-db', ['--yes', '--truncate-triggers', 'leads.leads_truncate'])
    assert.is(allowed.code, 0, explain(allowed))
    assert.match(allowed.out, /trigger leads_truncate fires AFTER TRUNCATE on public\.leads and runs wipe_audit \(named in TRUNCATE_TRIGGERS\)/)
  } finally {
    await db('DROP TRIGGER IF EXISTS leads_truncate ON leads; DROP FUNCTION IF EXISTS wipe_audit(); DROP TABLE IF EXISTS truncate_audit')
  }
})

test('a production-looking target with the workers stopped: refused with exit 8 before anything changes, the workers still stopped', async () => {
  await example.compose(['stop', 'worker'], { timeoutMs: 120_000 })
  stackChanged()
  try {
    const o = await script('reset_and_run', ['--yes'], { ENVIRONMENT: 'production' })
    assert.is(o.code, 8, explain(o))
    assert.match(o.out, /this looks like a production target: ENVIRONMENT=production in the environment/)
    assert.not.match(o.out, /starting them/)
    const workers = (await (await compose()).current()).filter((i) => i.service === 'worker')
    assert.ok(workers.length === 8 && workers.every((i) => i.state === 'exited'), `still stopped: ${workers.map((i) => i.state)}`)
  } finally {
    await stackUp()
  }
})

test('Ctrl-C at the "Type yes" prompt is "not confirmed": exit 8, no diagnostics, nothing changed', async () => {
  await seedDirty()
  const before = await writeStats()
  const diagnostics = existsSync(path.join(SUITE_ROOT, 'diagnostics')) ? readdirSync(path.join(SUITE_ROOT, 'diagnostics')).length : 0
  const t = terminalSession('node --import tsx scripts/truncate-db.mts')
  await t.until(/Type "yes" to go ahead/)
  t.type('\x03')
  const o = await t.done()
  assert.is(o.code, 8, o.out)
  assert.match(o.out, /not confirmed; nothing was changed/)
  assert.not.match(o.out, /diagnostics:/)
  assert.is(existsSync(path.join(SUITE_ROOT, 'diagnostics')) ? readdirSync(path.join(SUITE_ROOT, 'diagnostics')).length : 0, diagnostics)
  assert.is(await writeStats(), before)
})

test('flag values are taken as typed: --postgres-db 007 is "007", --reset-tables 1e3 is the name "1e3"', async () => {
  const db007 = await script('validate', ['--postgres-db', '007'])
  assert.match(db007.out, /database "007" does not exist/)
  const tables = await script('truncate-db', ['--yes', '--reset-tables', '1e3'])
  assert.is(tables.code, 9, explain(tables))
  assert.match(tables.out, /RESET_TABLES: table name "1e3" is malformed/)
})

test('a key named with a newline is one key: the pattern delete through redis-cli removes it and not the key after the newline', async () => {
  await withRedisClient((r) => r.mset('circuit_breaker:x\nimportant', '1', 'important', 'keep me', 'circuit_breaker:openai', '{"state": "open"}'))
  const o = await script('reset-circuit', ['--yes'], { RT_REDIS_ACCESS: 'exec' })
  assert.is(o.code, 0, explain(o))
  assert.is(await withRedisClient((r) => r.get('important')), 'keep me')
  assert.is(await withRedisClient((r) => r.exists('circuit_breaker:x\nimportant', 'circuit_breaker:openai')), 0)
  await withRedisClient((r) => r.del('important'))
})

test('validate reads a large log as a stream: its memory stays far below the log size', async () => {
  const checks = path.join(SUITE_ROOT, '.state', 'e2e-checks', 'trivial.yaml')
  mkdirSync(path.dirname(checks), { recursive: true })
  writeFileSync(checks, '- name: the users table answers\n  count: {users: SELECT count(*) FROM users}\n  relation: ">="\n  other: 0\n')
  const line = JSON.stringify({ timestamp: '2026-12-03T10:00:00Z', level: 'ERROR', name: 'app.workers', message: 'enrich failed for lead 123', exc_info: ['Traceback (most recent call last):', '  File "x.py", line 1', 'ValueError: bad'], pad: 'x'.repeat(1800) }) + '\n'
  const lines = Math.ceil((300 * 2 ** 20) / line.length)
  await new Promise<void>((resolve, reject) => {
    const w = createWriteStream(logFile)
    w.on('error', reject)
    let n = 0
    const more = () => {
      while (n < lines) {
        n++
        if (!w.write(line)) return void w.once('drain', more)
      }
      w.end(resolve)
    }
    more()
  })
  rmSync(recordFile, { force: true }) // no test start recorded: every error in the log counts as the test's
  try {
    let peakKb = 0
    let pid = 0
    const running = script('validate', ['--checks-file', checks], {}, { onSpawn: (p) => (pid = p), timeoutMs: 600_000 })
    while (pid === 0) await sleep(20)
    const watch = setInterval(() => {
      try {
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0))
      } catch {}
    }, 50)
    const o = await running.finally(() => clearInterval(watch))
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, new RegExp(`${lines} errors logged in the log \\(no test start recorded\\), 1 kinds`))
    assert.ok(peakKb > 0 && peakKb < 200 * 1024, `validate's peak memory on a 300 MB log: ${(peakKb / 1024).toFixed(0)} MB (under 200 MB)`)
  } finally {
    writeFileSync(logFile, '')
  }
})

test('another Docker engine (DOCKER_HOST=tcp://...) is refused with exit 8 until SAFE_HOSTS names it', async () => {
  const proxy = net.createServer((c) => {
    const u = net.connect('/var/run/docker.sock')
    c.pipe(u).pipe(c)
    c.on('error', () => u.destroy())
    u.on('error', () => c.destroy())
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  const endpoint = `tcp://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`
  try {
    const refused = await script('assess', [], { DOCKER_HOST: endpoint })
    assert.is(refused.code, 8, explain(refused))
    assert.match(refused.out, new RegExp(`the Docker engine at ${endpoint.replace(/[.]/g, '\\.')} \\(.*ID .*\\) is not this machine's local engine`))
    const named = await script('assess', [], { DOCKER_HOST: endpoint, RT_SAFE_HOSTS: endpoint })
    assert.is(named.code, 0, explain(named))
    const dry = await script('truncate-logs', ['--dry-run'], { DOCKER_HOST: endpoint, RT_SAFE_HOSTS: endpoint })
    assert.match(dry.out, new RegExp(`on the Docker engine .* at ${endpoint.replace(/[.]/g, '\\.')}`), 'the plan names the engine')
  } finally {
    proxy.close()
  }
})

test('ALLOW_PRODUCTION is judged against the database reached: naming the configured one does not open a foreign server', async () => {
  const name = 'rt-e2e-foreign-pg'
  await run(['docker', 'rm', '-f', name], { allowFailure: true })
  // The image carries the example's compose labels; this container belongs to no project of ours.
  await run(['docker', 'run', '-d', '--name', name, '--label', 'com.docker.compose.project=rt-e2e-foreign', '-p', `127.0.0.1:${FOREIGN_PORTS.postgres}:5432`, '-e', 'POSTGRES_USER=postgres', '-e', 'POSTGRES_PASSWORD=postgres', '-e', 'POSTGRES_DB=otherdb', 'reset-and-test-example-postgres:latest'])
  const foreign = `postgres://postgres:postgres@127.0.0.1:${FOREIGN_PORTS.postgres}/otherdb`
  try {
    const url = { RT_DATABASE_URL: foreign }
    // Over TCP: the first start's temporary server (no TCP) answers on the socket before otherdb exists.
    await until('the foreign PostgreSQL to answer', async () => (await run(['docker', 'exec', name, 'pg_isready', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'otherdb'], { allowFailure: true })).code === 0, 60_000)
    await run(['docker', 'exec', '-e', 'PGPASSWORD=postgres', name, 'psql', '-U', 'postgres', '-d', 'otherdb', '-c', 'CREATE TABLE users (n int); CREATE TABLE organizations (n int); CREATE TABLE campaigns (n int); CREATE TABLE leads (n int); CREATE TABLE jobs (n int); INSERT INTO users VALUES (1), (2)'])
    const users = async () => (await run(['docker', 'exec', '-e', 'PGPASSWORD=postgres', name, 'psql', '-At', '-U', 'postgres', '-d', 'otherdb', '-c', 'SELECT count(*) FROM users'])).stdout.trim()
    const wrong = await script('truncate-db', ['--yes'], { ...url, RT_ALLOW_PRODUCTION: config.database.name })
    assert.is(wrong.code, 8, explain(wrong))
    assert.match(wrong.out, /cannot show that database otherdb is this project's.*set ALLOW_PRODUCTION=otherdb \(the database reached\)/s)
    assert.is(await users(), '2', 'the foreign database keeps its rows')
    const right = await script('truncate-db', ['--yes'], { ...url, RT_ALLOW_PRODUCTION: 'otherdb' })
    assert.is(right.code, 0, explain(right))
    assert.match(right.out, /ALLOW_PRODUCTION=otherdb: going ahead although/)
    assert.is(await users(), '0', 'what ALLOW_PRODUCTION names, and only that, may be emptied')
  } finally {
    await run(['docker', 'rm', '-f', name], { allowFailure: true })
  }
})

test('a table appearing after the plan was confirmed: the re-check refuses before the workers are stopped (exit 8, workers running)', async () => {
  await seedDirty()
  const t = terminalSession('node --import tsx scripts/reset_and_run.mts --only truncate-db,flush-redis')
  await t.until(/Type "yes" to go ahead/)
  await db("CREATE TABLE late_notes (id serial PRIMARY KEY, organization_id varchar REFERENCES organizations(id)); INSERT INTO late_notes (organization_id) SELECT id FROM organizations LIMIT 1")
  try {
    t.type('yes\n')
    const o = await t.done()
    assert.is(o.code, 8, o.out)
    assert.match(o.out, /since the plan was made, public\.late_notes \(reached as foreign key/)
    const workers = (await (await compose()).instances()).filter((i) => i.service === 'worker')
    assert.ok(workers.every((i) => i.state === 'running'), `the workers were never stopped: ${workers.map((i) => i.state)}`)
  } finally {
    await db('DROP TABLE IF EXISTS late_notes')
  }
})

test('a second signal (SIGINT, then SIGTERM as CI cancels) exits at once with 143, and the record says where it stopped; SIGHUP alone is 129', async () => {
  for (const [signals, code] of [[['SIGINT', 'SIGTERM'], 143], [['SIGHUP'], 129]] as const) {
    let pid = 0
    const running = script('reset_and_run', ['--only', 'run-test,validate'], { RT_TEST_COMMAND: HANG }, { onSpawn: (p) => (pid = p) })
    try {
      await until('the test to run in the api container', async () => (await processesIn('api', HANG)) >= 1, 30_000)
    } finally {
      // The second signal comes while the first is still being handled (stopping the test in the container).
      for (const [i, s] of signals.entries()) {
        if (i) await sleep(20)
        process.kill(pid, s)
      }
    }
    const o = await running
    assert.is(o.code, code, `${signals.join(', ')}: ${explain(o)}`)
    assert.equal(RunRecord.read(recordFile)?.stopped, { phase: 'run-test', how: 'interrupted' }, signals.join(', '))
    // A run stopped at once by its second signal may leave the test in the container a moment longer.
    await until('the test to be gone from the api container', async () => (await processesIn('api', HANG)) === 0, 10_000).catch(() => {})
  }
})

test('the lock and the record are keyed by target kind, project and place; two starts at the same instant: exactly one runs', async () => {
  assert.match(path.basename(recordFile), /^compose-reset-and-test-example-[0-9a-f]{8}\.last-run\.json$/)
  for (let round = 0; round < 3; round++) {
    const both = await Promise.all([0, 1].map(() => script('run-test', ['--test-timeout', '3'], { RT_TEST_COMMAND: HANG })))
    const refused = both.filter((o) => o.code === 8)
    assert.is(refused.length, 1, `round ${round}: ${both.map((o) => o.code)}`)
    assert.match(refused[0].out, /another run is in progress/)
  }
})

test('redis-cli error replies fail: an ACL user without FLUSHALL gets exit 5 naming NOPERM, and every key stays', async () => {
  await seedDirty()
  const password = 'Nperm-e2e-3x7q'
  await withRedisClient((r) => r.call('ACL', 'SETUSER', 'limited', 'on', `>${password}`, '~*', '&*', '+@all', '-@dangerous'))
  try {
    const keys = await dbsize()
    const o = await script('flush-redis', ['--yes'], { RT_REDIS_USERNAME: 'limited', RT_REDIS_PASSWORD: password, RT_REDIS_ACCESS: 'exec', RT_WORKER_SERVICES: '' }, { secrets: { values: [...config.secrets.values, password], words: config.secrets.words } })
    assert.is(o.code, 5, explain(o))
    assert.match(o.out, /NOPERM/)
    assert.is(await dbsize(), keys)
  } finally {
    await withRedisClient((r) => r.call('ACL', 'DELUSER', 'limited'))
  }
})

test('a backup goes back only to the stack it came from: another stack or Redis server is refused with exit 8', async () => {
  await seedDirty()
  const o = await script('truncate-db', ['--yes', '--backup'])
  assert.is(o.code, 0, explain(o))
  const dir = /rows of 5 tables saved to (\S+)\/tables /.exec(o.out)![1]
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'))
  assert.is(manifest.stack, stateKey(config))
  assert.match(manifest.system ?? '', /^\d+$/, "the database server's identity is recorded")
  const before = await writeStats()
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, stack: 'compose-fastapi-k8-proto-0000beef' }))
  const foreign = await script('restore', ['--yes', '--dir', dir])
  assert.is(foreign.code, 8, explain(foreign))
  assert.match(foreign.out, /does not belong here: it was taken from compose-fastapi-k8-proto-0000beef, and this is compose-reset-and-test-example-/)
  assert.is(await writeStats(), before, 'nothing restored')
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest))
  const home = await script('restore', ['--yes', '--dir', dir])
  assert.is(home.code, 0, explain(home))
  assert.ok((await counts()).jobs > 0)
})

test.run()
