// A number read again and again while something else runs (the broker queue's length during the
// test): one reading at a time, every `everyMs` from the start of the last; a failed reading is
// noted and the sampling goes on; stop() ends it at once and hands back what was read. The clock
// is injectable, like the waits'.
import { messageOf } from './errors.ts'
import { realClock, type Clock } from './wait.ts'

export interface Reading {
  /** When the reading was asked for (ms since the epoch). */
  at: number
  value: number
}

export interface Sampled {
  readings: Reading[]
  /** The first reading that failed, when one did. */
  error?: string
}

export function sampleEvery(
  read: () => Promise<number>,
  everyMs: number,
  clock: Clock = realClock,
  /** Called with every reading so far after each new one (a watch on the series as it grows). */
  onReading: (readings: Reading[]) => void = () => {},
): { stop(): Promise<Sampled> } {
  const sampled: Sampled = { readings: [] }
  let stopped = false
  let wake = () => {}
  const woken = () => new Promise<void>((resolve) => (wake = resolve))
  const loop = (async () => {
    while (!stopped) {
      const at = clock.now()
      try {
        sampled.readings.push({ at, value: await read() })
        onReading(sampled.readings)
      } catch (e) {
        sampled.error ??= messageOf(e)
      }
      if (!stopped) await Promise.race([clock.sleep(Math.max(0, at + everyMs - clock.now())), woken()])
    }
  })()
  return {
    async stop() {
      stopped = true
      wake()
      await loop
      return sampled
    },
  }
}
