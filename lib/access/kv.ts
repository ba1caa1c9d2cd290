// What the suite asks of Redis, whichever way it reaches it (a client to a port, redis-cli inside
// the instance), and the parsing of Redis's own text answers.
import type { Redis } from 'ioredis'

export const SCAN_COUNT = 1000

export interface Kv {
  via: string
  /** Which server answered and why it is this project's (or that it could not be shown). */
  server: string
  ours: boolean
  /** The database the suite works in: REDIS_URL's, else REDIS_DB. */
  db: number
  ping(): Promise<void>
  /** Server version and run_id. */
  info(): Promise<{ version: string; runId: string }>
  dbsize(): Promise<number>
  /** Keys per database, from INFO keyspace: what FLUSHALL would empty. */
  keyspace(): Promise<{ db: number; keys: number }[]>
  /**
   * FLUSHALL ASYNC or FLUSHDB ASYNC, putting back the keys of the app's database that match `keep`
   * as they were (one script: no moment without them); returns how many were kept. A dry run
   * prints it. An error reply (NOPERM, READONLY, MISCONF) throws.
   */
  flush(mode: 'flushall' | 'flushdb', keep: string[]): Promise<number>
  /** Keys matching each pattern, counted with SCAN. */
  countByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** SCAN + UNLINK per pattern; returns keys removed per pattern. A dry run only counts. */
  deleteByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** GET of several keys, null when absent. */
  mget(keys: string[]): Promise<(string | null)[]>
  /** LLEN: the length of a list (a broker's queue), 0 when absent. */
  llen(key: string): Promise<number>
  /** The client, when the suite talks to a port (backups need DUMP and RESTORE). */
  client: Redis | null
  close(): Promise<void>
}

/** The flush as one script: the keys matching ARGV[2..] are dumped, the flush runs (ARGV[1]), they are restored. */
export const FLUSH_KEEPING = `
local kept, n = {}, 0
for i = 2, #ARGV do
  local cursor = '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', ARGV[i], 'COUNT', 1000)
    cursor = r[1]
    for _, k in ipairs(r[2]) do kept[k] = {redis.call('DUMP', k), redis.call('PTTL', k)} end
  until cursor == '0'
end
redis.call(ARGV[1], 'ASYNC')
for k, v in pairs(kept) do
  redis.call('RESTORE', k, v[2] > 0 and v[2] or 0, v[1], 'REPLACE')
  n = n + 1
end
return n`

export function field(info: string, name: string): string {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? ''
}

/** "db0:keys=12,expires=0,avg_ttl=0" lines of INFO keyspace. */
export function parseKeyspace(info: string): { db: number; keys: number }[] {
  return [...info.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => ({ db: Number(m[1]), keys: Number(m[2]) }))
}
