// The host ports the e2e tier publishes (test/e2e/ports.ts, example/.env, the compose file's
// defaults that the bystander uses): no two alike, none in the machine's ephemeral range, where an
// outgoing connection can hold the port when docker-proxy wants it (a CI run failed so on 35800).
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { TEST_PORTS } from '../e2e/ports.ts'

const example = (f: string) => readFileSync(path.join(SUITE_ROOT, 'example', f), 'utf8')
/** The example's host ports: example/.env's, and the compose file's defaults (the bystander's copy has no .env ports). */
const examplePorts: Record<string, number> = {
  ...Object.fromEntries([...example('.env').matchAll(/^(\w+_HOST_PORT)=(\d+)$/gm)].map((m) => [`example ${m[1]}`, Number(m[2])])),
  ...Object.fromEntries([...example('docker-compose.yml').matchAll(/\$\{(\w+_HOST_PORT):-(\d+)\}/g)].map((m) => [`default ${m[1]}`, Number(m[2])])),
}
const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'
const [low, high] = existsSync(RANGE_FILE) ? readFileSync(RANGE_FILE, 'utf8').trim().split(/\s+/).map(Number) : [32768, 60999]

test('the example publishes four host ports, in its .env and as defaults', () => {
  assert.is(Object.keys(examplePorts).length, 8, JSON.stringify(examplePorts))
})

test('no two host ports of the e2e tier are alike', () => {
  const byPort = new Map<number, string[]>()
  for (const [name, port] of Object.entries({ ...examplePorts, ...TEST_PORTS })) byPort.set(port, [...(byPort.get(port) ?? []), name])
  assert.equal([...byPort.values()].filter((names) => names.length > 1), [])
})

test("no host port of the e2e tier is in the machine's ephemeral range", () => {
  const inside = Object.entries({ ...examplePorts, ...TEST_PORTS }).filter(([, p]) => p >= low && p <= high)
  assert.equal(inside, [], `ephemeral range ${low}-${high}`)
})
test.run()
