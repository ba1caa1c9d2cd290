// The destruction plan: everything a run will destroy, computed once from the live target before
// anything changes. The confirmation, --dry-run and --json show it, --backup saves it, and the
// destructive phases carry it out and nothing else. A table that CASCADE would reach and the
// configuration does not name refuses the run here.
import type { Config } from '../config/config.ts'
import type { Ctx, DestructionPlan, PhaseSpec, PlannedContainers, PlannedDatabase, PlannedRedis, PlannedTable } from '../run/context.ts'
import { cascadeReach, countRows, DbError, lockHolders, resolveTables, showCount, withDatabase, type Database, type Reached } from '../access/database.ts'
import { RefusedError, UnreachableError } from '../run/errors.ts'
import { withRedis } from '../access/redis.ts'
import type { Instance } from '../targets/target.ts'

const LOCK_NOT_AVAILABLE = '55P03'

/** Does a configured name (table or schema.table) name this schema.table? */
export const names = (configured: string, qualified: string) => configured === qualified || (!configured.includes('.') && qualified.endsWith(`.${configured}`))

/** The lines that say which settings chose the target, and where each came from. */
export function sourceLines(config: Config): string[] {
  const from = (key: keyof Config['sources']) => config.sources[key] ?? 'default'
  const lines = [`app directory ${config.appDir} (${from('APP_DIR')})`]
  if (config.compose) {
    lines.push(`compose project ${config.project} (${from('project')})`)
    lines.push(`compose files ${config.composeFiles.join(', ')} (${from('composeFiles')})`)
  } else lines.push(`kubernetes context ${config.kube.context} (${from('KUBE_CONTEXT')}), namespace ${config.kube.namespace} (${from('KUBE_NAMESPACE')})`)
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'LOG_FILE', 'SERVICES', 'RESTART_MODE', 'RESET_TABLES', 'CASCADE_TABLES'] as const) {
    if (config.sources[key]) lines.push(`${key} set by ${config.sources[key]}`)
  }
  if (config.ignored.length) lines.push(`not read (exported for other tools; the suite's own take the RT_ prefix): ${config.ignored.join(', ')}`)
  return lines
}

/** The services whose instances are held stopped: the run clears the broker, and they consume it. */
export function heldServices(ctx: Ctx, present: string[]): string[] {
  if (!ctx.phases.includes('flush-redis')) return []
  if (!ctx.phases.some((p) => ['restart', 'truncate-db', 'flush-redis'].includes(p))) return []
  return ctx.config.workerServices.filter((s) => present.includes(s))
}

export async function computePlan(ctx: Ctx, phases: PhaseSpec[]): Promise<DestructionPlan> {
  const { config, target } = ctx
  const destroys = new Set(phases.map((p) => p.destroys).filter(Boolean))
  const custom = new Set(phases.filter((p) => p.inventory).map((p) => p.destroys))
  const plan: DestructionPlan = { target: target.describe(), sources: sourceLines(config), held: [], tasks: [] }
  for (const p of phases) if (p.inventory) plan.tasks.push(...(await p.inventory(ctx)))

  if (destroys.has('logs')) plan.log = { configured: config.logFile, where: await target.log.where(), bytes: await target.log.size() }
  const needsInstances = destroys.has('containers') || destroys.has('database') || destroys.has('redis')
  const instances = needsInstances ? await target.instances() : []
  const held = heldServices(ctx, instances.map((i) => i.service))
  plan.held = instances.filter((i) => held.includes(i.service)).map((i) => ({ name: i.name, service: i.service }))
  if (destroys.has('containers')) plan.containers = await part('containers', 3, planContainers(ctx, held))
  if (destroys.has('database')) plan.database = await part('database', 4, planDatabase(ctx, !custom.has('database')))
  if (destroys.has('redis')) plan.redis = await part('redis', 5, planRedis(ctx, !custom.has('redis')))
  return plan
}

/**
 * A part of the plan that fails: a server that cannot be reached cannot be shown to be this
 * project's, so the run is refused (fail closed); any other error is that part's failure (its
 * phase's exit code: 4 for a missing table, say).
 */
async function part<T>(name: string, exitCode: number, computing: Promise<T>): Promise<T> {
  try {
    return await computing
  } catch (e) {
    if (e instanceof UnreachableError) throw new RefusedError(`${e.message}. Nothing was changed: what cannot be inspected cannot be shown to be this project's.`)
    if (e instanceof Error && !('exitCode' in e)) Object.assign(e, { exitCode, planning: name })
    throw e
  }
}

/**
 * The services the restart phase restarts ([] = all): SERVICES when set; else, when a container
 * is left stopped (not required: compose stop, an engine restart), every service that runs, so
 * that the stopped one stays stopped. `rebuild` takes everything down and up again.
 */
export async function servicesToRestart(config: Config, target: Ctx['target'], all: Instance[]): Promise<string[]> {
  if (config.restartServices.length) return target.servicesFor(config.restartServices)
  if (config.restartMode === 'rebuild' || !all.some((i) => i.readiness === 'stopped')) return []
  return [...new Set(all.filter((i) => i.readiness !== 'stopped').map((i) => i.service))]
}

async function planContainers(ctx: Ctx, held: string[]): Promise<PlannedContainers> {
  const { config, target } = ctx
  const all = await target.instances()
  const services = await servicesToRestart(config, target, all)
  const restart = all.filter((i) => (services.length === 0 || services.includes(i.service)) && !held.includes(i.service))
  const origins = [...new Set(all.map((i) => i.origin?.workingDir).filter(Boolean))]
  return {
    mode: config.restartMode,
    restart: restart.map((i) => ({ name: i.name, service: i.service })),
    origin: origins.length ? `created from ${origins.join(', ')}` : target.describe(),
    wipesVolumes: config.restartMode === 'rebuild' && services.length === 0,
  }
}

/** Rows of each table, each count waiting at most LOCK_TIMEOUT; a blocked count names its blocker. */
async function rowsOf(db: Database, tables: { name: string; oid: number }[]): Promise<Record<string, number | string>> {
  try {
    const counts = await countRows(db, tables.map((t) => t.name))
    return Object.fromEntries(Object.entries(counts).map(([t, n]) => [t, n > 10_000 ? showCount(n) : n]))
  } catch (e) {
    if (!(e instanceof DbError) || e.code !== LOCK_NOT_AVAILABLE) throw e
  }
  const result: Record<string, number | string> = {}
  for (const t of tables) {
    try {
      const n = (await countRows(db, [t.name]))[t.name]
      result[t.name] = n > 10_000 ? showCount(n) : n
    } catch (e) {
      if (!(e instanceof DbError) || e.code !== LOCK_NOT_AVAILABLE) throw e
      const holders = await lockHolders(db, [t.oid])
      result[t.name] = `? (locked: ${holders[0] ?? 'by another session'})`
    }
  }
  return result
}

const PRODUCTION_MARKER = /^(prod|production|live|staging|stage)$/i
/** A database setting users can set to protect a database: ALTER DATABASE x SET reset_suite.environment = 'production'. */
export const DB_MARKER = 'reset_suite.environment'

/**
 * The tables the truncation empties: the configured ones, and each table a foreign key ties to
 * them that CASCADE_TABLES names. Any other such table refuses the run, named with its key.
 * With `tables` false (a task with its own inventory), only the server is checked.
 */
async function planDatabase(ctx: Ctx, tables: boolean): Promise<PlannedDatabase> {
  const { config } = ctx
  return withDatabase(
    ctx,
    async (db) => {
      const [marker] = await db.rows<{ marker: string | null }>(`SELECT current_setting('${DB_MARKER}', true) AS marker`)
      if (marker.marker && PRODUCTION_MARKER.test(marker.marker) && config.allowProduction !== db.name) {
        throw new RefusedError(`database ${db.name} is marked ${DB_MARKER}=${marker.marker}. Nothing was changed. If you are sure, set ALLOW_PRODUCTION=${db.name}.`)
      }
      const planned: PlannedDatabase = { name: db.name, via: db.via, server: db.server, tables: [] }
      if (!tables) return planned
      const configured = await resolveTables(db, config.tables)
      const reached = await cascadeReach(db, configured)
      const protectedReach = reached.find((r) => r.name.endsWith('.alembic_version'))
      if (protectedReach) throw new RefusedError(`a foreign key ties alembic_version to the tables to truncate (${protectedReach.via}); it is never truncated. Nothing was changed.`)
      const allowed = (r: Reached) => config.cascadeTables.some((t) => names(t, r.name))
      const unnamed = reached.filter((r) => !allowed(r))
      const rows = await rowsOf(db, [...configured.map((t) => ({ name: t.name, oid: t.oid })), ...reached.map((r) => ({ name: r.name, oid: r.oid }))])
      if (unnamed.length) {
        const list = unnamed.map((r) => `${r.name} (${rows[r.name]} rows), tied by ${r.via}`).join('; ')
        throw new RefusedError(
          `the truncation would also empty ${unnamed.length === 1 ? 'a table' : `${unnamed.length} tables`} the configuration does not name: ${list}. Nothing was changed. ` +
            `If ${unnamed.length === 1 ? 'it' : 'they'} may be emptied with the others, name ${unnamed.length === 1 ? 'it' : 'them'} in RESET_TABLES or in CASCADE_TABLES (e.g. CASCADE_TABLES=${unnamed.map((r) => r.name.replace(/^public\./, '')).join(',')}).`,
        )
      }
      const list: PlannedTable[] = [
        ...configured.map((t) => ({ name: t.name, rows: rows[t.name], reason: 'configured' as const })),
        ...reached.map((r) => ({ name: r.name, rows: rows[r.name], reason: 'cascade' as const, reachedBy: r.via })),
      ]
      planned.tables = list
      return planned
    },
    { destructive: true },
  )
}

async function planRedis(ctx: Ctx, keys: boolean): Promise<PlannedRedis> {
  const { config } = ctx
  return withRedis(
    ctx,
    async (kv) => {
      const planned: PlannedRedis = { via: kv.via, server: kv.server, mode: config.redisMode, databases: [] }
      if (!keys) return planned
      if (config.redisMode === 'flushall') planned.databases = await kv.keyspace()
      else planned.databases = [{ db: kv.db, keys: await kv.dbsize() }]
      if (config.redisMode === 'patterns') planned.patterns = Object.entries(await kv.countByPatterns(config.redisPatterns)).map(([pattern, n]) => ({ pattern, keys: n }))
      return planned
    },
    { destructive: true },
  )
}

/** The plan for a person: what will be destroyed, on what, chosen by what. */
export function renderPlan(plan: DestructionPlan): string[] {
  const lines = [`target: ${plan.target}`, ...plan.sources.map((s) => `  ${s}`)]
  if (plan.log) {
    const link = plan.log.where !== plan.log.configured ? ` (configured as ${plan.log.configured})` : ''
    lines.push(`log file ${plan.log.where}${link}: ${plan.log.bytes === null ? 'missing, will be created' : `${plan.log.bytes} bytes emptied`}`)
  }
  if (plan.containers) {
    const c = plan.containers
    lines.push(`containers, mode ${c.mode} (${c.origin}): ${c.restart.length} ${c.mode === 'restart' ? 'restarted' : 'recreated'}: ${c.restart.map((i) => i.name).join(', ') || 'none'}`)
    if (c.wipesVolumes) lines.push('  rebuild removes the volumes: every database of the stack is wiped, not only the tables below')
  }
  if (plan.held.length) lines.push(`held stopped while the database and Redis are emptied, then started: ${plan.held.map((i) => i.name).join(', ')}`)
  if (plan.database) {
    const d = plan.database
    lines.push(`database ${d.name} on ${d.server}, via ${d.via}${d.tables.length ? `: ${d.tables.length} tables emptied (TRUNCATE ... RESTART IDENTITY):` : ''}`)
    for (const t of d.tables) lines.push(`  ${t.name}: ${typeof t.rows === 'number' ? `${t.rows} rows` : t.rows}${t.reachedBy ? ` (tied by ${t.reachedBy}; named in CASCADE_TABLES)` : ''}`)
  }
  if (plan.redis) {
    const r = plan.redis
    const dbs = r.databases.map((d) => `db${d.db} (${d.keys} keys)`).join(', ') || 'no keys'
    if (r.mode === 'flushall') lines.push(`redis on ${r.server}, via ${r.via}: FLUSHALL empties every database: ${dbs}`)
    else if (r.mode === 'flushdb') lines.push(`redis on ${r.server}, via ${r.via}: FLUSHDB empties ${dbs}`)
    else if (r.patterns) lines.push(`redis on ${r.server}, via ${r.via}: keys matching ${r.patterns.map((p) => `${p.pattern} (${p.keys})`).join(', ')}`)
    else lines.push(`redis on ${r.server}, via ${r.via}`)
  }
  lines.push(...plan.tasks)
  return lines
}
