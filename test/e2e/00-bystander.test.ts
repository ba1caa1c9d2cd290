// A compose project under the real app's name, on its usual ports, from another directory, runs
// beside the whole tier: zz-bystander checks at the end that nothing of it was touched. When a real
// fastapi-k8-proto stack already runs on this machine, that one is the bystander and is only watched.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { exampleCopy, projectContainers, run, stackUp, startedAt, withRedisClient, db, need, until } from './stack.ts'

export const BYSTANDER = 'fastapi-k8-proto'
export const BYSTANDER_STATE = path.join(SUITE_ROOT, '.state', 'e2e-bystander.json')

test.before(() => need('up'))

test('a stack named like the real app runs beside the tier, on its ports, with data of its own', async () => {
  const existing = await projectContainers(BYSTANDER)
  let state: { ours: boolean; containers: string[]; started: string[]; rows?: number; keys?: number; dir?: string }
  if (existing.length) {
    // Someone's real stack: watch it, touch nothing.
    state = { ours: false, containers: existing, started: await startedAt(existing) }
  } else {
    // The real app's normal case: no COMPOSE_PROJECT_NAME, the directory's name, the default ports.
    const copy = exampleCopy('bystander', { dirName: BYSTANDER, env: { COMPOSE_PROJECT_NAME: null, POSTGRES_HOST_PORT: null, REDIS_HOST_PORT: null, API_HOST_PORT: null, FLOWER_HOST_PORT: null } })
    const c = copy.config()
    assert.is(c.project, BYSTANDER)
    assert.match(c.sources.project!, /directory name/)
    const up = await copy.compose(['up', '-d', 'postgres', 'redis'])
    assert.is(up.code, 0, up.stderr)
    await until("the bystander's PostgreSQL to answer", () => db('SELECT 1', c).then(() => true, () => false), 60_000)
    // Its volume may hold rows of an earlier tier that stopped before zz-bystander removed it: the count is read back
    await db('CREATE TABLE IF NOT EXISTS bystander_rows (n int); INSERT INTO bystander_rows SELECT generate_series(1, 25)', c)
    const [{ rows }] = await db<{ rows: number }>('SELECT count(*)::int AS rows FROM bystander_rows', c)
    assert.ok(rows >= 25)
    await withRedisClient(async (r) => void (await r.mset('bystander:a', '1', 'bystander:b', '2', 'bystander:c', '3')), c)
    const containers = await projectContainers(BYSTANDER)
    state = { ours: true, containers, started: await startedAt(containers), rows, keys: 3, dir: copy.dir }
    const ports = (await run(['docker', 'ps', '--filter', `label=com.docker.compose.project=${BYSTANDER}`, '--format', '{{.Ports}}'])).stdout
    assert.match(ports, /15432->5432/)
    assert.match(ports, /16379->6379/)
  }
  mkdirSync(path.dirname(BYSTANDER_STATE), { recursive: true })
  writeFileSync(BYSTANDER_STATE, JSON.stringify(state, null, 2))
  assert.ok(state.containers.length > 0)
})

test.run()
