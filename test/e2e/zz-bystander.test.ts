// After the whole tier: the stack named like the real app is as it was, and no password was
// written to any file the suite made.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { db, eatenWords, exampleCopy, leaks, projectContainers, startedAt, withRedisClient, writtenFiles } from './stack.ts'

const BYSTANDER = 'fastapi-k8-proto'
const STATE = path.join(SUITE_ROOT, '.state', 'e2e-bystander.json')

test('the stack named like the real app was not touched: same containers, never restarted, same rows and keys', async () => {
  assert.ok(existsSync(STATE), '00-bystander ran')
  const state = JSON.parse(readFileSync(STATE, 'utf8')) as { ours: boolean; containers: string[]; started: string[]; rows?: number; keys?: number; dir?: string }
  const now = await projectContainers(BYSTANDER)
  assert.equal(now.sort(), [...state.containers].sort(), 'the same containers')
  assert.equal((await startedAt(now)).sort(), [...state.started].sort(), 'none restarted or recreated')
  if (state.ours) {
    // The same copy again (same directory, same files): its configuration reaches its servers.
    const mine = exampleCopy('bystander', { dirName: BYSTANDER, env: { COMPOSE_PROJECT_NAME: null, POSTGRES_HOST_PORT: null, REDIS_HOST_PORT: null, API_HOST_PORT: null, FLOWER_HOST_PORT: null } })
    const c = mine.config()
    const [{ n }] = await db<{ n: string }>('SELECT count(*) AS n FROM bystander_rows', c)
    assert.is(Number(n), state.rows)
    assert.is(await withRedisClient((r) => r.exists('bystander:a', 'bystander:b', 'bystander:c'), c), state.keys)
    await mine.remove() // ours: its own directory and volumes go
  }
})

test('no file the suite wrote holds a password, and no mask ate a word there', () => {
  const problems: string[] = []
  for (const f of writtenFiles()) {
    const text = readFileSync(f, 'utf8')
    for (const l of leaks(text)) problems.push(`${path.relative(SUITE_ROOT, f)}: ${l}`)
    for (const w of eatenWords(text)) problems.push(`${path.relative(SUITE_ROOT, f)}: ${w}`)
  }
  assert.equal(problems, [])
})

test.run()
