// Redis access: ioredis to a port on this machine (REDIS_URL, the published port, or a
// port-forward), or redis-cli inside the redis instance, with the app's credentials. A session
// that is to destroy must show that the server is this project's. Deletion by pattern is SCAN +
// UNLINK in batches, never KEYS, and stops between batches when the run is interrupted.
import type { Kv } from './kv.ts'
import { redisUrlParts } from '../config/config.ts'
import { ClientKv } from './redis-client.ts'
import { CliKv } from './redis-cli.ts'
import { choosePath, using, type OpenOptions, type Reach } from './reach.ts'

export type { Kv } from './kv.ts'

export function openRedis(r: Reach, opts: OpenOptions = {}): Promise<Kv> {
  const { config } = r
  return choosePath<Kv>(r, 'redis', {
    viaUrl: (url) => {
      const parts = redisUrlParts(url)
      return ClientKv.open(
        r,
        { url, auth: !parts.username && !parts.password },
        `REDIS_URL (host ${parts.host ?? 'a local socket'}, db ${parts.db})`,
        parts.db,
        null,
        parts.host,
        opts,
      )
    },
    viaEndpoint: (ep) => {
      const via =
        ep.kind === 'forwarded'
          ? `redis client through a port-forward to ${ep.instance?.name}, db ${config.redis.db}`
          : `redis client to ${ep.host}:${ep.port} db ${config.redis.db}`
      return ClientKv.open(
        r,
        { host: ep.host, port: ep.port, db: config.redis.db, auth: true },
        via,
        config.redis.db,
        ep,
        ep.host,
        opts,
      )
    },
    viaExec: () => CliKv.open(r),
  })
}

/** Open, use, always close. */
export const withRedis = <T>(r: Reach, use: (kv: Kv) => Promise<T>, opts: OpenOptions = {}): Promise<T> =>
  using(openRedis(r, opts), use)
