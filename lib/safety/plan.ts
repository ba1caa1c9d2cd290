// The destruction plan: everything a run will destroy, computed once from the live target before
// anything changes. The confirmation, --dry-run and --json show it, --backup saves it, and the
// destructive phases carry it out and nothing else. Every table the truncation reaches — through
// a foreign key, as an inheritance child or a partition — and every trigger that fires on it is
// named; one the configuration does not name refuses the run here.
import {
  countRows,
  lockHolders,
  reachOf,
  resolveTables,
  truncateTriggers,
  type Reached,
  type ResolvedTable,
  type TruncateTrigger,
} from '../access/catalog.ts'
import { DbError, withDatabase, type Database } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import { withRedis } from '../access/redis.ts'
import { LOCK_NOT_AVAILABLE, showCount } from '../access/sql.ts'
import { PRODUCTION_VALUE, type Config } from '../config/config.ts'
import type { PlannedContainers, RestartMode } from '../modes/index.ts'
import { RefusedError, SuiteError, UnreachableError } from '../util/errors.ts'
import { EXIT, type ExitCode } from '../util/exits.ts'

/** The worker services a run holds, of those present: all of them when it clears the broker. */
export const heldServices = (clearsBroker: boolean, workerServices: string[], present: string[]) =>
  clearsBroker ? workerServices.filter((s) => present.includes(s)) : []

export type Destroys = 'logs' | 'containers' | 'database' | 'redis'

export interface PlannedTable {
  /** schema.table (the configured name for configured tables) */
  name: string
  /** Rows now; a string when counting stopped ("10000+"), was blocked, or the table is foreign. */
  rows: number | string
  /**
   * Named in RESET_TABLES; a partition of a partitioned table the truncation empties (its rows are
   * that table's); or reached otherwise by the truncation and named in CASCADE_TABLES.
   */
  reason: 'configured' | 'partition' | 'reached'
  /**
   * How a reached table is reached: "foreign key a(x) -> b (fk)", "inheritance child of jobs", "partition of events".
   */
  reachedBy?: string
  /** p: a partitioned table, truncated without ONLY (its partitions are in the plan); f: a foreign table. */
  kind?: string
}

export interface PlannedDatabase {
  name: string
  via: string
  /** Which server answered, and why it is this project's: "container p-postgres-1 (172.18.0.2)". */
  server: string
  /** Every table the truncation empties, in order; nothing else is emptied. */
  tables: PlannedTable[]
  /** Triggers that fire on the truncation (named in TRUNCATE_TRIGGERS: any other refuses the run). */
  triggers: TruncateTrigger[]
}

export interface PlannedRedis {
  via: string
  server: string
  mode: 'flushall' | 'flushdb' | 'patterns'
  /** Each database the flush empties, with its key count now. */
  databases: { db: number; keys: number }[]
  /** In patterns mode: each pattern with the keys it matches now. */
  patterns?: { pattern: string; keys: number }[]
  /** Keys a flush puts back as they were (REDIS_KEEP), with how many match now. */
  keep: { pattern: string; keys: number }[]
}

export interface PlannedLog {
  /** As configured. */
  configured: string
  /** What gets emptied: symlinks resolved, or pod:path. */
  where: string
  bytes: number | null
}

export interface DestructionPlan {
  /** The target, and the settings that chose it with where each came from. */
  target: string
  /** The engine or cluster it runs on: endpoint, name, ID. */
  engine: string
  sources: string[]
  log?: PlannedLog
  /** The restart mode's part: what the restart phase does, and how the worker services are held
   *  while the database and Redis are emptied (so that no task message from before the reset
   *  writes into the fresh database). Made when the run restarts containers or holds workers. */
  containers?: PlannedContainers
  database?: PlannedDatabase
  redis?: PlannedRedis
  /** Lines of tasks that describe their own destruction (restore, rollback-db, reset-circuit). */
  tasks: string[]
}

/** What the run will destroy, as the caller works it out from its phases. */
export interface Wanted {
  destroys: Set<Destroys>
  /** Parts a task describes itself (its lines in `tasks`): only the server is checked there. */
  ownLines: Set<Destroys>
  tasks: string[]
  /** The worker services are held stopped while the database and Redis are emptied. */
  holdWorkers: boolean
}

/** A part of the plan that could not be made: its phase's exit code (4 for a missing table, say). */
export class PlanError extends SuiteError {
  constructor(
    message: string,
    exitCode: ExitCode,
    readonly part: string,
  ) {
    super(message, exitCode)
  }
}

/** Does a configured name (table or schema.table) name this schema.table? */
export const names = (configured: string, qualified: string) =>
  configured === qualified || (!configured.includes('.') && qualified.endsWith(`.${configured}`))

/** The lines that say which settings chose the target, and where each came from. */
export function sourceLines(config: Config): string[] {
  const from = (key: keyof Config['sources']) => config.sources[key] ?? 'default'
  const lines = [`app directory ${config.appDir} (${from('APP_DIR')})`]
  if (config.compose) {
    lines.push(`compose project ${config.project} (${from('project')})`)
    lines.push(`compose files ${config.composeFiles.join(', ')} (${from('composeFiles')})`)
  } else
    lines.push(
      `kubernetes context ${config.kube.context} (${from('KUBE_CONTEXT')}), namespace ${config.kube.namespace} ` +
        `(${from('KUBE_NAMESPACE')})`,
    )
  for (const key of [
    'DATABASE_URL',
    'REDIS_URL',
    'LOG_FILE',
    'SERVICES',
    'RESTART_MODE',
    'RESET_TABLES',
    'CASCADE_TABLES',
    'TRUNCATE_TRIGGERS',
  ] as const) {
    if (config.sources[key]) lines.push(`${key} set by ${config.sources[key]}`)
  }
  if (config.safety.ignored.length)
    lines.push(
      `not read (exported for other tools; the suite's own take the RT_ prefix): ${config.safety.ignored.join(', ')}`,
    )
  return lines
}

export async function computePlan(r: Reach, want: Wanted, mode: RestartMode): Promise<DestructionPlan> {
  const { config, target } = r
  const plan: DestructionPlan = {
    target: target.describe(),
    engine: (await target.engine()).line,
    sources: sourceLines(config),
    tasks: want.tasks,
  }
  if (want.destroys.has('logs'))
    plan.log = { configured: config.logFile, where: await target.log.where(), bytes: await target.log.size() }
  const present = ['containers', 'database', 'redis'].some((d) => want.destroys.has(d as Destroys))
    ? (await target.instances()).map((i) => i.service)
    : []
  const holds = heldServices(want.holdWorkers, config.workerServices, present)
  // The parts side by side (Compose's dry runs, the row counts, the keyspace); the first failing one in this order is
  // the answer.
  const [containers, database, redis] = await Promise.allSettled([
    want.destroys.has('containers') || holds.length
      ? part('containers', EXIT.containers, mode.plan(r, holds))
      : undefined,
    want.destroys.has('database')
      ? part('database', EXIT.database, planDatabase(r, !want.ownLines.has('database')))
      : undefined,
    want.destroys.has('redis') ? part('redis', EXIT.redis, planRedis(r, !want.ownLines.has('redis'))) : undefined,
  ])
  // A refusal first (a server that cannot be inspected makes every other part fail too), then the first failure in
  // order.
  const failures = [containers, database, redis].flatMap((s) => (s.status === 'rejected' ? [s.reason] : []))
  if (failures.length) throw failures.find((e) => e instanceof RefusedError) ?? failures[0]
  const value = <T>(settled: PromiseSettledResult<T>) => (settled.status === 'fulfilled' ? settled.value : undefined)
  plan.containers = value(containers)
  plan.database = value(database)
  plan.redis = value(redis)
  return plan
}

/**
 * A part of the plan that fails: a server that cannot be reached cannot be shown to be this
 * project's, so the run is refused (fail closed); any other error is that part's failure.
 */
async function part<T>(name: string, exitCode: ExitCode, computing: Promise<T>): Promise<T> {
  try {
    return await computing
  } catch (e) {
    if (e instanceof UnreachableError)
      throw new RefusedError(
        `${e.message}. Nothing was changed: what cannot be inspected cannot be shown to be this project's.`,
      )
    if (e instanceof SuiteError) throw e
    throw new PlanError((e as Error).message, exitCode, name)
  }
}

/**
 * Rows of each table, each count waiting at most LOCK_TIMEOUT; a blocked count names its blocker; a foreign table is
 * not counted.
 */
async function rowsOf(
  db: Database,
  tables: { name: string; oid: number; kind?: string }[],
): Promise<Record<string, number | string>> {
  const local = tables.filter((t) => t.kind !== 'f')
  const result: Record<string, number | string> = Object.fromEntries(
    tables.filter((t) => t.kind === 'f').map((t) => [t.name, 'rows on another server (not counted)']),
  )
  const shown = (n: number) => (n > 10_000 ? showCount(n) : n)
  try {
    const counts = await countRows(
      db,
      local.map((t) => t.name),
    )
    return { ...result, ...Object.fromEntries(Object.entries(counts).map(([t, n]) => [t, shown(n)])) }
  } catch (e) {
    if (!(e instanceof DbError) || e.code !== LOCK_NOT_AVAILABLE) throw e
  }
  for (const t of local) {
    try {
      result[t.name] = shown((await countRows(db, [t.name]))[t.name])
    } catch (e) {
      if (!(e instanceof DbError) || e.code !== LOCK_NOT_AVAILABLE) throw e
      result[t.name] = `? (locked: ${(await lockHolders(db, [t.oid]))[0] ?? 'by another session'})`
    }
  }
  return result
}

/**
 * A database setting users can set to protect a database: ALTER DATABASE x SET reset_suite.environment = 'production'.
 */
export const DB_MARKER = 'reset_suite.environment'

/**
 * The tables the truncation empties and the triggers it fires, from the live catalog. With
 * `tables` false (a task with its own lines), only the server and its marker are checked.
 */
async function planDatabase(r: Reach, tables: boolean): Promise<PlannedDatabase> {
  return withDatabase(
    r,
    async (db) => {
      await refuseMarked(r, db)
      const planned: PlannedDatabase = { name: db.name, via: db.via, server: db.server, tables: [], triggers: [] }
      if (!tables) return planned
      const configured = await resolveTables(db, r.config.database.tables)
      const reached = await reachOf(db, configured)
      refuseUnnamed(r.config, reached, await rowsOf(db, reached))
      const all: (ResolvedTable | Reached)[] = [...configured, ...reached]
      planned.triggers = await truncateTriggers(
        db,
        all.map((t) => t.oid),
      )
      refuseUnnamedTriggers(r.config, planned.triggers)
      const rows = await rowsOf(db, all)
      planned.tables = [
        ...configured.map((t) => ({
          name: t.name,
          rows: rows[t.name],
          reason: 'configured' as const,
          ...(t.kind !== 'r' ? { kind: t.kind } : {}),
        })),
        ...reached.map((t) => ({
          name: t.name,
          rows: rows[t.name],
          reason: local(t) ? ('partition' as const) : ('reached' as const),
          reachedBy: t.via,
          ...(t.kind !== 'r' ? { kind: t.kind } : {}),
        })),
      ]
      return planned
    },
    { destructive: true },
  )
}

/** A database marked as production is refused unless ALLOW_PRODUCTION names it. */
async function refuseMarked(r: Reach, db: Database) {
  const [marker] = await db.rows<{ marker: string | null }>(`SELECT current_setting('${DB_MARKER}', true) AS marker`)
  if (marker.marker && PRODUCTION_VALUE.test(marker.marker) && r.config.safety.allowProduction !== db.name) {
    throw new RefusedError(
      `database ${db.name} is marked ${DB_MARKER}=${marker.marker}. Nothing was changed. If you are sure, set ` +
        `ALLOW_PRODUCTION=${db.name}.`,
    )
  }
}

/** A partition on this server of a table the truncation empties: its rows are that table's rows, no name needed. */
const local = (t: Reached) => t.partition && t.kind !== 'f'

/**
 * A table the truncation reaches that CASCADE_TABLES does not name refuses the run (a local partition
 * needs no name: see local); alembic_version always does.
 */
function refuseUnnamed(config: Config, reached: Reached[], rows: Record<string, number | string>) {
  const protectedReach = reached.find((t) => t.name.endsWith('.alembic_version'))
  if (protectedReach)
    throw new RefusedError(
      `the truncation would reach alembic_version (${protectedReach.via}); it is never truncated. Nothing was changed.`,
    )
  const unnamed = reached.filter((t) => !local(t) && !config.database.cascadeTables.some((n) => names(n, t.name)))
  if (!unnamed.length) return
  const one = unnamed.length === 1
  const counted = (t: Reached) => (typeof rows[t.name] === 'number' ? `${rows[t.name]} rows` : rows[t.name])
  const foreign = (t: Reached) => (t.server ? `, foreign table on server ${t.server}` : '')
  const list = unnamed.map((t) => `${t.name} (${counted(t)}${foreign(t)}), reached as ${t.via}`).join('; ')
  throw new RefusedError(
    `the truncation would also empty ${one ? 'a table' : `${unnamed.length} tables`} the configuration does not ` +
      `name: ${list}. Nothing was changed. ` +
      `If ${one ? 'it' : 'they'} may be emptied with the others, name ${one ? 'it' : 'them'} in RESET_TABLES or in ` +
      `CASCADE_TABLES (e.g. CASCADE_TABLES=${unnamed.map((t) => t.name.replace(/^public\./, '')).join(',')}).`,
  )
}

/** A trigger that fires on the truncation can write anywhere: unless TRUNCATE_TRIGGERS names it, the run is refused. */
function refuseUnnamedTriggers(config: Config, triggers: TruncateTrigger[]) {
  const allowed = (t: TruncateTrigger) =>
    config.database.truncateTriggers.some(
      (n) => n === t.name || n === `${t.table}.${t.name}` || n === `${t.table.replace(/^public\./, '')}.${t.name}`,
    )
  const unnamed = triggers.filter((t) => !allowed(t))
  if (!unnamed.length) return
  throw new RefusedError(
    `the truncation would fire ${unnamed.length === 1 ? 'a trigger' : `${unnamed.length} triggers`} the ` +
      `configuration does not name: ` +
      `${unnamed.map((t) => `${t.name} (${t.timing} TRUNCATE on ${t.table}, runs ${t.function})`).join('; ')}. ` +
      `Nothing was changed. A trigger may write to any table. If it may run, name it in TRUNCATE_TRIGGERS (e.g. ` +
      `TRUNCATE_TRIGGERS=${unnamed.map((t) => `${t.table.replace(/^public\./, '')}.${t.name}`).join(',')}).`,
  )
}

async function planRedis(r: Reach, keys: boolean): Promise<PlannedRedis> {
  const { config } = r
  return withRedis(
    r,
    async (kv) => {
      const planned: PlannedRedis = { via: kv.via, server: kv.server, mode: config.redis.mode, databases: [], keep: [] }
      if (!keys) return planned
      if (config.redis.mode !== 'patterns' && config.redis.keep.length)
        planned.keep = Object.entries(await kv.countByPatterns(config.redis.keep)).map(([pattern, n]) => ({
          pattern,
          keys: n,
        }))
      if (config.redis.mode === 'flushall') planned.databases = await kv.keyspace()
      else planned.databases = [{ db: kv.db, keys: await kv.dbsize() }]
      if (config.redis.mode === 'patterns')
        planned.patterns = Object.entries(await kv.countByPatterns(config.redis.patterns)).map(([pattern, n]) => ({
          pattern,
          keys: n,
        }))
      return planned
    },
    { destructive: true },
  )
}

/** The plan for a person: what will be destroyed, on what, chosen by what. */
export function renderPlan(plan: DestructionPlan, mode: RestartMode): string[] {
  const lines = [`target: ${plan.target}`, `  on the ${plan.engine}`, ...plan.sources.map((s) => `  ${s}`)]
  if (plan.log) {
    const link = plan.log.where !== plan.log.configured ? ` (configured as ${plan.log.configured})` : ''
    lines.push(
      `log file ${plan.log.where}${link}: ` +
        `${plan.log.bytes === null ? 'missing, will be created' : `${plan.log.bytes} bytes emptied`}`,
    )
  }
  if (plan.containers) lines.push(...mode.lines(plan.containers))
  if (plan.database) lines.push(...databaseLines(plan.database))
  if (plan.redis) lines.push(redisLine(plan.redis))
  lines.push(...plan.tasks)
  return lines
}

/** The database part: every table that loses rows, why it is reached, and every trigger that fires. */
export function databaseLines(d: PlannedDatabase): string[] {
  const lines = [
    `database ${d.name} on ${d.server}, via ` +
      `${d.via}${d.tables.length ? `: ${d.tables.length} tables emptied (TRUNCATE ... RESTART IDENTITY):` : ''}`,
  ]
  for (const t of d.tables) {
    const rows = typeof t.rows === 'number' ? `${t.rows} rows` : t.rows
    const kind =
      t.kind === 'p'
        ? ', partitioned: its partitions below'
        : t.kind === 'f'
          ? ', a foreign table: the rows are deleted on its server'
          : ''
    const why =
      t.reason === 'partition'
        ? ` (a ${t.reachedBy}: emptied with it)`
        : t.reachedBy
          ? ` (reached as ${t.reachedBy}; named in CASCADE_TABLES)`
          : ''
    lines.push(`  ${t.name}: ${rows}${kind}${why}`)
  }
  for (const t of d.triggers)
    lines.push(
      `  trigger ${t.name} fires ${t.timing} TRUNCATE on ${t.table} and runs ${t.function} (named in ` +
        `TRUNCATE_TRIGGERS)`,
    )
  return lines
}

function redisLine(r: PlannedRedis): string {
  const dbs = r.databases.map((d) => `db${d.db} (${d.keys} keys)`).join(', ') || 'no keys'
  const kept = r.keep.length
    ? `; put back as they were: ${r.keep.map((k) => `${k.pattern} (${k.keys})`).join(', ')}`
    : ''
  if (r.mode === 'flushall') return `redis on ${r.server}, via ${r.via}: FLUSHALL empties every database: ${dbs}${kept}`
  if (r.mode === 'flushdb') return `redis on ${r.server}, via ${r.via}: FLUSHDB empties ${dbs}${kept}`
  if (r.patterns)
    return (
      `redis on ${r.server}, via ${r.via}: keys matching ` +
      `${r.patterns.map((p) => `${p.pattern} (${p.keys})`).join(', ')}`
    )
  return `redis on ${r.server}, via ${r.via}`
}
