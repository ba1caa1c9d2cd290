// Whether a server the suite reached is this project's: shared by PostgreSQL and Redis. A
// destructive session to a server not shown to be the project's is refused.
import { RefusedError } from '../util/errors.ts'
import { out } from '../util/output.ts'
import type { Endpoint } from '../targets/target.ts'
import type { OpenOptions, Reach } from './reach.ts'

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
  /**
   * PostgreSQL: the database actually reached, which ALLOW_PRODUCTION must name. Redis: none (ALLOW_PRODUCTION never
   * waives it).
   */
  database?: string
}

/**
 * Why the server is this project's: its address is one of the service's instances (a published
 * port reaches the container on its own address), the tunnel leads to the instance this run chose,
 * or SAFE_HOSTS names it. A destructive session is refused otherwise — for PostgreSQL unless
 * ALLOW_PRODUCTION names the database actually reached; for Redis always.
 */
export async function identify(r: Reach, a: Answer, opts: OpenOptions): Promise<{ server: string; ours: boolean }> {
  const { config, target } = r
  if (a.endpoint?.kind === 'forwarded')
    return {
      server: `${a.endpoint.instance?.name ?? 'the chosen instance'} (through a port-forward this run opened)`,
      ours: true,
    }
  // The latest listing: a command that changes containers drops it, so addresses are current.
  const instances = (await target.current()).filter((i) => i.service === a.service)
  const mine = instances.find((i) => a.addr && i.addresses.includes(a.addr))
  if (mine)
    return { server: `${mine.name} (${a.addr}), an instance of ${a.service} in ${target.describe()}`, ours: true }
  const safe = config.safety.safeHosts.find((h) => h === a.host || h === a.addr)
  if (safe) return { server: `${a.addr ?? 'a server'} at ${a.host}, which SAFE_HOSTS names (${safe})`, ours: true }
  const known = instances.length
    ? ` (${instances.map((i) => `${i.name}: ${i.addresses.join(', ') || 'no address'}`).join('; ')})`
    : ''
  const why =
    `the server answering${a.host ? ` at ${a.host}` : ''} has address ` +
    `${a.addr ?? 'unknown (a local socket)'}, which is not an address of ${a.service} in ${target.describe()}${known}`
  if (!opts.destructive)
    return { server: `${a.addr ?? 'unknown'} (not shown to be this project's: ${why})`, ours: false }
  const allow = config.safety.allowProduction
  if (a.database !== undefined && allow && allow === a.database) {
    out.warn(`ALLOW_PRODUCTION=${allow}: going ahead although ${why}`)
    return { server: `${a.addr ?? 'unknown'} (ALLOW_PRODUCTION=${allow})`, ours: false }
  }
  const override =
    a.database !== undefined
      ? `; to go ahead anyway, set ALLOW_PRODUCTION=${a.database} (the database reached)`
      : ' (ALLOW_PRODUCTION does not cover Redis)'
  throw new RefusedError(
    `cannot show that ${a.subject} is this project's: ${why}. Nothing was changed. If that server is yours, add its ` +
      `host to SAFE_HOSTS${override}.`,
  )
}
