// The end-to-end tier's access to the real example stack: run the suite's scripts as a user
// would (a child process, no terminal, CI=true), and look at PostgreSQL, Redis and the log
// directly to check what they did.
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { Redis } from 'ioredis'
import { loadConfig, SUITE_ROOT } from '../../lib/config.ts'
import { Compose, detectCompose, PROJECT_LABEL, SERVICE_LABEL } from '../../lib/compose.ts'
import { createRunner } from '../../lib/run.ts'

/** Environment for every script the tests start: no terminal, CI, the project under test. */
export const ENV: Record<string, string> = {
  ...(process.env as Record<string, string>),
  CI: 'true',
  FORCE_COLOR: '0',
}
export const config = loadConfig({ env: ENV })
export const run = createRunner({ dryRun: false, secrets: config.secrets, defaultTimeoutMs: 600_000 })
const shared = new Compose(run, () => detectCompose(run, config.composeCmd), config)
/** Always a fresh listing: the tests stop and start containers behind the suite's back. */
export const compose = async () => (await shared.containers(), shared)

export interface Outcome {
  code: number
  out: string
}

/** Runs a command from the suite's root with stdin closed; output is kept (and echoed when E2E_VERBOSE=1). */
export function sh(argv: string[], env: Record<string, string> = {}, options: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: SUITE_ROOT, env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const take = (d: Buffer) => {
      out += d.toString()
      if (process.env.E2E_VERBOSE === '1') process.stdout.write(d)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    if (child.pid) options.onSpawn?.(child.pid)
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 900_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      // Passwords never appear in output: checked on every run of every script.
      const leaked = config.secrets.filter((s) => out.includes(s))
      if (leaked.length) return reject(new Error(`a password appeared in the output of ${argv.join(' ')}:\n${out}`))
      resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 128), out })
    })
  })
}

/** ./scripts/<name>.mts with arguments. */
export const script = (name: string, args: string[] = [], env: Record<string, string> = {}, options = {}) =>
  sh(['node', '--import', 'tsx', `scripts/${name}.mts`, ...args], env, options)

export function explain(o: Outcome): string {
  return `exit ${o.code}; output:\n${o.out.split('\n').slice(-60).join('\n')}`
}

// ---- the stack ----

let upOnce: Promise<void> | undefined
/** Brings the stack up and ready, once per test run. */
export function stackUp(): Promise<void> {
  return (upOnce ??= (async () => {
    // `up -d` first: it builds missing images and recreates containers made from another
    // checkout's files (a stale stack would otherwise be tested in place of this one).
    const c = await compose()
    await c.compose(['up', '-d'], { timeoutMs: 1_800_000 })
    const o = await script('assess')
    if (o.code !== 0) throw new Error(`the example stack did not come up: ${explain(o)}`)
  })())
}

export async function container(service: string) {
  return (await compose()).container(service)
}

/** A container that carries the project's labels as if compose had made it: for faults the tests need. */
export async function fakeService(service: string, health: string[]): Promise<string> {
  const res = await run([
    'docker', 'run', '-d', '--label', `${PROJECT_LABEL}=${config.project}`, '--label', `${SERVICE_LABEL}=${service}`,
    '--label', 'com.docker.compose.container-number=99', ...health, 'debian:bookworm-slim', 'sleep', 'infinity',
  ])
  return res.stdout.trim()
}

export async function removeContainer(id: string) {
  await run(['docker', 'rm', '-f', id], { allowFailure: true })
}

// ---- PostgreSQL ----

export async function db<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const port = await (await compose()).publishedPort(config.services.postgres, 5432)
  const client = new pg.Client({ host: '127.0.0.1', port: port!, user: config.postgres.user, password: config.postgres.password, database: config.postgres.db })
  await client.connect()
  try {
    return (await client.query(sql)).rows as T[]
  } finally {
    await client.end()
  }
}

export const TABLES = ['users', 'organizations', 'campaigns', 'leads', 'jobs']

export async function counts(): Promise<Record<string, number>> {
  const [row] = await db<Record<string, string>>(`SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ')}`)
  return Object.fromEntries(TABLES.map((t) => [t, Number(row[t])]))
}

export async function alembicVersion(): Promise<string> {
  const rows = await db<{ version_num: string }>('SELECT version_num FROM alembic_version')
  return rows.map((r) => r.version_num).join(',')
}

/**
 * Inserts and deletes seen by PostgreSQL's statistics, and row counts (TRUNCATE shows only there):
 * a write by the suite shows up here. Updates are left out: the app's idle workers flush theirs late.
 */
export async function writeStats(): Promise<string> {
  const rows = await db<{ relname: string; ins: string; del: string }>(
    `SELECT relname, n_tup_ins AS ins, n_tup_del AS del FROM pg_stat_user_tables ORDER BY relname`,
  )
  return JSON.stringify({ stats: rows, counts: await counts() })
}

// ---- Redis ----

export async function redis(): Promise<Redis> {
  const port = await (await compose()).publishedPort(config.services.redis, 6379)
  const client = new Redis({ host: '127.0.0.1', port: port!, db: config.redisDb, lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  return client
}

export async function withRedisClient<T>(use: (r: Redis) => Promise<T>): Promise<T> {
  const r = await redis()
  try {
    return await use(r)
  } finally {
    r.disconnect()
  }
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
    // (no message in the `celery` queue: a worker would take it at once, and a malformed one kills it)
    p.set('_kombu.binding.celery', 'celery\x06\x16\x06\x16celery')
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

export const dbsize = () => withRedisClient((r) => r.dbsize())

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
