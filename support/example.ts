// The bundled example stack, reached directly — its containers by their labels, its PostgreSQL and
// Redis through their published ports, its log file — and a dirty state seeded into it. Used by the
// end-to-end tests to check what the suite did, and by the benchmark to set the stage.
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { Redis } from 'ioredis'
import { loadConfig, SUITE_ROOT, type Config } from '../lib/config/config.ts'
import { ComposeTarget } from '../lib/targets/compose.ts'
import { composeSettings } from '../lib/targets/index.ts'
import { createRunner } from '../lib/util/command.ts'
import { realClock } from '../lib/util/wait.ts'

/** Environment for every script the tests start: no terminal, CI, no colour. */
export const ENV: Record<string, string> = { ...(process.env as Record<string, string>), CI: 'true', FORCE_COLOR: '0' }
export const config = loadConfig({ env: ENV })
export const run = createRunner({ dryRun: false, secrets: config.secrets, defaultTimeoutMs: 900_000 })
export const EXAMPLE = path.join(SUITE_ROOT, 'example')

/** A Compose target for a configuration: the tests list containers the way the suite does. */
export function targetOf(c: Config): ComposeTarget {
  return new ComposeTarget(run, composeSettings(c), realClock, new AbortController().signal)
}
export const example = targetOf(config)
/** Always a fresh listing: the tests stop and start containers behind the suite's back. */
export const compose = async () => (await example.instances(), example)
export async function container(service: string) {
  return (await compose()).instance(service)
}

/** A container that carries the example's compose labels as if compose had made it: for faults the tests need. */
// ---- PostgreSQL and Redis, directly ----

/** A query on a stack's database (the example's unless a config is given). */
export async function db<T = Record<string, unknown>>(sql: string, c: Config = config): Promise<T[]> {
  const port = (await targetOf(c).instance(c.services.postgres)).ports['5432/tcp']
  const client = new pg.Client({ host: '127.0.0.1', port, user: c.database.user, password: c.database.password, database: c.database.name })
  await client.connect()
  try {
    return (await client.query(sql)).rows as T[]
  } finally {
    await client.end()
  }
}

export const TABLES = ['users', 'organizations', 'campaigns', 'leads', 'jobs']
export const EMPTY = { users: 0, organizations: 0, campaigns: 0, leads: 0, jobs: 0 }
/** What one good run of the example's smoke test leaves: 87 leads (5, 10, 9, 10, 10, 9, 8, 8, 9, 9), 97 jobs. */
export const GOOD_RUN = { users: 1, organizations: 1, campaigns: 10, leads: 87, jobs: 97 }
/** The exact numbers of a good run, for the checks that prove nothing extra was written. */
export const EXACT = ['--expect-leads', '87', '--expect-jobs', '97', '--expect-fetch-jobs-completed', '10', '--expect-enrich-jobs-completed', '87']

export async function counts(c: Config = config): Promise<Record<string, number>> {
  const [row] = await db<Record<string, string>>(`SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ')}`, c)
  return Object.fromEntries(TABLES.map((t) => [t, Number(row[t])]))
}

export async function alembicVersion(): Promise<string> {
  const rows = await db<{ version_num: string }>('SELECT version_num FROM alembic_version')
  return rows.map((r) => r.version_num).join(',')
}

/**
 * What the database holds: each table's rows (a checksum) and each sequence's position, so a
 * TRUNCATE, an insert or a RESTART IDENTITY shows. (PostgreSQL's statistics are not used: the app's
 * idle workers flush theirs seconds late.)
 */
export async function writeStats(): Promise<string> {
  const [row] = await db<Record<string, string>>(
    `SELECT ${TABLES.map((t) => `(SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x) AS ${t}`).join(', ')},
            (SELECT string_agg(c.relname || '=' || s.last_value, ',' ORDER BY c.relname) FROM pg_sequences s JOIN pg_class c ON c.relname = s.sequencename) AS sequences`,
  )
  return JSON.stringify(row)
}

export async function redis(c: Config = config, dbIndex = c.redis.db): Promise<Redis> {
  const port = (await targetOf(c).instance(c.services.redis)).ports['6379/tcp']
  const client = new Redis({ host: '127.0.0.1', port, db: dbIndex, password: c.redis.password || undefined, lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  return client
}

export async function withRedisClient<T>(use: (r: Redis) => Promise<T>, c: Config = config, dbIndex?: number): Promise<T> {
  const r = await redis(c, dbIndex)
  try {
    return await use(r)
  } finally {
    r.disconnect()
  }
}

export const dbsize = () => withRedisClient((r) => r.dbsize())
/** The keys but the broker's own (_kombu.* bindings, unacked*), which workers change as they stop and start. */
export const appKeys = async () => (await withRedisClient((r) => r.keys('*'))).filter((k) => !/^(_kombu\.|unacked)/.test(k)).sort()

/** Every key with its type and value, set members sorted: what a restore must bring back. */
export function redisContent(): Promise<string[][]> {
  return withRedisClient(async (r) => {
    const keys = (await r.keys('*')).sort()
    return Promise.all(
      keys.map(async (k) => {
        const type = await r.type(k)
        const value =
          type === 'string' ? await r.get(k)
          : type === 'list' ? await r.lrange(k, 0, -1)
          : type === 'set' ? (await r.smembers(k)).sort()
          : type === 'hash' ? await r.hgetall(k)
          : type === 'zset' ? await r.zrange(k, '0', '-1', 'WITHSCORES')
          : type
        return [k, type, JSON.stringify(value)]
      }),
    )
  })
}

// ---- the log ----

export const logFile = config.logFile
export const logText = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
export const logSize = () => (existsSync(logFile) ? statSync(logFile).size : -1)

// ---- a dirty stack ----

export const STALE_LINE = 'STALE-LINE-FROM-BEFORE-THE-RESET'

/** Rows in every table, Redis keys of every kind the app writes, lines in the log. */
export async function seedDirty(rowsPerCampaign = 5): Promise<void> {
  const tag = Math.random().toString(36).slice(2, 8)
  await db(`
    INSERT INTO users (id, email, hashed_password, full_name) VALUES ('u-${tag}', 'old-${tag}@example.com', '\\x00', 'Old User');
    INSERT INTO organizations (id, name) VALUES ('o-${tag}', 'Old Org');
    INSERT INTO campaigns (id, organization_id, name, status, "totalRecords") VALUES
      ('c1-${tag}', 'o-${tag}', 'old running', 'RUNNING', ${rowsPerCampaign}),
      ('c2-${tag}', 'o-${tag}', 'old paused', 'PAUSED', ${rowsPerCampaign});
    INSERT INTO leads (id, campaign_id, email)
      SELECT 'l-${tag}-' || g, 'c1-${tag}', 'lead-${tag}-' || g || '@example.com' FROM generate_series(1, ${rowsPerCampaign}) g;
    INSERT INTO jobs (task_id, name, job_type, status, campaign_id)
      SELECT 't-${tag}-' || g, 'old job', 'ENRICH_LEAD', 'PROCESSING', 'c1-${tag}' FROM generate_series(1, ${rowsPerCampaign}) g;
  `)
  await withRedisClient(async (r) => {
    const p = r.pipeline()
    // (no message in the `celery` queue here: a worker would take it at once; see the stale-work test)
    p.set(`celery-task-meta-${tag}`, '{"status": "SUCCESS"}')
    for (const s of ['perplexity', 'openai', 'apollo', 'instantly', 'millionverifier']) {
      p.set(`circuit_breaker:${s}`, JSON.stringify({ state: 'open', opened_at: new Date().toISOString(), metadata: {} }))
      p.set(`circuit_failures:${s}`, '7')
      p.set(`queue_paused:${s}`, '1')
    }
    p.set('mock_apify:dataset_loaded', '1')
    p.rpush('mock_apify:dataset_working:list', 'stale-lead-1', 'stale-lead-2')
    await p.exec()
  })
  appendFileSync(logFile, `${new Date().toISOString()} INFO ${STALE_LINE}\n`)
}
