// How the suite reaches PostgreSQL and Redis: a URL of its own (DATABASE_URL, REDIS_URL), else the
// port the target publishes or forwards, else a client run inside the server's own instance —
// the same order for both servers. What a module needs to reach them is a Reach, not the whole run.
import type { Config } from '../config/config.ts'
import type { Endpoint, Target } from '../targets/target.ts'
import { RefusedError, UnreachableError } from '../util/errors.ts'

export interface Reach {
  config: Config
  target: Target
  /** Aborted by Ctrl-C or SIGTERM: every query, command and batch loop checks it. */
  signal: AbortSignal
  /** Statements and commands that change something are printed, not run. */
  dryRun: boolean
}

export interface OpenOptions {
  /** The session will destroy data: the server must be shown to be this project's, or the run is refused. */
  destructive?: boolean
}

/** Where each server's settings are: the URL and access keys, its service and port. */
const SERVERS = {
  database: {
    urlKey: 'DATABASE_URL',
    accessKey: 'DB_ACCESS',
    port: 5432,
    url: (c: Config) => c.database.url,
    access: (c: Config) => c.database.access,
    service: (c: Config) => c.services.postgres,
  },
  redis: {
    urlKey: 'REDIS_URL',
    accessKey: 'REDIS_ACCESS',
    port: 6379,
    url: (c: Config) => c.redis.url,
    access: (c: Config) => c.redis.access,
    service: (c: Config) => c.services.redis,
  },
} as const

export interface Ways<T> {
  viaUrl(url: string): Promise<T>
  viaEndpoint(endpoint: Endpoint): Promise<T>
  /** A client inside the service's instance (psql, redis-cli). */
  viaExec(): Promise<T>
}

/**
 * Opens the first way in that the configuration allows — the URL, the port, or exec — and makes
 * any failure but a refusal or an interruption an UnreachableError (what cannot be reached cannot
 * be shown to be this project's).
 */
export function choosePath<T>(r: Reach, server: keyof typeof SERVERS, ways: Ways<T>): Promise<T> {
  const s = SERVERS[server]
  return opening(r, async () => {
    r.signal.throwIfAborted()
    const url = s.url(r.config)
    if (url) return ways.viaUrl(url)
    const access = s.access(r.config)
    if (access !== 'exec') {
      const endpoint = await r.target.endpoint(s.service(r.config), s.port)
      if (endpoint) return ways.viaEndpoint(endpoint)
      if (access === 'port')
        throw new Error(
          `service ${s.service(r.config)} publishes no port for ${s.port}; publish it in the compose file, set ` +
            `${s.urlKey}, or set ${s.accessKey}=exec`,
        )
    }
    return ways.viaExec()
  })
}

/** A client run inside a service's instance: how it is reached, and why the server is this project's. */
export async function inside(
  r: Reach,
  service: string,
  client: string,
): Promise<{ name: string; via: string; server: string }> {
  const c = await r.target.instance(service)
  return {
    name: c.name,
    via: `${client} in container ${c.name}`,
    server: `${c.name}, an instance of ${service} in ${r.target.describe()} (${client} runs inside it)`,
  }
}

/** Opens a connection; any failure but a refusal or an interruption says the server cannot be reached. */
export async function opening<T>(r: Reach, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect()
  } catch (e) {
    if (e instanceof RefusedError || r.signal.aborted || e instanceof UnreachableError) throw e
    throw new UnreachableError((e as Error).message)
  }
}

/** Open, use, always close. */
export async function using<K extends { close(): Promise<void> }, T>(
  open: Promise<K>,
  use: (k: K) => Promise<T>,
): Promise<T> {
  const k = await open
  try {
    return await use(k)
  } finally {
    await k.close()
  }
}
