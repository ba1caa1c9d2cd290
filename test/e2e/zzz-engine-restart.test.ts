// The Docker engine restarted under the stack (what a reboot does: every container exited), then
// the main job: it starts what the reset needs and exits 0. Last in the tier, after the bystander
// check, because restarting the engine stops every container on the machine.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { compose, counts, example, explain, GOOD_RUN, run, sh, stackChanged, stackUp, need } from './stack.ts'

test.before(() => need('up'))

/** Stops dockerd (containers with it) and starts it again as ensure-docker does. */
function restartEngine(): void {
  const pid = execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0]
  assert.ok(pid, 'a dockerd runs here')
  process.kill(Number(pid), 'SIGTERM')
  const deadline = Date.now() + 120_000
  for (;;) {
    try {
      process.kill(Number(pid), 0)
    } catch {
      break
    }
    if (Date.now() > deadline) throw new Error(`dockerd (pid ${pid}) did not stop within 120 s`)
    execFileSync('sleep', ['0.5'])
  }
  execFileSync('bash', ['scripts/ensure-docker.sh'], { cwd: SUITE_ROOT, stdio: 'ignore', timeout: 180_000 })
}

test('after the Docker engine restarted under the stack: make reset-and-test exits 0', async () => {
  await example.compose(['up', '-d'], { timeoutMs: 300_000 }) // every service, flower too
  restartEngine()
  stackChanged()
  const after = await (await compose()).current()
  assert.ok(after.length >= 12 && after.every((i) => i.state !== 'running'), `every container stopped with the engine: ${after.map((i) => `${i.name} ${i.state}`).join(', ')}`)
  const o = await sh(['make', '--no-print-directory', 'reset-and-test', 'YES=1'])
  assert.is(o.code, 0, explain(o))
  assert.match(o.out, /not running: postgres \(exited\), redis \(exited\), api \(exited\), worker \(exited(, exited){7}\); starting them/)
  assert.match(o.out, /left stopped \(not required\): reset-and-test-example-flower-1/)
  assert.equal(await counts(), GOOD_RUN)
  const docker = await run(['docker', 'info', '--format', '{{.ServerVersion}}'])
  assert.match(docker.stdout, /\d+\.\d+/, 'the engine answers for the tiers after this one')
})

test.run()
