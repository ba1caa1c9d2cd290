// Redis access: ioredis to a port on this machine (REDIS_URL, the published port, or a
// port-forward), or redis-cli inside the redis instance, with the app's credentials (redis-cli
// gets the password through REDISCLI_AUTH, never on a command line). A session that is to destroy
// must show that the server is this project's. Deletion by pattern is SCAN + UNLINK in batches,
// never KEYS, and stops between batches when the run is interrupted.
import { Redis, type RedisOptions } from 'ioredis'
import { redisUrlParts } from '../config/config.ts'
import type { Ctx } from '../run/context.ts'
import { identify, opening, type OpenOptions } from './identity.ts'
import { out } from '../util/output.ts'
import { showCommand } from '../util/command.ts'
import type { Endpoint } from '../targets/target.ts'

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
  /** FLUSHALL ASYNC or FLUSHDB ASYNC; a dry run prints it. */
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

export async function openRedis(ctx: Ctx, opts: OpenOptions = {}): Promise<Kv> {
  return opening(ctx, () => connect(ctx, opts))
}

async function connect(ctx: Ctx, opts: OpenOptions): Promise<Kv> {
  const { config, target } = ctx
  ctx.signal.throwIfAborted()
  if (config.redisUrl) {
    const url = redisUrlParts(config.redisUrl)
    const client = new Redis(config.redisUrl, clientOptions(ctx, url.username || url.password ? {} : auth(ctx)))
    return clientKv(ctx, client, `REDIS_URL (host ${url.host ?? 'a local socket'}, db ${url.db})`, url.db, null, url.host, opts)
  }
  if (config.redisAccess !== 'exec') {
    const ep = await target.endpoint(config.services.redis, 6379)
    if (ep) {
      const via = ep.kind === 'forwarded' ? `redis client through a port-forward to ${ep.instance?.name}, db ${config.redisDb}` : `redis client to ${ep.host}:${ep.port} db ${config.redisDb}`
      const client = new Redis({ host: ep.host, port: ep.port, db: config.redisDb, ...clientOptions(ctx, auth(ctx)) })
      return clientKv(ctx, client, via, config.redisDb, ep, ep.host, opts)
    }
    if (config.redisAccess === 'port') {
      throw new Error(`service ${config.services.redis} publishes no port for 6379; publish it, set REDIS_URL, or set REDIS_ACCESS=exec`)
    }
  }
  return cliKv(ctx)
}

/** The app's Redis credentials, for a connection that has none of its own. */
function auth(ctx: Ctx): Pick<RedisOptions, 'username' | 'password'> {
  const { username, password } = ctx.config.redisAuth
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) }
}

function clientOptions(ctx: Ctx, extra: RedisOptions): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: ctx.config.redisTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectionName: `reset-and-test-${process.pid}`,
    ...extra,
  }
}

async function clientKv(ctx: Ctx, client: Redis, via: string, db: number, endpoint: Endpoint | null, host: string | null, opts: OpenOptions): Promise<Kv> {
  client.on('error', () => {}) // surfaced by the command that fails
  const close = async () => {
    await client.quit().catch(() => client.disconnect())
    await endpoint?.close()
  }
  try {
    await client.connect()
  } catch (e) {
    client.disconnect()
    await endpoint?.close()
    const why = (e as Error).message
    const hint = /NOAUTH|WRONGPASS|AUTH/i.test(why) ? "Check REDIS_PASSWORD (and REDIS_USERNAME) in the app's .env." : `Is the ${ctx.config.services.redis} service running and healthy?`
    throw new Error(`cannot connect to Redis (${via}): ${why}. ${hint}`)
  }
  try {
    const [, laddr] = /(?:^| )laddr=(\S+):\d+(?: |$)/.exec(String(await client.call('CLIENT', 'INFO'))) ?? []
    const { server, ours } = await identify(ctx, { service: ctx.config.services.redis, subject: `the Redis server (db ${db})`, addr: laddr?.replace(/^\[|\]$/g, '') ?? null, endpoint, host }, opts)
    const dry = ctx.options.dryRun
    const scan = async (pattern: string, onBatch: (keys: string[]) => Promise<void>) => {
      let cursor = '0'
      do {
        ctx.signal.throwIfAborted() // between batches: a batch already sent completes
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
        cursor = next
        if (keys.length) await onBatch(keys)
      } while (cursor !== '0')
    }
    const kv: Kv = {
      via,
      server,
      ours,
      db,
      client,
      ping: async () => void (await client.ping()),
      async info() {
        const info = await client.info('server')
        return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
      },
      dbsize: () => client.dbsize(),
      keyspace: async () => parseKeyspace(await client.info('keyspace')),
      async flush(mode) {
        if (dry) return out.info(`[dry-run] would send: ${mode.toUpperCase()} ASYNC (${via})`)
        ctx.signal.throwIfAborted()
        if (mode === 'flushall') await client.flushall('ASYNC')
        else await client.flushdb('ASYNC')
      },
      async countByPatterns(patterns) {
        const counts: Record<string, number> = {}
        for (const p of patterns) {
          const seen = new Set<string>() // SCAN may return a key twice
          await scan(p, async (keys) => keys.forEach((k) => seen.add(k)))
          counts[p] = seen.size
        }
        return counts
      },
      async deleteByPatterns(patterns) {
        if (dry) {
          out.info(`[dry-run] would SCAN + UNLINK in batches of ${SCAN_COUNT}: ${patterns.join(', ')}`)
          return kv.countByPatterns(patterns)
        }
        const removed: Record<string, number> = {}
        for (const p of patterns) {
          removed[p] = 0
          await scan(p, async (keys) => {
            removed[p] += await client.unlink(...keys)
          })
        }
        return removed
      },
      mget: (keys) => client.mget(...keys),
      close,
    }
    return kv
  } catch (e) {
    await close()
    throw e
  }
}

async function cliKv(ctx: Ctx): Promise<Kv> {
  const { config, target } = ctx
  const container = await target.instance(config.services.redis)
  const db = String(config.redisDb)
  // The password reaches redis-cli through its environment, never its command line.
  const env = config.redisAuth.password ? { REDISCLI_AUTH: config.redisAuth.password } : undefined
  const user = config.redisAuth.username ? ['--user', config.redisAuth.username] : []
  const cli = async (args: string[], mutates = false) => {
    ctx.signal.throwIfAborted()
    const res = await target.exec(config.services.redis, ['redis-cli', ...user, '-n', db, ...args], { timeoutMs: config.redisTimeoutMs, mutates, env })
    const text = res.stdout.trim()
    if (/^(NOAUTH|WRONGPASS|ERR )/.test(text)) throw new Error(`redis-cli in ${container.name}: ${text}. Check REDIS_PASSWORD (and REDIS_USERNAME) in the app's .env.`)
    return text
  }
  // Runs inside the container: names reach the shell through its environment, never pasted. It
  // is tracked, so an interrupted run stops it inside the container too, between two batches.
  const SCAN = 'set -- -n "$RT_DB"; [ -n "$RT_USER" ] && set -- --user "$RT_USER" "$@"; redis-cli "$@" --scan --pattern "$RT_PATTERN"'
  const scanPipe = async (pattern: string, action: 'count' | 'unlink') => {
    const command = action === 'count' ? `${SCAN} | sort -u | wc -l` : `${SCAN} | xargs -r -d "\\n" -n 1000 redis-cli "$@" UNLINK | awk '{s+=$1} END {print s+0}'`
    const res = await target.execTracked(config.services.redis, command, {
      timeoutMs: config.commandTimeoutMs,
      env: { ...env, RT_PATTERN: pattern, RT_DB: db, RT_USER: config.redisAuth.username },
    })
    if (res.stopped !== undefined) throw new Error(`SCAN of ${pattern} in ${container.name} did not finish within COMMAND_TIMEOUT; ${res.stopped}`)
    if (res.code !== 0) throw new Error(`SCAN of ${pattern} in ${container.name} failed: ${(res.stderr || res.stdout).trim()}`)
    return res
  }
  const kv: Kv = {
    via: `redis-cli in container ${container.name} db ${db}`,
    server: `${container.name}, an instance of ${config.services.redis} in ${target.describe()} (redis-cli runs inside it)`,
    ours: true,
    db: config.redisDb,
    client: null,
    async ping() {
      const pong = await cli(['PING'])
      if (pong !== 'PONG') throw new Error(`redis-cli PING answered ${JSON.stringify(pong)}`)
    },
    async info() {
      const info = await cli(['INFO', 'server'])
      return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
    },
    dbsize: async () => Number(await cli(['DBSIZE'])),
    keyspace: async () => parseKeyspace(await cli(['INFO', 'keyspace'])),
    async flush(mode) {
      await cli([mode.toUpperCase(), 'ASYNC'], true)
    },
    async countByPatterns(patterns) {
      const counts: Record<string, number> = {}
      for (const p of patterns) counts[p] = Number((await scanPipe(p, 'count')).stdout.trim())
      return counts
    },
    async deleteByPatterns(patterns) {
      if (ctx.options.dryRun) {
        out.info(`[dry-run] would run in ${container.name}: ${showCommand(['redis-cli', '--scan', '--pattern', '<pattern>'])} | UNLINK in batches: ${patterns.join(', ')}`)
        return kv.countByPatterns(patterns)
      }
      const removed: Record<string, number> = {}
      for (const p of patterns) {
        ctx.signal.throwIfAborted()
        removed[p] = Number((await scanPipe(p, 'unlink')).stdout.trim())
      }
      return removed
    },
    async mget(keys) {
      const lua = "return cjson.encode(redis.call('MGET', unpack(KEYS)))" // nil comes back as false
      const values = JSON.parse(await cli(['EVAL', lua, String(keys.length), ...keys])) as (string | false)[]
      return values.map((v) => (v === false ? null : v))
    },
    close: async () => {},
  }
  return kv
}

export function field(info: string, name: string): string {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? ''
}

/** "db0:keys=12,expires=0,avg_ttl=0" lines of INFO keyspace. */
export function parseKeyspace(info: string): { db: number; keys: number }[] {
  return [...info.matchAll(/^db(\d+):keys=(\d+)/gm)].map((m) => ({ db: Number(m[1]), keys: Number(m[2]) }))
}

export type { OpenOptions }

/** Open, use, always close. */
export async function withRedis<T>(ctx: Ctx, use: (kv: Kv) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
  const kv = await openRedis(ctx, opts)
  try {
    return await use(kv)
  } finally {
    await kv.close()
  }
}
