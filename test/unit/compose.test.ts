import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Compose, containersReady, detectCompose, parseInspect, readiness, type Container } from '../../lib/compose.ts'
import type { Runner, RunResult } from '../../lib/run.ts'

/** A runner that records command lines and answers from a table of prefixes. */
function recorder(answers: Record<string, Partial<RunResult>>) {
  const calls: string[][] = []
  const run: Runner = async (argv) => {
    calls.push(argv)
    const line = argv.join(' ')
    const key = Object.keys(answers).find((k) => line.startsWith(k))
    const res = { code: 0, stdout: '', stderr: '', timedOut: false, ...(key ? answers[key] : { code: 127, stderr: 'not found' }) }
    return res
  }
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

const settings = { composeFile: '/app/docker-compose.yml', project: 'fastapi-k8-proto', commandTimeoutMs: 1000 }

test('command lines for v1 and v2 differ only in the compose command', () => {
  const { run } = recorder({})
  assert.equal(new Compose(run, ['docker', 'compose'], settings).args('restart'), ['docker', 'compose', '-f', '/app/docker-compose.yml', '-p', 'fastapi-k8-proto', 'restart'])
  assert.equal(new Compose(run, ['docker-compose'], settings).args('up', '-d', '--force-recreate'), ['docker-compose', '-f', '/app/docker-compose.yml', '-p', 'fastapi-k8-proto', 'up', '-d', '--force-recreate'])
})

function inspect(name: string, service: string, state: object, extra: object = {}) {
  return {
    Id: `${name}0000000000000000`,
    Name: `/${name}`,
    Config: { Labels: { 'com.docker.compose.project': 'fastapi-k8-proto', 'com.docker.compose.service': service, 'com.docker.compose.container-number': name.slice(-1) } },
    State: { Status: 'running', ExitCode: 0, ...state },
    HostConfig: { RestartPolicy: { Name: 'no' } },
    NetworkSettings: { Ports: {} },
    ...extra,
  }
}

test('containers are read from inspect by label, names of v1 and v2 alike', () => {
  const json = JSON.stringify([
    inspect('fastapi-k8-proto-worker-2', 'worker', {}),
    inspect('fastapi-k8-proto_postgres_1', 'postgres', { Health: { Status: 'healthy', Log: [{ Output: 'accepting connections\n' }] } }, { NetworkSettings: { Ports: { '5432/tcp': [{ HostIp: '0.0.0.0', HostPort: '15432' }], '9999/tcp': null }, Networks: { default: { IPAddress: '172.18.0.2' } } } }),
    { ...inspect('fastapi-k8-proto_api_run_1', 'api', {}), Config: { Labels: { 'com.docker.compose.oneoff': 'True', 'com.docker.compose.service': 'api' } } },
  ])
  const cs = parseInspect(json)
  assert.equal(cs.map((c) => [c.service, c.number, c.health]), [['postgres', 1, 'healthy'], ['worker', 2, null]])
  assert.equal(cs[0].ports, { '5432/tcp': 15432 })
  assert.equal(cs[0].healthLog, ['accepting connections'])
  assert.equal(cs[0].addresses, ['172.18.0.2'])
})

const c = (over: Partial<Container>): Container => ({ id: 'x', name: 'x', service: 's', number: 1, state: 'running', health: null, exitCode: 0, healthLog: [], restartPolicy: 'no', ports: {}, addresses: [], ...over })

test('readiness: healthy or running-without-healthcheck is ready; unhealthy and crashed fail at once', () => {
  assert.is(readiness(c({})), 'ready')
  assert.is(readiness(c({ health: 'healthy' })), 'ready')
  assert.is(readiness(c({ health: 'starting' })), 'waiting')
  assert.is(readiness(c({ state: 'restarting' })), 'waiting')
  assert.is(readiness(c({ health: 'unhealthy' })), 'failed')
  assert.is(readiness(c({ state: 'exited', exitCode: 1 })), 'failed')
  assert.is(readiness(c({ state: 'exited', exitCode: 0 })), 'ready', 'a one-shot that exited 0')
  assert.is(readiness(c({ state: 'exited', exitCode: 0, service: 'worker' }), ['worker']), 'failed', 'a required service that stopped')
})

test('containersReady names missing services and waits for starting ones', async () => {
  const fake = { containers: async () => [c({ name: 'pg', service: 'postgres', health: 'starting' })] } as unknown as Compose
  const r = await containersReady(fake, 'p', ['postgres', 'redis']).check()
  assert.equal(r, { ready: false, detail: '0/1 ready; waiting for redis: no container, pg (service postgres): running (starting)' })
})

test.run()
