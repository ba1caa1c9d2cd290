// The Compose target without Docker: detection, command lines, reading `docker inspect`, readiness,
// refusing containers made from another directory, and the restart modes' command lines.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { ComposeTarget, detectCompose, dockerEndpoint, foreignOrigin, LOCAL_DOCKER, namedSafe, parseInspect, readiness, recreatedBy } from '../../lib/targets/compose.ts'
import { changesBetween, instancesReady, judged } from '../../lib/targets/instances.ts'
import type { Runner, RunResult } from '../../lib/util/command.ts'
import type { Instance } from '../../lib/targets/target.ts'
import { realClock } from '../../lib/util/wait.ts'

/** A runner that records command lines and answers from a table of prefixes. */
function recorder(answers: Record<string, Partial<RunResult>>) {
  const calls: string[][] = []
  const run = Object.assign(
    async (argv: string[]) => {
      calls.push(argv)
      const line = argv.join(' ')
      const key = Object.keys(answers).find((k) => line.startsWith(k))
      return { code: 0, stdout: '', stderr: '', timedOut: false, ...(key ? answers[key] : { code: 127, stderr: 'not found' }) }
    },
    { dryRun: false },
  ) as Runner
  return { run, calls }
}

test('Compose v2 is preferred when the plugin answers', async () => {
  const { run, calls } = recorder({ 'docker compose version': {}, 'docker-compose version': {} })
  assert.equal(await detectCompose(run, null), ['docker', 'compose'])
  assert.equal(calls, [['docker', 'compose', 'version']])
})

test('Compose v1 when v2 is missing', async () => {
  const { run } = recorder({ 'docker compose version': { code: 1, stderr: "docker: 'compose' is not a docker command" } })
  assert.equal(await detectCompose(run, null, (name) => (name === 'docker-compose' ? '/usr/bin/docker-compose' : null)), ['docker-compose'])
})

test('COMPOSE_CMD overrides detection without running anything', async () => {
  const { run, calls } = recorder({})
  assert.equal(await detectCompose(run, ['podman-compose']), ['podman-compose'])
  assert.is(calls.length, 0)
})

test('no compose at all says how to get one', async () => {
  const { run } = recorder({})
  await detectCompose(run, null, () => null).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /Install the compose plugin \(v2\) or docker-compose \(v1\), or set COMPOSE_CMD/),
  )
})

const settings = {
  appDir: '/app',
  composeFiles: ['/app/docker-compose.yml', '/app/docker-compose.override.yml'],
  project: 'fastapi-k8-proto',
  composeCmd: ['docker', 'compose'],
  commandTimeoutMs: 1000,
  readyTimeoutMs: 1000,
  requiredServices: ['postgres', 'api'],
  services: { api: 'api' },
  apiHealthPath: '/api/v1/health',
  apiPort: 8000,
  logFile: '/app/logs/combined.log',
  allServices: ['api', 'postgres', 'redis', 'worker'],
  safeHosts: [] as string[],
  inputs: [] as string[],
}

test('every compose command carries every compose file, the project directory and the project name', async () => {
  const { run } = recorder({})
  const v2 = new ComposeTarget(run, settings, realClock, new AbortController().signal)
  await v2.command()
  assert.equal(v2.args('restart'), ['docker', 'compose', '-f', '/app/docker-compose.yml', '-f', '/app/docker-compose.override.yml', '--project-directory', '/app', '-p', 'fastapi-k8-proto', 'restart'])
  const v1 = new ComposeTarget(run, { ...settings, composeCmd: ['docker-compose'] }, realClock, new AbortController().signal)
  await v1.command()
  assert.equal(v1.args('up', '-d').slice(0, 2), ['docker-compose', '-f'])
})

test('restarts and recreations: the held workers are left out, and an up over named services leaves their dependencies alone', () => {
  assert.equal(ComposeTarget.named([]), [], 'the whole project')
  assert.equal(ComposeTarget.named([], ['worker'], settings.allServices), ['api', 'postgres', 'redis'])
  assert.equal(ComposeTarget.named(['api', 'worker'], ['worker']), ['api'])
  assert.equal(ComposeTarget.recreateCommand([]), ['up', '-d', '--force-recreate'])
  assert.equal(ComposeTarget.recreateCommand(['api', 'worker'], { except: ['worker'] }), ['up', '-d', '--force-recreate', '--no-deps', 'api'])
  assert.equal(ComposeTarget.recreateCommand([], { build: true, except: ['worker'] }, settings.allServices), ['up', '-d', '--force-recreate', '--build', '--no-deps', 'api', 'postgres', 'redis'])
  assert.equal(ComposeTarget.recreateCommand(['api'], { build: true }), ['up', '-d', '--force-recreate', '--build', '--no-deps', 'api'])
})

test('start: existing containers are started as they are (never recreated), only a service without any is created, without its dependencies', async () => {
  const worker = inspect('p-worker-1', 'worker', { Status: 'exited' })
  const { run, calls } = recorder({ 'docker ps -aq': { stdout: 'p-worker-1\n' }, 'docker inspect': { stdout: JSON.stringify([worker]) }, 'docker compose': {} })
  const target = new ComposeTarget(run, { ...settings, requiredServices: ['worker', 'api'] }, realClock, new AbortController().signal)
  await target.start(['worker', 'api'])
  const composeCalls = calls.filter((c) => c[1] === 'compose' && c.at(-1) !== 'version').map((c) => c.slice(c.indexOf('fastapi-k8-proto') + 1))
  assert.equal(composeCalls, [['start', 'worker'], ['up', '-d', '--no-deps', 'api']])
})

function inspect(name: string, service: string, state: object, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return {
    Id: `${name}0000000000000000`,
    Name: `/${name}`,
    Config: {
      Labels: {
        'com.docker.compose.project': 'fastapi-k8-proto',
        'com.docker.compose.service': service,
        'com.docker.compose.container-number': name.slice(-1),
        'com.docker.compose.project.working_dir': '/app',
        'com.docker.compose.project.config_files': '/app/docker-compose.yml,/app/docker-compose.override.yml',
        ...labels,
      },
    },
    State: { Status: 'running', ExitCode: 0, ...state },
    HostConfig: { RestartPolicy: { Name: 'no' } },
    NetworkSettings: { Ports: {} },
    ...extra,
  }
}

test('containers are read from inspect by label, names of v1 and v2 alike, with where they were made', () => {
  const json = JSON.stringify([
    inspect('fastapi-k8-proto-worker-2', 'worker', {}),
    inspect('fastapi-k8-proto_postgres_1', 'postgres', { Health: { Status: 'healthy', Log: [{ Output: 'accepting connections\n' }] } }, { NetworkSettings: { Ports: { '5432/tcp': [{ HostIp: '0.0.0.0', HostPort: '15432' }], '9999/tcp': null }, Networks: { default: { IPAddress: '172.18.0.2' } } } }),
    { ...inspect('fastapi-k8-proto_api_run_1', 'api', {}), Config: { Labels: { 'com.docker.compose.oneoff': 'True', 'com.docker.compose.service': 'api' } } },
  ])
  const cs = parseInspect(json, ['postgres'])
  assert.equal(cs.map((c) => [c.service, c.number, c.health, c.readiness]), [['postgres', 1, 'healthy', 'ready'], ['worker', 2, null, 'ready']])
  assert.equal(cs[0].ports, { '5432/tcp': 15432 })
  assert.equal(cs[0].healthLog, ['accepting connections'])
  assert.equal(cs[0].addresses, ['172.18.0.2'])
  assert.equal(cs[0].origin, { workingDir: '/app', configFiles: ['/app/docker-compose.yml', '/app/docker-compose.override.yml'] })
})

test('containers of the same project name made from another directory, or without compose labels, are refused', () => {
  const ours = parseInspect(JSON.stringify([inspect('p-api-1', 'api', {})]))
  assert.is(foreignOrigin(ours, settings), null)
  const other = parseInspect(JSON.stringify([inspect('p-api-1', 'api', {}, {}, { 'com.docker.compose.project.working_dir': '/home/me/fastapi-k8-proto' })]))
  assert.match(foreignOrigin(other, settings)!, /created from \/home\/me\/fastapi-k8-proto, not from \/app/)
  const bare = parseInspect(JSON.stringify([{ ...inspect('p-api-1', 'api', {}), Config: { Labels: { 'com.docker.compose.project': 'fastapi-k8-proto', 'com.docker.compose.service': 'api' } } }]))
  assert.match(foreignOrigin(bare, settings)!, /no com.docker.compose.project.working_dir label/)
  const files = parseInspect(JSON.stringify([inspect('p-api-1', 'api', {}, {}, { 'com.docker.compose.project.config_files': '/app/other.yml' })]))
  assert.match(foreignOrigin(files, settings)!, /none of which is this project's compose file/)
})

const c = (over: Partial<Parameters<typeof readiness>[0]>) => ({ service: 's', state: 'running', health: null, exitCode: 0, restartPolicy: 'no', ...over })

test('readiness: healthy or running-without-healthcheck is ready; unhealthy and crashed fail at once', () => {
  assert.is(readiness(c({})), 'ready')
  assert.is(readiness(c({ health: 'healthy' })), 'ready')
  assert.is(readiness(c({ health: 'starting' })), 'waiting')
  assert.is(readiness(c({ state: 'restarting' })), 'waiting')
  assert.is(readiness(c({ health: 'unhealthy' })), 'failed')
  assert.is(readiness(c({ state: 'exited', exitCode: 1, service: 'api' }), ['api']), 'failed', 'a required service that crashed')
  assert.is(readiness(c({ state: 'exited', exitCode: 0 })), 'ready', 'a one-shot that exited 0')
  assert.is(readiness(c({ state: 'exited', exitCode: 0, service: 'worker' }), ['worker']), 'failed', 'a required service that stopped')
})

test('readiness: an optional service that is not running was stopped (compose stop, an engine restart) and is left alone', () => {
  assert.is(readiness(c({ state: 'exited', exitCode: 143, service: 'flower' }), ['api']), 'stopped', 'after compose stop')
  assert.is(readiness(c({ state: 'exited', exitCode: 255, service: 'flower' }), ['api']), 'stopped', 'after the engine restarted')
  assert.is(readiness(c({ state: 'created', service: 'flower' }), ['api']), 'stopped', 'made, never started')
  assert.is(readiness(c({ state: 'created', service: 'api' }), ['api']), 'waiting', 'a required one made but not started yet')
  assert.is(readiness(c({ state: 'exited', exitCode: 0, service: 'flower', restartPolicy: 'always' })), 'stopped')
})

const i = (over: Partial<Instance>): Instance => ({ id: 'x', name: 'x', service: 's', number: 1, state: 'running', health: null, exitCode: 0, healthLog: [], readiness: 'ready', finishedAt: null, ports: {}, addresses: [], origin: null, ...over })

test('a stopped instance is not waited for, unless it stopped after the wait began (it was started and failed again)', async () => {
  const since = Date.parse('2026-12-03T10:00:00Z')
  const before = i({ name: 'flower', service: 'flower', state: 'exited', exitCode: 143, readiness: 'stopped', finishedAt: since - 60_000 })
  const after = { ...before, finishedAt: since + 2_000 }
  assert.is(judged(before, since), 'stopped')
  assert.is(judged(after, since), 'failed')
  assert.is(judged(after), 'stopped', 'no start time: nothing was started')
  const ok = await instancesReady(async () => [i({ service: 'api' }), before], 'p', ['api'], null, undefined, since).check()
  assert.equal(ok, { ready: true, value: [i({ service: 'api' })] })
  const crashed = await instancesReady(async () => [i({ service: 'api' }), after], 'p', ['api'], null, undefined, since).check()
  assert.ok('fatal' in crashed && crashed.fatal, crashed.ready ? 'ready' : crashed.detail)
})

test('instancesReady names missing services and waits for starting ones; held services are not waited for', async () => {
  const list = async () => [i({ name: 'pg', service: 'postgres', health: 'starting', readiness: 'waiting' }), i({ name: 'w', service: 'worker', state: 'exited', readiness: 'failed' })]
  const r = await instancesReady(list, 'p', ['postgres', 'redis'], ['postgres', 'redis']).check()
  assert.equal(r, { ready: false, detail: '0/1 ready; waiting for redis: no instance, pg (service postgres): running (starting)' })
  const failed = await instancesReady(list, 'p', ['postgres'], null).check()
  assert.ok('fatal' in failed && failed.fatal, 'a failed instance ends the wait when it is waited for')
})

test('the Docker endpoint: DOCKER_HOST wins, a context is asked for its host, the default context is the local socket', async () => {
  const { run, calls } = recorder({ 'docker context inspect remote': { stdout: 'ssh://me@build-box\n' } })
  assert.is(await dockerEndpoint(run, { DOCKER_HOST: 'tcp://127.0.0.1:2375' }), 'tcp://127.0.0.1:2375')
  assert.is(await dockerEndpoint(run, { DOCKER_CONTEXT: 'remote' }), 'ssh://me@build-box')
  assert.is(await dockerEndpoint(run, { DOCKER_CONTEXT: 'default' }), LOCAL_DOCKER)
  assert.is(await dockerEndpoint(run, { DOCKER_CONFIG: '/nonexistent' }), LOCAL_DOCKER)
  assert.equal(calls.map((c) => c.join(' ')), ['docker context inspect remote --format {{.Endpoints.docker.Host}}'])
})

test('SAFE_HOSTS names an endpoint whole, as host:port, or by its host', () => {
  assert.ok(namedSafe('tcp://127.0.0.1:2375', ['tcp://127.0.0.1:2375']))
  assert.ok(namedSafe('tcp://127.0.0.1:2375', ['127.0.0.1:2375']))
  assert.ok(namedSafe('ssh://me@build-box', ['build-box']))
  assert.not.ok(namedSafe('tcp://10.0.0.5:2375', ['127.0.0.1']))
})

test('a dry run of up: which services Compose would recreate, by container name (v2, v1, an id-prefixed rename)', () => {
  const out = [
    ' DRY-RUN MODE -  Container p-worker-1  Recreate',
    ' DRY-RUN MODE -  Container p-worker-1  Recreated',
    ' DRY-RUN MODE -  Container p-worker-high-1  Running',
    ' DRY-RUN MODE -  Container 0e018c3f2e5a_p_api_1  Recreate',
    ' DRY-RUN MODE -  Container p-redis-1  Running',
  ].join('\n')
  assert.ok(recreatedBy(out, 'p', 'worker'))
  assert.ok(recreatedBy(out, 'p', 'api'), 'a v1 container, renamed behind its id')
  assert.not.ok(recreatedBy(out, 'p', 'redis'), 'running as configured')
  assert.not.ok(recreatedBy(out, 'p', 'worker-high'), 'worker-1 is not worker-high-1, and Running is not Recreate')
  assert.not.ok(recreatedBy(out, 'q', 'worker'), 'another project')
})


test('what happened to the containers while the test ran: stopped with its exit code and time, restarted, gone', () => {
  const at = (iso: string) => Date.parse(`2026-12-04T${iso}Z`)
  const up = (name: string, over: Partial<Instance> = {}): Instance =>
    ({ id: name, name, service: 'worker', state: 'running', exitCode: 0, finishedAt: null, startedAt: at('20:00:00'), restarts: 0, ...over }) as Instance
  const before = [up('w1'), up('w2'), up('w3'), up('w4'), up('w5', { state: 'exited' })]
  const after = [
    up('w1'),
    up('w2', { state: 'exited', exitCode: 137, finishedAt: at('20:01:02') }),
    up('w3', { startedAt: at('20:01:05'), restarts: 1, finishedAt: at('20:01:04'), exitCode: 1 }),
    up('w5', { state: 'exited' }),
  ]
  assert.equal(changesBetween(before, after), [
    'w2 stopped at 20:01:02 with exit code 137',
    'w3 restarted at 20:01:05 (it had exited with code 1)',
    'w4 went away (removed or replaced)',
  ])
  assert.equal(changesBetween(before, before), [])
})

test.run()
