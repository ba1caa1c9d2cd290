// Redis access: ioredis to the host-published port (or REDIS_URL), falling back to redis-cli
// inside the redis container. Deletion by pattern is SCAN + UNLINK in batches, never KEYS.
import { Redis } from 'ioredis'
import type { Ctx } from './main.ts'
import { out } from './output.ts'
import { showCommand } from './run.ts'

export const SCAN_COUNT = 1000

export interface Kv {
  via: string
  host: string | null
  ping(): Promise<void>
  /** Server version and run_id: the identity of the server the suite talks to. */
  server(): Promise<{ version: string; runId: string }>
  dbsize(): Promise<number>
  /** FLUSHALL ASYNC or FLUSHDB ASYNC; a dry run prints it. */
  flush(mode: 'flushall' | 'flushdb'): Promise<void>
  /** Keys matching each pattern, counted with SCAN. */
  countByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** SCAN + UNLINK per pattern; returns keys removed per pattern. A dry run only counts. */
  deleteByPatterns(patterns: string[]): Promise<Record<string, number>>
  /** The client, when the suite talks to the port (backups need it). */
  client: Redis | null
  close(): Promise<void>
}

export async function openRedis(ctx: Ctx): Promise<Kv> {
  const { config } = ctx
  if (config.redisUrl) return clientKv(ctx, new Redis(config.redisUrl, clientOptions(ctx)), 'REDIS_URL')
  const compose = await ctx.compose()
  if (config.redisAccess !== 'exec') {
    const port = await compose.publishedPort(config.services.redis, 6379)
    if (port) return clientKv(ctx, new Redis({ host: '127.0.0.1', port, db: config.redisDb, ...clientOptions(ctx) }), `redis client to 127.0.0.1:${port} db ${config.redisDb}`)
    if (config.redisAccess === 'port') {
      throw new Error(`service ${config.services.redis} publishes no port for 6379; publish it, set REDIS_URL, or set REDIS_ACCESS=exec`)
    }
  }
  return cliKv(ctx)
}

function clientOptions(ctx: Ctx) {
  return {
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: ctx.config.redisTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  }
}

async function clientKv(ctx: Ctx, client: Redis, via: string): Promise<Kv> {
  client.on('error', () => {}) // surfaced by the command that fails
  try {
    await client.connect()
  } catch (e) {
    client.disconnect()
    throw new Error(`cannot connect to Redis (${via}): ${(e as Error).message}. Is the ${ctx.config.services.redis} service running and healthy?`)
  }
  const dry = ctx.options.dryRun
  const scan = async (pattern: string, onBatch: (keys: string[]) => Promise<void>) => {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
      cursor = next
      if (keys.length) await onBatch(keys)
    } while (cursor !== '0')
  }
  const kv: Kv = {
    via,
    host: client.options.host ?? null,
    client,
    ping: async () => void (await client.ping()),
    async server() {
      const info = await client.info('server')
      return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
    },
    dbsize: () => client.dbsize(),
    async flush(mode) {
      if (dry) return out.info(`[dry-run] would send: ${mode.toUpperCase()} ASYNC (${via})`)
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
    close: async () => {
      await client.quit().catch(() => client.disconnect())
    },
  }
  return kv
}

async function cliKv(ctx: Ctx): Promise<Kv> {
  const { config } = ctx
  const compose = await ctx.compose()
  const container = await compose.container(config.services.redis)
  const db = String(config.redisDb)
  const cli = async (args: string[], mutates = false) =>
    (await compose.exec(config.services.redis, ['redis-cli', '-n', db, ...args], { timeoutMs: config.redisTimeoutMs, mutates })).stdout.trim()
  // Runs inside the container: names reach the shell as positional parameters, never pasted.
  const scanPipe = (pattern: string, action: 'count' | 'unlink') =>
    compose.exec(config.services.redis, [
      'sh',
      '-c',
      action === 'count'
        ? 'redis-cli -n "$1" --scan --pattern "$2" | sort -u | wc -l'
        : 'redis-cli -n "$1" --scan --pattern "$2" | xargs -r -d "\\n" -n 1000 redis-cli -n "$1" UNLINK | awk \'{s+=$1} END {print s+0}\'',
      'sh',
      db,
      pattern,
    ], { timeoutMs: config.commandTimeoutMs })
  const kv: Kv = {
    via: `redis-cli in container ${container.name} db ${db}`,
    host: null,
    client: null,
    async ping() {
      const pong = await cli(['PING'])
      if (pong !== 'PONG') throw new Error(`redis-cli PING answered ${JSON.stringify(pong)}`)
    },
    async server() {
      const info = await cli(['INFO', 'server'])
      return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
    },
    dbsize: async () => Number(await cli(['DBSIZE'])),
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
      for (const p of patterns) removed[p] = Number((await scanPipe(p, 'unlink')).stdout.trim())
      return removed
    },
    close: async () => {},
  }
  return kv
}

export function field(info: string, name: string): string {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? ''
}

/** Open, use, always close. */
export async function withRedis<T>(ctx: Ctx, use: (kv: Kv) => Promise<T>): Promise<T> {
  const kv = await openRedis(ctx)
  try {
    return await use(kv)
  } finally {
    await kv.close()
  }
}
