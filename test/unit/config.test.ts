// The suite's configuration: its own settings from flags, RT_ variables and its .env only; the
// app's credentials as Compose gives them to its containers; every problem at once.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { checkTableName, ConfigError, databaseUrlHost, envExample, KEYS, loadConfig, redisUrlParts, SUITE_ROOT } from '../../lib/config/config.ts'
import { parseArgs } from '../../lib/run/args.ts'

const COMPOSE = `services:
  postgres:
    image: x
    env_file: .env
  api:
    image: x
    env_file: .env
    environment:
      DATABASE_URL: postgresql+asyncpg://\${POSTGRES_USER}:\${POSTGRES_PASSWORD}@postgres/\${POSTGRES_DB}
  worker:
    image: x
`

/** A suite root with an app directory "example" holding a compose file and the given files. */
function root(files: Record<string, string> = {}, app: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'))
  mkdirSync(path.join(dir, 'example'))
  writeFileSync(path.join(dir, 'example', 'docker-compose.yml'), COMPOSE)
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text)
  for (const [f, text] of Object.entries({ '.env': '', ...app })) writeFileSync(path.join(dir, 'example', f), text)
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

test('defaults: the app directory, the project Compose would name, the real app\'s tables, only the campaign count exact', () => {
  const dir = root()
  const c = loadConfig({ env: {}, root: dir })
  assert.is(c.appDir, path.join(dir, 'example'))
  assert.is(c.project, 'example', 'no COMPOSE_PROJECT_NAME anywhere: the directory name')
  assert.equal(c.composeFiles, [path.join(dir, 'example', 'docker-compose.yml')])
  assert.equal(c.database.tables, ['jobs', 'leads', 'campaigns', 'organizations', 'users'])
  assert.equal(c.workerServices, ['worker'])
  assert.is(c.restart.mode, 'in-place')
  assert.is(c.test.timeoutMs, 1_200_000)
  assert.is(c.logFile, path.join(dir, 'example', 'logs', 'combined.log'))
  assert.equal([c.values.EXPECT_CAMPAIGNS, c.values.CAMPAIGN_FINISHED_STATES, path.relative(dir, c.test.checksFile)], ['10', 'RUNNING,COMPLETED', 'checks/fastapi-k8-proto.yaml'])
  assert.ok(c.test.passPattern!.test('🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING'))
  assert.ok(c.test.failPattern!.test('🛑 TEST RESULT: SERVICE FAILURE DETECTED'))
  assert.ok(c.test.failPattern!.test('❌ TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE'))
})

test("the app's credentials come from its compose model: a # glued to a password is part of it, as for Compose", () => {
  const c = loadConfig({ env: {}, root: root({}, { '.env': 'POSTGRES_USER=postgres\nPOSTGRES_PASSWORD=p@ss:w/rd#1%\nPOSTGRES_DB=fastapi_k8_proto\nREDIS_PASSWORD="r3d #is"\nREDIS_DB=2\n' }) })
  assert.equal([c.database.user, c.database.password, c.database.name], ['postgres', 'p@ss:w/rd#1%', 'fastapi_k8_proto'])
  assert.equal([c.redis.username, c.redis.password], ['', 'r3d #is'])
  assert.is(c.redis.db, 2)
  assert.equal(c.secrets.values, ['p@ss:w/rd#1%', 'r3d #is'])
  assert.ok(c.secrets.words.includes('postgres') && c.secrets.words.includes('example'), 'service, user and project names stay readable')
  assert.match(c.sources.POSTGRES_PASSWORD!, /POSTGRES_PASSWORD of the postgres service/)
})

test("variables exported for other tools never steer the suite; the RT_ prefix does, and says so", () => {
  const dir = root({}, { '.env': 'DATABASE_URL=postgresql+asyncpg://u:p@db/app\nSERVICES=web\n' })
  const c = loadConfig({ env: { SERVICES: 'nothing', LOG_FILE: '/etc/passwd', APP_DIR: '/', DATABASE_URL: 'postgres://x@prod/db', RESTART_MODE: 'rebuild' }, root: dir })
  assert.equal(c.restart.services, [])
  assert.is(c.logFile, path.join(dir, 'example', 'logs', 'combined.log'))
  assert.is(c.appDir, path.join(dir, 'example'))
  assert.is(c.database.url, '', "the app's asyncpg DATABASE_URL is the app's, not the suite's")
  assert.is(c.restart.mode, 'in-place')
  assert.equal(c.safety.ignored, ['APP_DIR', 'SERVICES', 'LOG_FILE', 'DATABASE_URL', 'RESTART_MODE'])
  const own = loadConfig({ env: { RT_SERVICES: 'api', RT_RESTART_MODE: 'recreate' }, root: dir })
  assert.equal(own.restart.services, ['api'])
  assert.is(own.sources.SERVICES, 'RT_SERVICES in the environment')
})

test("the suite's .env and flags set the suite's keys, flags strongest", () => {
  const dir = root({ '.env': 'RESTART_MODE=recreate\nPOSTGRES_DB=from_suite\n' }, { '.env': 'POSTGRES_DB=from_app\n' })
  const c = loadConfig({ env: { RT_RESTART_MODE: 'rebuild' }, root: dir })
  assert.is(c.restart.mode, 'rebuild')
  assert.is(c.database.name, 'from_suite')
  assert.is(loadConfig({ env: { RT_RESTART_MODE: 'rebuild' }, flags: { RESTART_MODE: 'restart' }, root: dir }).restart.mode, 'restart')
})

test('a bad configuration lists every problem at once, an unknown RT_ variable among them', () => {
  const found = problems({
    RT_RESTART_MODE: 'reboot',
    RT_READY_TIMEOUT: 'soon',
    RT_TEST_TIMEOUT: '-5',
    RT_RESET_TABLES: 'jobs,"leads";drop table users,alembic_version',
    RT_REDIS_MODE: 'patterns',
    RT_REDIS_PATTERNS: '*',
    RT_EXPECT_LEADS: '2.5',
    RT_RESTAT_MODE: 'x',
    RT_TEST_PASS_PATTERN: '(unclosed',
  })
  const text = found.join('\n')
  assert.is(found.length, 9, text)
  assert.match(text, /RESTART_MODE="reboot" is not one of restart, in-place, recreate, rebuild/)
  assert.match(text, /READY_TIMEOUT="soon" must be a positive number/)
  assert.match(text, /TEST_TIMEOUT="-5"/)
  assert.match(text, /malformed/)
  assert.match(text, /alembic_version is never truncated/)
  assert.match(text, /matches every key/)
  assert.match(text, /EXPECT_LEADS="2.5" must be a whole number/)
  assert.match(text, /RT_RESTAT_MODE in the environment is not a setting of the suite/)
  assert.match(text, /TEST_PASS_PATTERN="\(unclosed" is not a regular expression/)
})

test('an empty table list and patterns mode without patterns are refused', () => {
  assert.match(problems({ RT_RESET_TABLES: ' , ' }).join(), /RESET_TABLES is empty/)
  assert.match(problems({ RT_REDIS_MODE: 'patterns' }).join(), /needs REDIS_PATTERNS/)
})

test('Kubernetes: a context and a namespace both named, or neither (the bundled local cluster); one alone is refused', () => {
  assert.match(problems({ RT_TARGET: 'kubernetes', RT_KUBE_CONTEXT: 'mine' }).join('\n'), /needs KUBE_NAMESPACE/)
  assert.match(problems({ RT_TARGET: 'kubernetes', RT_KUBE_NAMESPACE: 'app' }).join('\n'), /needs KUBE_CONTEXT/)
  const bundled = loadConfig({ env: { RT_TARGET: 'kubernetes', K8S_STATE_DIR: '/tmp/k8s-state' } })
  assert.equal(bundled.kube, { context: 'reset-and-test-local', namespace: 'reset-and-test-example', kubeconfig: '/tmp/k8s-state/kubeconfig', selector: bundled.kube.selector })
  assert.is(bundled.sources.KUBE_CONTEXT, 'the bundled local cluster (no KUBE_CONTEXT set)')
})

test('URLs are read as their clients read them: ?host= wins for pg, the query fills what a Redis URL lacks', () => {
  assert.is(databaseUrlHost('postgres://u:p@localhost:5432/db?host=db.prod.example.com'), 'db.prod.example.com')
  assert.is(databaseUrlHost('postgresql://u@127.0.0.1/db'), '127.0.0.1')
  assert.equal(redisUrlParts('redis://:pa%23ss@localhost:6379/3'), { host: 'localhost', db: 3, username: '', password: 'pa#ss' })
  assert.is(redisUrlParts('redis:///2?host=other').host, 'other')
})

test('table names: identifiers and schema.identifier only', () => {
  assert.is(checkTableName('jobs'), null)
  assert.is(checkTableName('public.jobs'), null)
  for (const bad of ['jobs;', 'a b', '"jobs"', "jo'bs", 'a.b.c', '1jobs', '', 'public.alembic_version', 'ALEMBIC_VERSION']) assert.ok(checkTableName(bad), bad)
})

test('flags map to configuration keys; unknown flags are reported', () => {
  const { settings, problems } = parseArgs(['--restart-mode', 'recreate', '--expect-leads', '20', '--bogus'], [])
  assert.equal(settings, { RESTART_MODE: 'recreate', EXPECT_LEADS: '20' })
  assert.equal(problems, ['unknown option: --bogus (see --help)'])
})

test('.env.example and docs/configuration.md document every key', () => {
  const example = readFileSync(path.join(SUITE_ROOT, '.env.example'), 'utf8')
  assert.is(example, envExample(), ".env.example is written from lib/config/settings.ts: node --import tsx -e \"import('./lib/config/settings.ts').then(m => require('fs').writeFileSync('.env.example', m.envExample()))\"")
  const readme = readFileSync(path.join(SUITE_ROOT, 'docs', 'configuration.md'), 'utf8')
  for (const key of Object.keys(KEYS)) {
    assert.ok(example.includes(`${key}=`), `${key} in .env.example`)
    assert.ok(readme.includes(`\`${key}\``), `${key} in docs/configuration.md`)
  }
})

test.run()
