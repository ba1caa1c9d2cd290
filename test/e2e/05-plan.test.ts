// Destroy only what was named, on the stack that was meant: the plan names every table CASCADE
// would reach and refuses those not named; the log by its real path; containers, servers and URLs
// that are not this project's are refused; every source of production signals counts.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { RefusedError } from '../../lib/util/errors.ts'
import { PROJECT_LABEL } from '../../lib/targets/compose.ts'
import { FOREIGN_PORTS } from './ports.ts'
import { config, counts, db, EMPTY, exampleCopy, explain, logFile, projectContainers, run, script, seedDirty, sh, stackChanged, stackUp, startedAt, targetOf, withRedisClient, writeStats, need, until } from './stack.ts'

test.before(() => need('up'))

const AUDIT = `CREATE TABLE audit_notes (id serial PRIMARY KEY, organization_id varchar REFERENCES organizations(id), note text);
  INSERT INTO organizations (id, name) VALUES ('o-audit', 'Audited');
  INSERT INTO audit_notes (organization_id, note) VALUES ('o-audit', 'first'), ('o-audit', 'second');`

test('a table a foreign key ties to the reset tables, not named: refused with its name and key, rows intact; named, it is emptied; --backup and restore bring it back', async () => {
  await db('DROP TABLE IF EXISTS audit_notes')
  await seedDirty()
  await db(AUDIT)
  try {
    const before = await writeStats()
    const refused = await script('reset_and_run', ['--yes', '--only', 'truncate-db'])
    assert.is(refused.code, 8, explain(refused))
    assert.match(refused.out, /would also empty a table the configuration does not name: public\.audit_notes \(2 rows\), reached as foreign key audit_notes\(organization_id\) -> organizations \(audit_notes_organization_id_fkey\)/)
    assert.match(refused.out, /name it in RESET_TABLES or in CASCADE_TABLES \(e\.g\. CASCADE_TABLES=audit_notes\)/)
    assert.is(await writeStats(), before, 'nothing truncated')
    assert.equal((await db<{ n: number }>('SELECT count(*)::int AS n FROM audit_notes'))[0].n, 2)

    const saved = await db<{ note: string }>('SELECT note FROM audit_notes ORDER BY id')
    const rows = await counts()
    const allowed = await script('reset_and_run', ['--yes', '--only', 'truncate-db', '--backup', '--cascade-tables', 'audit_notes'])
    assert.is(allowed.code, 0, explain(allowed))
    assert.match(allowed.out, /public\.audit_notes: 2 rows \(reached as foreign key audit_notes\(organization_id\) -> organizations/)
    assert.match(allowed.out, /one TRUNCATE of 6 tables/)
    assert.equal(await counts(), EMPTY)
    assert.equal((await db<{ n: number }>('SELECT count(*)::int AS n FROM audit_notes'))[0].n, 0)
    const [{ next }] = await db<{ next: number }>("SELECT nextval('audit_notes_id_seq')::int AS next")
    assert.is(next, 1, 'its identity restarted too')
    await db("SELECT setval('audit_notes_id_seq', 1, false)")

    const dir = /rows of 6 tables saved to (\S+)\/tables /.exec(allowed.out)![1]
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'))
    assert.equal(manifest.tables, ['jobs', 'leads', 'campaigns', 'organizations', 'users', 'public.audit_notes'])
    const restored = await script('restore', ['--yes', '--dir', dir])
    assert.is(restored.code, 0, explain(restored))
    assert.equal(await db<{ note: string }>('SELECT note FROM audit_notes ORDER BY id'), saved)
    assert.equal(await counts(), rows)
    const [{ again }] = await db<{ again: number }>("SELECT nextval('audit_notes_id_seq')::int AS again")
    assert.is(again, 3, 'the sequence is where it was')
  } finally {
    await db("DROP TABLE IF EXISTS audit_notes; DELETE FROM organizations WHERE id = 'o-audit'")
  }
})

test('a log file that is a symlink: the plan and the dry run name the file that would be emptied', async () => {
  const outside = path.join(SUITE_ROOT, '.state', 'e2e-outside', 'real.log')
  mkdirSync(path.dirname(outside), { recursive: true })
  writeFileSync(outside, 'a line that belongs elsewhere\n')
  const link = path.join(path.dirname(logFile), 'linked.log')
  rmSync(link, { force: true })
  symlinkSync(outside, link)
  try {
    const dry = await script('truncate-logs', ['--dry-run'], { RT_LOG_FILE: link })
    assert.is(dry.code, 0, explain(dry))
    assert.ok(dry.out.includes(`log file ${outside} (configured as ${link}): 30 bytes emptied`), dry.out)
    assert.ok(dry.out.includes(`would truncate ${outside}`), dry.out)
    const refused = await script('truncate-logs', [], { RT_LOG_FILE: link })
    assert.is(refused.code, 8)
    assert.ok(refused.out.includes(`log file ${outside} (configured as ${link})`))
    assert.is(readFileSync(outside, 'utf8'), 'a line that belongs elsewhere\n')
  } finally {
    rmSync(link, { force: true })
  }
})

test("a copy of the example started from another directory under the example's project name: refused (exit 8) naming both directories, and left as it was", async () => {
  await seedDirty()
  const rows = await counts()
  const example = targetOf(config)
  stackChanged()
  // The example's containers go (its volumes and network stay: Docker 20.10 can keep a stale
  // endpoint on a network for good, and then `down` cannot remove it).
  await example.compose(['rm', '--stop', '--force'], { mutates: true, timeoutMs: 300_000 })
  stackChanged()
  const copy = exampleCopy('impostor')
  try {
    const up = await copy.compose(['up', '-d', 'postgres', 'redis'])
    assert.is(up.code, 0, up.stderr)
    const ids = await projectContainers(config.project)
    const before = await startedAt(ids)
    const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1'])
    assert.is(o.code, 2, explain(o)) // make's own status for a failed recipe; the script's code follows
    assert.match(o.out, /total [\d.]+ s, exit code 8\n/)
    assert.match(o.out, /make(\[\d+\])?: \*\*\* \[Makefile:\d+: reset-and-test\] Error 8/) // on stderr; "make[N]:" under another make (CI)
    assert.ok(o.out.includes(`were created from ${copy.dir}, not from ${path.join(SUITE_ROOT, 'example')}`), o.out)
    assert.equal(await startedAt(await projectContainers(config.project)), before, 'not restarted, not recreated')
    // The end-to-end tier itself refuses to bring the example up over it
    await example.instances().then(
      () => assert.unreachable('the listing should refuse'),
      (e) => assert.instance(e, RefusedError),
    )
    assert.equal(await counts(copy.config()), rows, 'its data untouched (the volume is the same name: the same data)')
  } finally {
    await copy.compose(['rm', '--stop', '--force'])
    await stackUp()
  }
})

test('REDIS_URL pointing at a Redis outside the project: refused, its keys intact', async () => {
  const name = 'rt-e2e-foreign-redis'
  await run(['docker', 'rm', '-f', name], { allowFailure: true })
  // Another Redis with the same password: only its address can tell that it is not the project's.
  const auth = ['-e', `REDISCLI_AUTH=${config.redis.password}`]
  // Compose v2 labels the images it builds with their project: the container gets a project of its own.
  await run(['docker', 'run', '-d', '--name', name, '--label', `${PROJECT_LABEL}=rt-e2e-foreign`, '-e', `REDIS_PASSWORD=${config.redis.password}`, '-p', `127.0.0.1:${FOREIGN_PORTS.redis}:6379`, 'reset-and-test-example-redis:latest'])
  try {
    await until('the foreign Redis to take two keys', async () => (await run(['docker', 'exec', ...auth, name, 'redis-cli', 'MSET', 'foreign:a', '1', 'foreign:b', '2'], { allowFailure: true })).code === 0, 15_000)
    const o = await script('flush-redis', ['--yes'], { RT_REDIS_URL: `redis://127.0.0.1:${FOREIGN_PORTS.redis}/0` })
    assert.is(o.code, 8, explain(o))
    assert.match(o.out, /cannot show that the Redis server \(db 0\) is this project's: the server answering at 127\.0\.0\.1 has address [\d.]+, which is not an address of redis/, explain(o))
    assert.is((await run(['docker', 'exec', ...auth, name, 'redis-cli', 'DBSIZE'])).stdout.trim(), '2')
  } finally {
    await run(['docker', 'rm', '-f', name], { allowFailure: true })
  }
})

test('DATABASE_URL is judged by the host its client would connect to: ?host= wins over the host before it', async () => {
  const before = await writeStats()
  const sneaky = await script('truncate-db', ['--yes'], { RT_DATABASE_URL: 'postgres://postgres:postgres@localhost:25432/fastapi_k8_proto?host=db.prod.example.com' })
  assert.is(sneaky.code, 8, explain(sneaky))
  assert.match(sneaky.out, /DATABASE_URL \(host db\.prod\.example\.com\)/)
  assert.is(await writeStats(), before)
  const plain = await script('truncate-db', ['--dry-run'], { RT_DATABASE_URL: 'postgres://postgres:postgres@localhost:25432/fastapi_k8_proto' })
  assert.is(plain.code, 0, explain(plain))
  assert.match(plain.out, /database fastapi_k8_proto on reset-and-test-example-postgres-1 \([\d.]+\), an instance of postgres/)
})

test("NODE_ENV=production in the app's .env is refused although the shell says development", async () => {
  const copy = exampleCopy('production-env', { env: { NODE_ENV: 'production' } })
  try {
    const before = await writeStats()
    const o = await script('truncate-db', ['--yes'], { ...copy.env, NODE_ENV: 'development' })
    assert.is(o.code, 8, explain(o))
    assert.ok(o.out.includes(`NODE_ENV=production in ${path.join(copy.dir, '.env')}`), o.out)
    assert.is(await writeStats(), before)
  } finally {
    await copy.remove() // only its files: it shares the example's project name
  }
})

test('--backup then restore bring back every row byte for byte: every column kind, identity, generated, no key, duplicates', async () => {
  await db(`DROP TABLE IF EXISTS all_kinds; DROP TYPE IF EXISTS mood; DROP DOMAIN IF EXISTS positive;
    CREATE TYPE mood AS ENUM ('calm', 'busy');
    CREATE DOMAIN positive AS int CHECK (VALUE > 0);
    CREATE TABLE all_kinds (
      id int GENERATED ALWAYS AS IDENTITY, tags text[], doc jsonb, raw bytea, at timestamptz, how mood,
      n positive, amount numeric(60, 30), note text, lower_note text GENERATED ALWAYS AS (lower(note)) STORED);
    INSERT INTO all_kinds (tags, doc, raw, at, how, n, amount, note) VALUES
      ('{a,"b c",NULL}', '{"k": [1, 2.50, null], "é": "ü"}', '\\x00ff10', '2026-12-04 10:11:12.123456+00', 'busy', 7,
       123456789012345678901234567890.123456789012345678901234567891, 'Hello'),
      ('{a,"b c",NULL}', '{"k": [1, 2.50, null], "é": "ü"}', '\\x00ff10', '2026-12-04 10:11:12.123456+00', 'busy', 7,
       123456789012345678901234567890.123456789012345678901234567891, 'Hello'),
      (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    ALTER TABLE organizations ADD COLUMN name_lc text GENERATED ALWAYS AS (lower(name)) STORED`)
  const rows = () =>
    db<{ rows: string }>(`SELECT (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM all_kinds t) ||
      (SELECT coalesce(string_agg(o::text, '|' ORDER BY o::text), '') FROM organizations o) AS rows`)
  try {
    await seedDirty()
    const before = await rows()
    const tables = ['--reset-tables', 'all_kinds,jobs,leads,campaigns,organizations,users']
    const o = await script('truncate-db', ['--yes', '--backup', ...tables])
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /backup: \d+ rows of 6 tables saved to \S+ in [\d.]+ s \(one snapshot\)/)
    assert.equal(await db<{ n: number }>('SELECT count(*)::int AS n FROM all_kinds'), [{ n: 0 }])
    const back = await script('restore', ['--yes', ...tables])
    assert.is(back.code, 0, explain(back))
    assert.equal(await rows(), before, 'every row of every table byte for byte, the generated columns recomputed')
    const [{ next }] = await db<{ next: number }>("INSERT INTO all_kinds (note) VALUES ('x') RETURNING id AS next")
    assert.is(next, 4, 'the identity continues after the restored rows')
  } finally {
    await db('DROP TABLE IF EXISTS all_kinds; DROP TYPE IF EXISTS mood; DROP DOMAIN IF EXISTS positive')
    await db('ALTER TABLE organizations DROP COLUMN IF EXISTS name_lc')
  }
})

test('a checks file whose count writes (setval) is refused by PostgreSQL, named by its line (exit 9), the sequence unchanged', async () => {
  const file = path.join(SUITE_ROOT, '.state', 'e2e-writing-checks.yaml')
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, ['- name: sequence moved', "  count: {n: \"SELECT setval('jobs_id_seq', 4242)\"}", '  relation: ">="', '  other: 0', ''].join('\n'))
  const seq = () => db<{ v: string }>('SELECT last_value::text AS v FROM jobs_id_seq')
  try {
    const before = await seq()
    const o = await script('reset_and_run', ['--yes', '--skip', 'run-test', '--checks-file', file])
    assert.is(o.code, 9, explain(o))
    assert.match(o.out, /e2e-writing-checks\.yaml:2: count 'n' tried to write \(PostgreSQL refused: cannot execute setval\(\) in a read-only transaction\)/)
    assert.equal(await seq(), before, 'the sequence did not move')
  } finally {
    rmSync(file, { force: true })
  }
})

test.run()
