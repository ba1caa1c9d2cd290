// Whether a server the suite reached is this project's: shared by PostgreSQL and Redis, and by
// the way connections fail (a server that cannot be reached cannot be shown to be ours).
import type { Ctx } from '../run/context.ts'
import { RefusedError, UnreachableError } from '../run/errors.ts'
import { out } from '../util/output.ts'
import type { Endpoint } from '../targets/target.ts'

export interface OpenOptions {
  /** The session will destroy data: the server must be shown to be this project's, or the run is refused. */
  destructive?: boolean
}

/** Opens a connection; any failure but a refusal or an interruption says the server cannot be reached. */
export async function opening<T>(ctx: Ctx, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect()
  } catch (e) {
    if (e instanceof RefusedError || ctx.signal.aborted || e instanceof UnreachableError) throw e
    throw new UnreachableError((e as Error).message)
  }
}

export interface Answer {
  /** The service whose instances the server must be one of. */
  service: string
  /** "database fastapi_k8_proto", "the Redis server (db 0)" */
  subject: string
  /** The address the server answered on (inet_server_addr(), CLIENT INFO's laddr); null when unknown. */
  addr: string | null
  endpoint: Endpoint | null
  /** The host the suite connected to. */
  host: string | null
}

/**
 * Why the server is this project's: its address is one of the service's instances (a published
 * port reaches the container on its own address), the tunnel leads to the instance this run chose,
 * or SAFE_HOSTS names it. A destructive session is refused otherwise, unless ALLOW_PRODUCTION
 * names the database.
 */
export async function identify(ctx: Ctx, a: Answer, opts: OpenOptions): Promise<{ server: string; ours: boolean }> {
  const { config, target } = ctx
  if (a.endpoint?.kind === 'forwarded') return { server: `${a.endpoint.instance?.name ?? 'the chosen instance'} (through a port-forward this run opened)`, ours: true }
  const instances = (await target.instances()).filter((i) => i.service === a.service)
  const mine = instances.find((i) => a.addr && i.addresses.includes(a.addr))
  if (mine) return { server: `${mine.name} (${a.addr}), an instance of ${a.service} in ${target.describe()}`, ours: true }
  const safe = config.safeHosts.find((h) => h === a.host || h === a.addr)
  if (safe) return { server: `${a.addr ?? 'a server'} at ${a.host}, which SAFE_HOSTS names (${safe})`, ours: true }
  const known = instances.length ? ` (${instances.map((i) => `${i.name}: ${i.addresses.join(', ') || 'no address'}`).join('; ')})` : ''
  const why = `the server answering${a.host ? ` at ${a.host}` : ''} has address ${a.addr ?? 'unknown (a local socket)'}, which is not an address of ${a.service} in ${target.describe()}${known}`
  if (!opts.destructive) return { server: `${a.addr ?? 'unknown'} (not shown to be this project's: ${why})`, ours: false }
  const db = config.postgres.db
  if (config.allowProduction && config.allowProduction === db) {
    out.warn(`ALLOW_PRODUCTION=${db}: going ahead although ${why}`)
    return { server: `${a.addr ?? 'unknown'} (ALLOW_PRODUCTION=${db})`, ours: false }
  }
  throw new RefusedError(`cannot show that ${a.subject} is this project's: ${why}. Nothing was changed. If that server is yours, add its host to SAFE_HOSTS; to go ahead anyway, set ALLOW_PRODUCTION=${db}.`)
}
