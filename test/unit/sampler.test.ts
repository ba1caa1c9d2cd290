// The sampler that reads the queue's length during the test, with a fake clock: no Redis, milliseconds.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { sampleEvery } from '../../lib/util/sampler.ts'
import type { Clock } from '../../lib/util/wait.ts'

test('the sampler reads one at a time, every interval from the start of the last, notes a failure, stops at once', async () => {
  let now = 0
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => void ((now += ms), await new Promise((r) => setImmediate(r))),
  }
  let n = 0
  const sampler = sampleEvery(
    async () => {
      now += 100 // a reading takes 100 ms
      if (++n === 3) throw new Error('NOAUTH')
      return n
    },
    1000,
    clock,
  )
  while (now < 4500) await new Promise((r) => setImmediate(r))
  const { readings, error } = await sampler.stop()
  assert.equal(readings.slice(0, 4), [
    { at: 0, value: 1 },
    { at: 1000, value: 2 },
    { at: 3000, value: 4 },
    { at: 4000, value: 5 },
  ])
  assert.is(error, 'NOAUTH')
})

test('stop() ends a sampling that is waiting for its next reading at once', async () => {
  const asleep: Clock = { now: () => 0, sleep: () => new Promise(() => {}) } // never wakes by itself
  const sampler = sampleEvery(async () => 7, 60_000, asleep)
  await new Promise((r) => setImmediate(r))
  assert.equal(await sampler.stop(), { readings: [{ at: 0, value: 7 }] })
})

test.run()
