// How the suite reaches PostgreSQL and Redis: a URL of its own (DATABASE_URL, REDIS_URL), else the
// port the target publishes or forwards, else a client run inside the server's own instance —
// the same order for both servers. What a module needs to reach them is a Reach, not the whole run.
import type { AccessMode, Config } from '../config/config.ts'
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

export interface PathSpec<T> {
  /** DATABASE_URL or REDIS_URL, and its value ('' when unset). */
  urlKey: string
  url: string
  /** DB_ACCESS or REDIS_ACCESS, and its value. */
  accessKey: string
  access: AccessMode
  service: string
  port: number
  viaUrl(url: string): Promise<T>
  viaEndpoint(endpoint: Endpoint): Promise<T>
  /** A client inside the service's instance (psql, redis-cli). */
  viaExec(): Promise<T>
}

/** The first way in that the configuration allows: the URL, the port, or exec. */
export async function choosePath<T>(r: Reach, p: PathSpec<T>): Promise<T> {
  r.signal.throwIfAborted()
  if (p.url) return p.viaUrl(p.url)
  if (p.access !== 'exec') {
    const endpoint = await r.target.endpoint(p.service, p.port)
    if (endpoint) return p.viaEndpoint(endpoint)
    if (p.access === 'port') throw new Error(`service ${p.service} publishes no port for ${p.port}; publish it in the compose file, set ${p.urlKey}, or set ${p.accessKey}=exec`)
  }
  return p.viaExec()
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
export async function using<K extends { close(): Promise<void> }, T>(open: Promise<K>, use: (k: K) => Promise<T>): Promise<T> {
  const k = await open
  try {
    return await use(k)
  } finally {
    await k.close()
  }
}
