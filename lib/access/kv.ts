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
  /** FLUSHALL ASYNC or FLUSHDB ASYNC; a dry run prints it. An error reply (NOPERM, READONLY, MISCONF) throws. */
  flush(mode: 'flushall' | 'flushdb'): Promise<void>
  /** Keys matching each pattern, counted with SCAN. */
  countByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** SCAN + UNLINK per pattern; returns keys removed per pattern. A dry run only counts. */
  deleteByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** GET of several keys, null when absent. */
  mget(keys: string[]): Promise<(string | null)[]>
  /** The client, when the suite talks to a port (backups need DUMP and RESTORE). */
  client: Redis | null
  close(): Promise<void>
}

export function field(info: string, name: string): string {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? ''
}

/** "db0:keys=12,expires=0,avg_ttl=0" lines of INFO keyspace. */
export function parseKeyspace(info: string): { db: number; keys: number }[] {
  return [...info.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => ({ db: Number(m[1]), keys: Number(m[2]) }))
}
