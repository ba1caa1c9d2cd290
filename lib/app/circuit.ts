// The app's circuit breaker in Redis: per service `circuit_breaker:<service>` (JSON with state
// closed | open | half_open, opened_at, metadata), `circuit_failures:<service>` (a count) and
// `queue_paused:<service>` ("1" while paused); the planned simplification adds one global key.
import { patternProblems as checkPatterns } from '../config/config.ts'
import { table } from '../util/output.ts'
import type { Kv } from '../access/redis.ts'

export const GLOBAL_BREAKER = 'circuit_breaker:global'
export const stateKey = (service: string) => `circuit_breaker:${service}`
export const failuresKey = (service: string) => `circuit_failures:${service}`
export const pausedKey = (service: string) => `queue_paused:${service}`

// ---- patterns for the selective reset ----

/** Every reason the patterns cannot be used by reset-circuit: none, empty, or matching every key. */
export const patternProblems = (patterns: string[]) =>
  checkPatterns(patterns, 'use --all to empty the database (FLUSHDB)')

/** Does a Redis glob pattern (* ? [abc] [^a] [a-z] \x) match the key? */
export function globMatch(pattern: string, key: string): boolean {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '\\' && i + 1 < pattern.length) re += escape(pattern[++i])
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) re += '\\['
      else {
        const body = pattern.slice(i + 1, end).replace(/^\^/, '!')
        re += `[${body.startsWith('!') ? '^' : ''}${body.replace(/^!/, '').replace(/[\\\]]/g, '\\$&')}]`
        i = end
      }
    } else re += escape(c)
  }
  return new RegExp(`^${re}$`, 's').test(key)
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

// ---- reading the state ----

export interface Breaker {
  name: string
  /** closed | open | half_open, "closed (no key)" when absent, "unreadable" when not the app's JSON. */
  state: string
  openedAt: string
  failures: number
  paused: boolean
}

/** A breaker from its three raw values. */
export function readBreaker(
  name: string,
  state: string | null,
  failures: string | null,
  paused: string | null,
): Breaker {
  let shown = 'closed (no key)'
  let openedAt = '-'
  if (state !== null) {
    try {
      const data = JSON.parse(state) as { state?: unknown; opened_at?: unknown }
      shown = typeof data?.state === 'string' ? data.state : 'unreadable'
      openedAt = when(data?.opened_at)
    } catch {
      shown = 'unreadable'
    }
  }
  return {
    name,
    state: shown,
    openedAt,
    failures: Number(failures ?? 0) || 0,
    paused: ['1', 'true', 'True'].includes(paused ?? ''),
  }
}

/** opened_at as the app writes it (epoch seconds) or an ISO text, shown as ISO. */
function when(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-'
  const n = Number(v)
  if (Number.isFinite(n) && n > 0) return new Date(n * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
  return String(v)
}

/** Open, half open, unreadable, or its queue paused: the app is not running normally. */
export const tripped = (b: Breaker) => b.paused || !['closed', 'closed (no key)'].includes(b.state)

export function breakerTable(breakers: Breaker[]): string {
  return table([
    ['service', 'state', 'opened at', 'failures', 'queue'],
    ...breakers.map((b) => [b.name, b.state, b.openedAt, String(b.failures), b.paused ? 'PAUSED' : 'running']),
  ])
}

/** Every configured service's breaker, and the global one when its key exists. */
export async function breakerStates(services: string[], kv: Kv): Promise<Breaker[]> {
  const keys = services.flatMap((s) => [stateKey(s), failuresKey(s), pausedKey(s)])
  const values = await kv.mget([...keys, GLOBAL_BREAKER])
  const breakers = services.map((s, i) => readBreaker(s, values[3 * i], values[3 * i + 1], values[3 * i + 2]))
  const global = values[keys.length]
  if (global !== null) breakers.push(readBreaker('global', global, null, null))
  return breakers
}
