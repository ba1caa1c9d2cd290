import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { checkTableName, ConfigError, flagsToKeys, KEYS, loadConfig, mask, SUITE_ROOT } from '../../lib/config.ts'

function root(files: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'))
  mkdirSync(path.join(dir, 'example'))
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text)
  return dir
}

function problems(env: Record<string, string>, files?: Record<string, string>): string[] {
  try {
    loadConfig({ env, root: root(files) })
  } catch (e) {
    assert.instance(e, ConfigError)
    return (e as ConfigError).problems
  }
  throw new Error('expected a ConfigError')
}

test('defaults describe the bundled example stack', () => {
  const dir = root()
  const c = loadConfig({ env: {}, root: dir })
  assert.is(c.project, 'fastapi-k8-proto')
  assert.is(c.appDir, path.join(dir, 'example'))
  assert.is(c.composeFile, path.join(dir, 'example', 'docker-compose.yml'))
  assert.equal(c.tables, ['jobs', 'leads', 'campaigns', 'organizations', 'users'])
  assert.is(c.restartMode, 'restart')
  assert.is(c.readyTimeoutMs, 120_000)
  assert.is(c.testTimeoutMs, 1_200_000)
  assert.is(c.redisMode, 'flushall')
  assert.is(c.logFile, path.join(dir, 'example', 'logs', 'combined.log'))
  assert.equal(
    c.expectations.map((e) => [e.key, e.op, e.value]),
    [
      ['EXPECT_CAMPAIGNS', '=', 10],
      ['EXPECT_LEADS', '=', 200],
      ['EXPECT_FETCH_JOBS_COMPLETED', '=', 10],
      ['EXPECT_ENRICH_JOBS_COMPLETED', '=', 200],
      ['EXPECT_FAILED_JOBS', '=', 0],
      ['EXPECT_PAUSED_CAMPAIGNS', '=', 0],
      ['EXPECT_USERS_MIN', '>=', 1],
      ['EXPECT_ORGANIZATIONS_MIN', '>=', 1],
    ],
  )
})

test("the app's .env gives the database credentials; the suite's .env and the environment win in that order", () => {
  const dir = root({ '.env': 'POSTGRES_DB=from_suite\nRESTART_MODE=recreate\n' })
  writeFileSync(path.join(dir, 'example', '.env'), 'POSTGRES_USER=app\nPOSTGRES_PASSWORD=s3cret\nPOSTGRES_DB=from_app\n')
  const c = loadConfig({ env: { RESTART_MODE: 'rebuild' }, root: dir })
  assert.equal(c.postgres, { user: 'app', password: 's3cret', db: 'from_suite' })
  assert.is(c.restartMode, 'rebuild')
  assert.equal(c.secrets, ['s3cret'])
  const flagged = loadConfig({ env: { RESTART_MODE: 'rebuild' }, flags: { RESTART_MODE: 'restart' }, root: dir })
  assert.is(flagged.restartMode, 'restart')
})

test('a bad configuration lists every problem at once', () => {
  const found = problems({
    RESTART_MODE: 'reboot',
    READY_TIMEOUT: 'soon',
    TEST_TIMEOUT: '-5',
    RESET_TABLES: 'jobs,"leads";drop table users,alembic_version',
    REDIS_MODE: 'patterns',
    REDIS_PATTERNS: '*',
    EXPECT_LEADS: '2.5',
  })
  assert.is(found.length, 7, found.join('\n'))
  assert.match(found.join('\n'), /RESTART_MODE="reboot" is not one of restart, recreate, rebuild/)
  assert.match(found.join('\n'), /READY_TIMEOUT="soon" must be a positive number/)
  assert.match(found.join('\n'), /TEST_TIMEOUT="-5"/)
  assert.match(found.join('\n'), /malformed/)
  assert.match(found.join('\n'), /alembic_version is never truncated/)
  assert.match(found.join('\n'), /matches every key/)
  assert.match(found.join('\n'), /EXPECT_LEADS="2.5" must be a whole number/)
})

test('an empty table list is refused', () => {
  assert.match(problems({ RESET_TABLES: ' , ' }).join(), /RESET_TABLES is empty/)
})

test('patterns mode needs patterns', () => {
  assert.match(problems({ REDIS_MODE: 'patterns' }).join(), /needs REDIS_PATTERNS/)
})

test('table names: identifiers and schema.identifier only', () => {
  assert.is(checkTableName('jobs'), null)
  assert.is(checkTableName('public.jobs'), null)
  for (const bad of ['jobs;', 'a b', '"jobs"', "jo'bs", 'a.b.c', '1jobs', '', 'public.alembic_version', 'ALEMBIC_VERSION']) {
    assert.ok(checkTableName(bad), bad)
  }
})

test('flags map to configuration keys; unknown flags are reported', () => {
  const { values, unknown } = flagsToKeys({ _: [], 'restart-mode': 'recreate', 'expect-leads': 20, bogus: true })
  assert.equal(values, { RESTART_MODE: 'recreate', EXPECT_LEADS: '20' })
  assert.equal(unknown, ['bogus'])
})

test('an empty expectation is not checked', () => {
  const c = loadConfig({ env: { EXPECT_LEADS: '' }, root: root() })
  assert.not.ok(c.expectations.some((e) => e.key === 'EXPECT_LEADS'))
})

test('mask hides secrets and URL passwords', () => {
  assert.is(mask('psql -W hunter2 postgres://u:pw@h/db', ['hunter2']), 'psql -W *** postgres://u:***@h/db')
})

test('.env.example and the README document every key', () => {
  const example = readFileSync(path.join(SUITE_ROOT, '.env.example'), 'utf8')
  const readme = readFileSync(path.join(SUITE_ROOT, 'README.md'), 'utf8')
  for (const key of Object.keys(KEYS)) {
    assert.ok(example.includes(`${key}=`), `${key} in .env.example`)
    assert.ok(readme.includes(`\`${key}\``), `${key} in README.md`)
  }
})

test.run()
