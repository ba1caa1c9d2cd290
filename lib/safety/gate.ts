// Safety: the gate before destruction (production signals from every source, the plan with the
// target's identity, the confirmation), one run at a time, and the record --resume reads.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import type { Config } from '../config/config.ts'
import type { Ctx, DestructionPlan, PhaseSpec, RunRecord } from '../run/context.ts'
import { RefusedError } from '../run/errors.ts'
import { out } from '../util/output.ts'
import { computePlan, renderPlan } from './plan.ts'

// ---- production signals ----

export const ENVIRONMENT_VARS = ['ENVIRONMENT', 'APP_ENV', 'NODE_ENV', 'RAILS_ENV', 'RACK_ENV', 'FLASK_ENV', 'DJANGO_ENV', 'ENV', 'STAGE', 'DEPLOY_ENV']
const PRODUCTION_VALUE = /^(prod|production|live|staging|stage)$/i

/** Every source that says production: the shell, the suite's .env, the app's .env, the api's environment. Any one is enough. */
export function productionSignals(config: Pick<Config, 'signalSources'>): string[] {
  const signals: string[] = []
  for (const { source, env } of config.signalSources) {
    for (const name of ENVIRONMENT_VARS) {
      const value = env[name]
      if (value && PRODUCTION_VALUE.test(value.trim())) signals.push(`${name}=${value} in ${source}`)
    }
  }
  return signals
}

// ---- the gate before destruction ----

/**
 * Before the first destructive phase: refuse a production-looking target, compute the plan (which
 * checks that every server and container is this project's, and refuses unnamed tables), show
 * it, and ask once (or take --yes). Returns the plan the phases carry out.
 */
export async function gate(ctx: Ctx, phases: PhaseSpec[]): Promise<DestructionPlan> {
  const { config, options } = ctx
  const signals = [...productionSignals(config), ...(await ctx.target.signals())]
  if (signals.length) {
    if (config.allowProduction && config.allowProduction === config.postgres.db) {
      out.warn(`ALLOW_PRODUCTION=${config.allowProduction}: going ahead although ${signals.join('; ')}`)
    } else {
      throw new RefusedError(
        `this looks like a production target: ${signals.join('; ')}. Nothing was changed. If you are sure, set ALLOW_PRODUCTION=${config.postgres.db} (the name of the database you confirm may be wiped).`,
      )
    }
  }
  const plan = await computePlan(ctx, phases)

  out.line(`==> ${options.dryRun ? 'would destroy' : 'about to destroy'}:`)
  for (const l of renderPlan(plan)) out.info(l)
  if (options.dryRun) return plan
  if (options.yes) {
    out.info('confirmed by --yes')
    return plan
  }
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
  return plan
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

const recordFile = (stateDir: string, project: string) => path.join(stateDir, `${project}.last-run.json`)

export function readRunRecord(stateDir: string, project: string): RunRecord | null {
  const file = recordFile(stateDir, project)
  if (!existsSync(file)) return null
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as RunRecord
    return Array.isArray(rec.completed) && Array.isArray(rec.selected) ? rec : null
  } catch {
    return null
  }
}

/** Written after every phase, atomically: a run killed at any moment leaves a readable record. */
export function writeRunRecord(stateDir: string, project: string, record: RunRecord) {
  mkdirSync(stateDir, { recursive: true })
  const file = recordFile(stateDir, project)
  writeFileSync(`${file}.tmp`, JSON.stringify({ ...record, at: new Date().toISOString() }, null, 2) + '\n')
  renameSync(`${file}.tmp`, file)
}
