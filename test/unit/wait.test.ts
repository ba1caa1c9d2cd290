import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { allOf, waitFor, WaitError, type Clock, type Probe, type ProbeResult } from '../../lib/util/wait.ts'

function fakeClock(): Clock & { sleeps: number[] } {
  let t = 0
  const sleeps: number[] = []
  return { sleeps, now: () => t, sleep: async (ms) => void (sleeps.push(ms), (t += ms)) }
}

function scripted<T>(what: string, results: ProbeResult<T>[]): Probe<T> & { calls: number } {
  const probe = { what, calls: 0, check: async () => results[Math.min(probe.calls++, results.length - 1)] }
  return probe
}

const notYet = (detail = 'starting') => ({ ready: false as const, detail })

test('returns the value once the probe is ready, backing off between checks', async () => {
  const clock = fakeClock()
  const probe = scripted('db', [notYet(), notYet(), notYet(), notYet(), { ready: true, value: 42 }])
  assert.is(await waitFor(probe, { timeoutMs: 60_000, clock, intervalMs: 250, maxIntervalMs: 1000 }), 42)
  assert.equal(clock.sleeps, [250, 500, 1000, 1000])
})

test('times out naming what was awaited, for how long, and the last state', async () => {
  const clock = fakeClock()
  const probe = scripted('postgres to be healthy', [notYet('postgres: starting')])
  try {
    await waitFor(probe, { timeoutMs: 5000, clock })
    assert.unreachable()
  } catch (e) {
    assert.instance(e, WaitError)
    assert.is((e as WaitError).fatal, false)
    assert.match((e as Error).message, /timed out after 5\.0 s waiting for postgres to be healthy: postgres: starting/)
  }
  assert.ok(clock.now() <= 5000, 'never sleeps past the deadline')
})

test('a fatal state ends the wait at once', async () => {
  const clock = fakeClock()
  const probe = scripted('api', [notYet(), { ready: false, fatal: true, detail: 'api exited with code 1' }])
  await waitFor(probe, { timeoutMs: 60_000, clock }).then(
    () => assert.unreachable(),
    (e: WaitError) => {
      assert.ok(e.fatal)
      assert.match(e.message, /gave up waiting for api after 0\.3 s: api exited with code 1/)
    },
  )
  assert.is(probe.calls, 2)
})

test('progress is reported while waiting', async () => {
  const seen: string[] = []
  await waitFor(scripted('x', [notYet('a'), notYet('b'), { ready: true, value: 1 }]), { timeoutMs: 10_000, clock: fakeClock(), onProgress: (d, ms) => seen.push(`${d}@${ms}`) })
  assert.equal(seen, ['a@0', 'b@250'])
})

test('an abort stops the wait', async () => {
  const controller = new AbortController()
  controller.abort(new Error('SIGINT'))
  await waitFor(scripted('x', [notYet()]), { timeoutMs: 1000, clock: fakeClock(), signal: controller.signal }).then(
    () => assert.unreachable(),
    (e: Error) => assert.is(e.message, 'SIGINT'),
  )
})

test('allOf waits for every probe and names the pending ones', async () => {
  const clock = fakeClock()
  const a = scripted('a', [{ ready: true, value: 1 }])
  const b = scripted('b', [notYet('still starting'), { ready: true, value: 2 }])
  const both = allOf('a and b', [a, b])
  assert.equal(await both.check(), { ready: false, detail: 'b: still starting' })
  await waitFor(both, { timeoutMs: 1000, clock })
  const bad = allOf('c', [scripted('c', [{ ready: false, fatal: true, detail: 'unhealthy' }])])
  assert.equal(await bad.check(), { ready: false, fatal: true, detail: 'c: unhealthy' })
})

test.run()
