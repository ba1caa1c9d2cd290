// Waits of ensure-k8s: a question asked every second or two until it says yes or the time is up,
// with a progress line every few seconds. The retry loop is the suite's (lib/util/wait.ts).
import { realClock, waitFor, WaitError, type Clock } from '../../lib/util/wait.ts'
import { say } from './log.ts'

export interface Wait {
  /** What is awaited, for the progress lines: "etcd", "node localhost to be Ready". */
  what: string
  timeoutS: number
  /** Yes or no; an error counts as no. */
  ready: () => Promise<boolean>
  intervalMs?: number
  /** Seconds between progress lines. */
  reportEveryS?: number
  clock?: Clock
}

/** True when ready in time, false when the time ran out. */
export async function waitUntil({
  what,
  timeoutS,
  ready,
  intervalMs = 1000,
  reportEveryS = 5,
  clock = realClock,
}: Wait): Promise<boolean> {
  let reported = 0
  const probe = {
    what,
    check: async () =>
      (await ready().catch(() => false))
        ? { ready: true as const, value: undefined }
        : { ready: false as const, detail: 'not yet' },
  }
  const onProgress = (_: string, waitedMs: number) => {
    const s = Math.floor(waitedMs / 1000)
    if (s < reported + reportEveryS) return
    reported = s - (s % reportEveryS)
    say(`  waiting for ${what} (${s}s)`)
  }
  try {
    await waitFor(probe, { timeoutMs: timeoutS * 1000, clock, intervalMs, maxIntervalMs: intervalMs, onProgress })
    return true
  } catch (e) {
    if (e instanceof WaitError) return false
    throw e
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
