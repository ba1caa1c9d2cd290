// The app's configuration read as Compose reads it, on a copy of the example that is a stack of
// its own: a password with #, $, a quote and a space; no COMPOSE_PROJECT_NAME anywhere (the
// directory's name); an override file kept through restart, recreate and rebuild; a COMPOSE_FILE
// list; the app's asyncpg DATABASE_URL. And variables exported for other tools change nothing.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT, type Config } from '../../lib/config/config.ts'
import { CONFIG_COPY_PORTS as PORTS } from './ports.ts'
import { counts, db, EMPTY, EXACT, exampleCopy, explain, GOOD_RUN, logFile, logSize, run, script, seedDirty, stackUp, startedAt, compose, type Copy } from './stack.ts'

// Written as Compose allows: single quotes keep everything literal.
const PASSWORD = `p#ss $word "q" x`
const OVERRIDE = `services:
  api:
    environment:
      OVERRIDE_MARKER: from-the-override
    ports:
      - "${PORTS.overrideApi}:8000"
  worker:
    deploy:
      replicas: 2
`
const EXTRA = `services:
  api:
    environment:
      EXTRA_MARKER: from-the-second-file
  worker:
    deploy:
      replicas: 2
`

let copy: Copy
let c: Config

test.before(async () => {
  await stackUp()
  copy = exampleCopy('config', {
    dirName: 'Special Pass.App',
    env: {
      COMPOSE_PROJECT_NAME: null,
      POSTGRES_PASSWORD: `'${PASSWORD}'`,
      POSTGRES_HOST_PORT: String(PORTS.postgres),
      REDIS_HOST_PORT: String(PORTS.redis),
      API_HOST_PORT: String(PORTS.api),
      FLOWER_HOST_PORT: String(PORTS.flower),
      DATABASE_URL: 'postgresql+asyncpg://postgres:${POSTGRES_PASSWORD}@postgres:5432/fastapi_k8_proto',
    },
    files: { 'docker-compose.override.yml': OVERRIDE, 'extra.yml': EXTRA },
  })
  c = copy.config()
  const up = await copy.compose(['up', '-d'])
  if (up.code !== 0) throw new Error(`the copy did not come up: ${up.stderr}`)
})

test.after(async () => {
  await copy?.remove()
})

const inCopy = (name: string, args: string[], env: Record<string, string> = {}) => script(name, args, { ...copy.env, ...env }, { secrets: c.secrets })

/** The api container's environment and published ports, from docker inspect. */
async function apiShape(env?: Record<string, string>) {
  const ids = (await run(['docker', 'ps', '-q', '--filter', `label=com.docker.compose.project=${c.project}`, '--filter', 'label=com.docker.compose.service=api'], { env })).stdout.split('\n').filter(Boolean)
  const [info] = JSON.parse((await run(['docker', 'inspect', ids[0]])).stdout)
  return { env: (info.Config.Env as string[]).filter((e) => /_MARKER=/.test(e)).sort(), ports: Object.keys(info.HostConfig.PortBindings ?? {}).flatMap((p) => info.HostConfig.PortBindings[p].map((b: { HostPort: string }) => b.HostPort)).sort() }
}

test('the copy is read as Compose reads it: the password whole, the directory as the project name, both compose files', () => {
  assert.is(c.database.password, PASSWORD)
  assert.is(c.project, 'specialpassapp')
  assert.match(c.sources.project!, /directory name/)
  assert.equal(c.composeFiles.map((f) => path.basename(f)), ['docker-compose.yml', 'docker-compose.override.yml'])
  assert.is(c.database.url, '', "the app's asyncpg DATABASE_URL is the app's, not the suite's")
})

test('the main job on a password with #, $, a quote and a space, and an asyncpg DATABASE_URL in the app\'s .env: exit 0, the password in no output', async () => {
  const o = await inCopy('reset_and_run', ['--yes', '--expect-leads', '87', '--expect-jobs', '97'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /compose project specialpassapp \(the directory name/)
  assert.match(o.out, /compose files .*docker-compose\.yml, .*docker-compose\.override\.yml \(default names\)/)
  assert.equal(await counts(c), GOOD_RUN)
  for (const f of ['docker-compose.yml']) assert.ok(existsSync(path.join(copy.dir, f)))
})

test('the override file (an environment variable and a port for api) is kept through restart, recreate and rebuild', async () => {
  const shape = { env: ['OVERRIDE_MARKER=from-the-override'], ports: [String(PORTS.api), String(PORTS.overrideApi)] }
  assert.equal(await apiShape(), shape, 'as Compose made it')
  for (const mode of ['restart', 'recreate', 'rebuild']) {
    const o = await inCopy('restart', ['--yes', '--restart-mode', mode])
    assert.is(o.code, 0, `${mode}: ${explain(o)}`)
    assert.equal(await apiShape(), shape, mode)
  }
})

test('a COMPOSE_FILE list of two files, as Compose takes it from the shell, is what every command uses', async () => {
  const o = await inCopy('restart', ['--yes', '--restart-mode', 'recreate'], { COMPOSE_FILE: 'docker-compose.yml:extra.yml' })
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /compose files .*docker-compose\.yml, .*extra\.yml \(COMPOSE_FILE in the environment\)/)
  assert.equal((await apiShape()).env, ['EXTRA_MARKER=from-the-second-file'])
  const back = await inCopy('restart', ['--yes', '--restart-mode', 'recreate'])
  assert.is(back.code, 0, explain(back))
  assert.equal((await apiShape()).env, ['OVERRIDE_MARKER=from-the-override'])
})

test('a file changed after up (Compose now sees postgres, redis and worker as drifted): the reset recreates none of them, the held workers come back as they were', async () => {
  const drift = path.join(copy.dir, 'drift.yml')
  writeFileSync(drift, ['postgres', 'redis', 'worker'].map((s) => `  ${s}:\n    environment:\n      DRIFT_MARKER: changed-after-up\n`).join('').replace(/^/, 'services:\n'))
  const files = { COMPOSE_FILE: 'docker-compose.yml:docker-compose.override.yml:drift.yml' }
  const ids = async () => (await run(['docker', 'ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${c.project}`])).stdout.split('\n').filter(Boolean).sort()
  try {
    await db(`INSERT INTO users (id, email, hashed_password, full_name) VALUES ('u-drift', 'drift@example.com', '\\x00', 'Drift')`, c)
    const before = await ids()
    const o = await inCopy('reset_and_run', ['--yes', '--skip', 'run-test,validate', '--restart-mode', 'restart'], files)
    assert.is(o.code, 0, explain(o))
    assert.match(o.out, /worker stopped/)
    assert.equal(await ids(), before, 'the same containers: none created or recreated')
    assert.equal(await counts(c), EMPTY)
  } finally {
    rmSync(drift, { force: true })
  }
})

test('a shell exporting LOG_FILE=<another file> and SERVICES=nothing (for other tools) changes nothing the run does', async () => {
  const other = path.join(SUITE_ROOT, '.state', 'e2e-other.log')
  writeFileSync(other, 'not the app\'s log\n')
  try {
    await seedDirty()
    assert.ok(logSize() > 0)
    const shell = { LOG_FILE: other, SERVICES: 'nothing', APP_DIR: '/nowhere' }
    const logs = await script('truncate-logs', ['--yes'], shell)
    assert.is(logs.code, 0, explain(logs))
    assert.is(logSize(), 0, "the app's log was emptied")
    assert.is(readFileSync(other, 'utf8'), "not the app's log\n", 'the other file untouched')
    assert.match(logs.out, /not read \(exported for other tools; the suite's own take the RT_ prefix\): APP_DIR, SERVICES, LOG_FILE/)
    // Without SERVICES the restart mode restarts the api and the workers: so it does here
    const ids = (await (await compose()).instances()).filter((i) => i.service === 'api' || i.service === 'worker').map((i) => i.id)
    const before = await startedAt(ids)
    const restart = await script('restart', ['--yes', '--restart-mode', 'restart'], shell)
    assert.is(restart.code, 0, explain(restart))
    const after = await startedAt(ids)
    assert.ok(after.every((t, i) => t !== before[i]), 'the api and every worker restarted, as without SERVICES')
    assert.ok(existsSync(logFile))
  } finally {
    rmSync(other, { force: true })
  }
})

test.run()
