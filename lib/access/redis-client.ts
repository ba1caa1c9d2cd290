// Redis through ioredis, to a port on this machine: REDIS_URL, the published port or a port-forward.
import { Redis, type RedisOptions } from 'ioredis'
import type { Endpoint } from '../targets/target.ts'
import { out } from '../util/output.ts'
import { identify } from './identity.ts'
import { field, FLUSH_KEEPING, parseKeyspace, SCAN_COUNT, type Kv } from './kv.ts'
import type { OpenOptions, Reach } from './reach.ts'

type Where = ({ url: string } | { host: string; port: number; db: number }) & {
  /** use the app's REDIS_USERNAME/REDIS_PASSWORD */ auth: boolean
}

export class ClientKv implements Kv {
  server = ''
  ours = false

  private constructor(
    private r: Reach,
    readonly client: Redis,
    readonly via: string,
    readonly db: number,
    private endpoint: Endpoint | null,
  ) {}

  static async open(
    r: Reach,
    where: Where,
    via: string,
    db: number,
    endpoint: Endpoint | null,
    host: string | null,
    opts: OpenOptions,
  ): Promise<Kv> {
    const { config } = r
    const { username, password } = config.redis
    const options: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 5000,
      commandTimeout: config.redis.timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      connectionName: `reset-and-test-${process.pid}`,
      ...(where.auth && username ? { username } : {}),
      ...(where.auth && password ? { password } : {}),
    }
    const client =
      'url' in where
        ? new Redis(where.url, options)
        : new Redis({ host: where.host, port: where.port, db: where.db, ...options })
    client.on('error', () => {}) // surfaced by the command that fails
    const kv = new ClientKv(r, client, via, db, endpoint)
    try {
      await client.connect()
    } catch (e) {
      await kv.close()
      const why = (e as Error).message
      const hint = /NOAUTH|WRONGPASS|AUTH/i.test(why)
        ? "Check REDIS_PASSWORD (and REDIS_USERNAME) in the app's .env."
        : `Is the ${config.services.redis} service running and healthy?`
      throw new Error(`cannot connect to Redis (${via}): ${why}. ${hint}`)
    }
    try {
      const [, laddr] = /(?:^| )laddr=(\S+):\d+(?: |$)/.exec(String(await client.call('CLIENT', 'INFO'))) ?? []
      const addr = laddr?.replace(/^\[|\]$/g, '') ?? null
      Object.assign(
        kv,
        await identify(
          r,
          { service: config.services.redis, subject: `the Redis server (db ${db})`, addr, endpoint, host },
          opts,
        ),
      )
      return kv
    } catch (e) {
      await kv.close()
      throw e
    }
  }

  async ping() {
    await this.client.ping()
  }

  async info() {
    const info = await this.client.info('server')
    return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
  }

  dbsize() {
    return this.client.dbsize()
  }

  async keyspace() {
    return parseKeyspace(await this.client.info('keyspace'))
  }

  async flush(mode: 'flushall' | 'flushdb', keep: string[]) {
    if (this.r.dryRun)
      return (
        void out.info(
          `[dry-run] would send: ${mode.toUpperCase()} ASYNC${keep.length ? `, keeping ${keep.join(', ')}` : ''} ` +
            `(${this.via})`,
        ),
        0
      )
    this.r.signal.throwIfAborted()
    return Number(await this.client.eval(FLUSH_KEEPING, 0, mode.toUpperCase(), ...keep))
  }

  /** SCAN batches of one pattern; the interruption is checked between batches (a batch sent completes). */
  private async scan(pattern: string, onBatch: (keys: Buffer[]) => Promise<void>) {
    let cursor = '0'
    do {
      this.r.signal.throwIfAborted()
      const [next, keys] = await this.client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
      cursor = String(next)
      if (keys.length) await onBatch(keys)
    } while (cursor !== '0')
  }

  async countByPatterns(patterns: string[]) {
    const counts: Record<string, number> = {}
    for (const p of patterns) {
      const seen = new Set<string>() // SCAN may return a key twice
      await this.scan(p, async (keys) => keys.forEach((k) => seen.add(k.toString('base64'))))
      counts[p] = seen.size
    }
    return counts
  }

  async deleteByPatterns(patterns: string[]) {
    if (this.r.dryRun) {
      out.info(`[dry-run] would SCAN + UNLINK in batches of ${SCAN_COUNT}: ${patterns.join(', ')}`)
      return this.countByPatterns(patterns)
    }
    const removed: Record<string, number> = {}
    for (const p of patterns) {
      removed[p] = 0
      await this.scan(p, async (keys) => void (removed[p] += await this.client.unlink(...keys)))
    }
    return removed
  }

  mget(keys: string[]) {
    return this.client.mget(...keys)
  }

  llen(key: string) {
    return this.client.llen(key)
  }

  async close() {
    await this.client.quit().catch(() => this.client.disconnect())
    await this.endpoint?.close()
  }
}
