// The one retry loop for every wait: a probe is asked until it is ready, fails for good,
// or the deadline passes. The clock is injectable so tests run in milliseconds.

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export type ProbeResult<T> =
  | { ready: true; value: T }
  | { ready: false; detail: string }
  /** A state that will not get better by waiting (unhealthy, exited). */
  | { ready: false; fatal: true; detail: string }

export interface Probe<T> {
  /** What is awaited, for messages: "every container of fastapi-k8-proto ready". */
  what: string
  check(): Promise<ProbeResult<T>>
}

export interface WaitOptions {
  timeoutMs: number
  clock?: Clock
  /** First pause between checks; doubles up to maxIntervalMs. */
  intervalMs?: number
  maxIntervalMs?: number
  /** Called after each check that was not ready, with the time waited so far. */
  onProgress?: (detail: string, waitedMs: number) => void
  signal?: AbortSignal
}

export class WaitError extends Error {
  constructor(
    public what: string,
    public waitedMs: number,
    public detail: string,
    public fatal: boolean,
  ) {
    super(
      fatal
        ? `gave up waiting for ${what} after ${(waitedMs / 1000).toFixed(1)} s: ${detail}`
        : `timed out after ${(waitedMs / 1000).toFixed(1)} s waiting for ${what}: ${detail}`,
    )
  }
}

export async function waitFor<T>(probe: Probe<T>, options: WaitOptions): Promise<T> {
  const { timeoutMs, clock = realClock, intervalMs = 250, maxIntervalMs = 2000, onProgress, signal } = options
  const start = clock.now()
  let interval = intervalMs
  for (;;) {
    signal?.throwIfAborted()
    const result = await probe.check()
    const waited = clock.now() - start
    if (result.ready) return result.value
    if ('fatal' in result) throw new WaitError(probe.what, waited, result.detail, true)
    if (waited >= timeoutMs) throw new WaitError(probe.what, waited, result.detail, false)
    onProgress?.(result.detail, waited)
    await clock.sleep(Math.min(interval, Math.max(0, timeoutMs - waited)))
    interval = Math.min(interval * 2, maxIntervalMs)
  }
}

/** All probes ready, checked in one pass each round; the first fatal one ends the wait. */
export function allOf(what: string, probes: Probe<unknown>[]): Probe<void> {
  return {
    what,
    async check() {
      const pending: string[] = []
      for (const probe of probes) {
        const r = await probe.check()
        if (r.ready) continue
        if ('fatal' in r) return { ready: false, fatal: true, detail: `${probe.what}: ${r.detail}` }
        pending.push(`${probe.what}: ${r.detail}`)
      }
      return pending.length ? { ready: false, detail: pending.join('; ') } : { ready: true, value: undefined }
    },
  }
}
