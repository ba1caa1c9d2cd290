// Safety: refuse the wrong target, confirm what will be destroyed, one run at a time,
// and the record of completed phases that --resume continues from.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import type { Config } from './config.ts'
import { countRows, resolveTables, showCount, withDatabase, type Database } from './db.ts'
import type { Ctx, PhaseSpec } from './main.ts'
import { out } from './output.ts'
import { PHASE_NAMES, SelectionError, type PhaseName } from './phases.ts'
import { withRedis } from './redis.ts'

export class RefusedError extends Error {}

// ---- production signals ----

export const ENVIRONMENT_VARS = ['ENVIRONMENT', 'APP_ENV', 'NODE_ENV', 'RAILS_ENV', 'RACK_ENV', 'FLASK_ENV', 'DJANGO_ENV', 'ENV', 'STAGE', 'DEPLOY_ENV']
const PRODUCTION_VALUE = /^(prod|production|live|staging|stage)$/i
/** A database setting users can set to protect a database: ALTER DATABASE x SET reset_suite.environment = 'production'. */
export const DB_MARKER = 'reset_suite.environment'

/** Is this host one a development stack lives on? */
export function isLocalHost(host: string, config: Pick<Config, 'services' | 'safeHosts'>): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === '' || h === 'localhost' || h === '::1' || /^127\./.test(h)) return true
  if (Object.values(config.services).includes(h) || config.safeHosts.map((s) => s.toLowerCase()).includes(h)) return true
  // Docker's default bridge and compose networks
  return /^172\.(1[6-9]|2\d|3[01])\./.test(h) || /^192\.168\./.test(h)
}

/** Every reason to think the target is not a development stack, from the configuration alone. */
export function productionSignals(config: Pick<Config, 'env' | 'databaseUrl' | 'redisUrl' | 'services' | 'safeHosts'>): string[] {
  const signals: string[] = []
  for (const name of ENVIRONMENT_VARS) {
    const value = config.env[name]
    if (value && PRODUCTION_VALUE.test(value.trim())) signals.push(`${name}=${value}`)
  }
  for (const [key, url] of [['DATABASE_URL', config.databaseUrl], ['REDIS_URL', config.redisUrl]] as const) {
    if (!url) continue
    const host = hostOf(url)
    if (host !== null && !isLocalHost(host, config)) signals.push(`${key} points at ${host}, which is not a local or compose host (add it to SAFE_HOSTS if it is yours)`)
  }
  return signals
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname
  } catch {
    return null
  }
}

/** What the database says about itself: its marker, and whether the server is this project's container. */
async function databaseSignals(ctx: Ctx, db: Database): Promise<string[]> {
  const signals: string[] = []
  const [row] = await db.rows<{ marker: string | null; addr: string | null }>(
    `SELECT current_setting('${DB_MARKER}', true) AS marker, host(inet_server_addr()) AS addr`,
  )
  if (row.marker && PRODUCTION_VALUE.test(row.marker)) signals.push(`the database is marked ${DB_MARKER}=${row.marker}`)
  if (db.host !== null && row.addr) {
    // Through a published port the server sees the connection on its container address.
    const compose = await ctx.compose()
    const pgc = await compose.container(ctx.config.services.postgres).catch(() => null)
    const addresses = pgc?.addresses ?? []
    if (!addresses.includes(row.addr) && !isLocalHost(row.addr, { services: ctx.config.services, safeHosts: ctx.config.safeHosts }))
      signals.push(`the server answering on ${db.via} has address ${row.addr}, which is not a container of project ${ctx.config.project}`)
  }
  return signals
}

// ---- the gate before destruction ----

interface Inventory {
  lines: string[]
  database: string
}

/** Refuses a production-looking target, then shows what will be destroyed and asks once (or takes --yes). */
export async function guardTarget(ctx: Ctx, phases: PhaseSpec[]): Promise<void> {
  const { config, options } = ctx
  const destroys = new Set(phases.map((p) => p.destroys).filter(Boolean))
  const inventory: Inventory = { lines: [], database: config.postgres.db }
  const signals = productionSignals(config)
  for (const p of phases) if (p.inventory) inventory.lines.push(...(await p.inventory(ctx)))
  const custom = new Set(phases.filter((p) => p.inventory).map((p) => p.destroys))

  if (destroys.has('logs')) {
    const size = existsSync(config.logFile) ? statSync(config.logFile).size : 0
    inventory.lines.push(`log file ${config.logFile}: ${size} bytes`)
  }
  if (destroys.has('containers')) inventory.lines.push(`containers of ${config.project}: ${config.restartMode} (mode ${config.restartMode}${config.restartMode === 'rebuild' ? ', volumes removed: the database is wiped' : ''})`)
  if (destroys.has('database')) {
    try {
      await withDatabase(ctx, async (db) => {
        const [row] = await db.rows<{ name: string }>('SELECT current_database() AS name')
        inventory.database = row.name
        signals.push(...(await databaseSignals(ctx, db)))
        if (custom.has('database')) return
        const tables = await resolveTables(db, config.tables).catch(() => null)
        const counts = tables ? await countRows(db, tables.map((t) => t.name)) : {}
        const listed = Object.entries(counts).map(([t, n]) => `${t} (${showCount(n)} rows)`).join(', ')
        inventory.lines.push(`database ${row.name} via ${db.via}: ${listed || config.tables.join(', ')}`)
      })
    } catch (e) {
      inventory.lines.push(`database ${config.postgres.db}: not reachable now (${(e as Error).message.split('\n')[0]})`)
    }
  }
  if (destroys.has('redis') && !custom.has('redis')) {
    try {
      await withRedis(ctx, async (kv) => {
        const what = config.redisMode === 'flushall' ? 'every database (FLUSHALL)' : config.redisMode === 'flushdb' ? `database ${config.redisDb}` : `keys matching ${config.redisPatterns.join(', ')}`
        inventory.lines.push(`redis via ${kv.via}: ${what}, ${await kv.dbsize()} keys in db ${config.redisDb}`)
      })
    } catch (e) {
      inventory.lines.push(`redis: not reachable now (${(e as Error).message.split('\n')[0]})`)
    }
  }

  if (signals.length) {
    if (config.allowProduction && config.allowProduction === inventory.database) {
      out.warn(`ALLOW_PRODUCTION=${config.allowProduction}: going ahead although ${signals.join('; ')}`)
    } else {
      throw new RefusedError(
        `this looks like a production target: ${signals.join('; ')}. Nothing was changed. If you are sure, set ALLOW_PRODUCTION=${inventory.database} (the name of the database you confirm may be wiped).`,
      )
    }
  }

  out.line(`==> ${options.dryRun ? 'would destroy' : 'about to destroy'}:`)
  for (const l of inventory.lines) out.info(l)
  if (options.dryRun) return
  if (options.yes) return out.info('confirmed by --yes')
  if (process.env.CI === 'true' || !process.stdin.isTTY) {
    throw new RefusedError('no terminal to ask for confirmation (or CI=true); nothing was changed. Rerun with --yes to confirm.')
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  const onAbort = () => rl.close()
  ctx.signal.addEventListener('abort', onAbort)
  try {
    const answer = await rl.question('Type "yes" to go ahead: ')
    if (answer.trim().toLowerCase() !== 'yes') throw new RefusedError('not confirmed; nothing was changed')
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
    rl.close()
  }
}

// ---- one run at a time ----

interface LockInfo {
  pid: number
  script: string
  startedAt: string
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes the run lock or refuses naming the holder; a lock left by a dead process is taken over. Returns the release. */
export function acquireLock(stateDir: string, project: string, script: string): () => void {
  mkdirSync(stateDir, { recursive: true })
  const file = path.join(stateDir, `${project}.lock`)
  const mine: LockInfo = { pid: process.pid, script, startedAt: new Date().toISOString() }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine), { flag: 'wx' })
      const release = () => {
        process.off('exit', release)
        try {
          const held = JSON.parse(readFileSync(file, 'utf8')) as LockInfo
          if (held.pid === process.pid) rmSync(file)
        } catch {}
      }
      process.once('exit', release)
      return release
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let held: LockInfo | null = null
      try {
        held = JSON.parse(readFileSync(file, 'utf8')) as LockInfo
      } catch {}
      if (held && alive(held.pid) && held.pid !== process.pid) {
        throw new RefusedError(`another run is in progress: ${held.script} (pid ${held.pid}, started ${held.startedAt}). Wait for it, or stop it; its lock is ${file}.`)
      }
      rmSync(file, { force: true }) // left by a run that died
    }
  }
  throw new RefusedError(`could not take the run lock ${file}`)
}

// ---- what --resume continues from ----

export interface RunState {
  selected: PhaseName[]
  completed: PhaseName
  at?: string
}

const stateFile = (stateDir: string, project: string) => path.join(stateDir, `${project}.last-run.json`)

export function readRunState(stateDir: string, project: string): RunState | null {
  try {
    return JSON.parse(readFileSync(stateFile(stateDir, project), 'utf8')) as RunState
  } catch {
    return null
  }
}

export function writeRunState(stateDir: string, project: string, state: RunState) {
  mkdirSync(stateDir, { recursive: true })
  writeFileSync(stateFile(stateDir, project), JSON.stringify({ ...state, at: new Date().toISOString() }) + '\n')
}

/** The phases left after the last completed one of the previous run. */
export function resumePhases(state: RunState | null): PhaseName[] {
  if (!state) throw new SelectionError('nothing to resume: no previous run was recorded')
  const rest = state.selected.filter((n) => PHASE_NAMES.indexOf(n) > PHASE_NAMES.indexOf(state.completed))
  if (rest.length === 0) throw new SelectionError(`nothing to resume: the previous run completed every phase (last: ${state.completed})`)
  return rest
}
