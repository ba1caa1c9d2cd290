// On failure, what a person would look at next, saved in one folder and named on the console:
// the target's status, log tails of failed or unready instances (and of the failed phase's
// service), PostgreSQL sessions with their locks, Redis's keyspace, the run's report.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../config/config.ts'
import { ACTIVITY_SQL } from '../access/catalog.ts'
import { withDatabase } from '../access/database.ts'
import { withRedis } from '../access/redis.ts'
import { apiAnswers, describe } from '../targets/instances.ts'
import type { Instance } from '../targets/target.ts'
import { masked, out, table } from '../util/output.ts'
import type { Ctx } from './context.ts'
import { STEPS } from './registry.ts'

/** Each part of the bundle gets this long; a part that cannot be had says why in its file. */
const PART_MS = 20_000

function within<T>(what: Promise<T>): Promise<T> {
  return Promise.race([
    what,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${PART_MS / 1000} s`)), PART_MS).unref(),
    ),
  ])
}

const text = (e: unknown) => `could not be had: ${(e as Error).message ?? e}\n`

/**
 * The service the failed phase or task works on (its registry entry says): its logs are wanted whatever state it is in.
 */
function serviceOf(ctx: Ctx, phase: string | undefined): string | null {
  const service = STEPS.find((s) => s.name === phase)?.service
  return service ? ctx.config.services[service] : null
}

/** Does the api's health probe fail now (one try)? False when it has none, or no port here. */
async function apiProbeFails(ctx: Ctx): Promise<boolean> {
  const { config, target } = ctx
  if (!config.apiHealthPath || !config.requiredServices.includes(config.services.api)) return false
  const probe = apiAnswers(
    () => target.endpoint(config.services.api, config.apiPort),
    config.services.api,
    config.apiHealthPath,
  )
  return !(await probe.check()).ready
}

export async function writeDiagnostics(
  ctx: Ctx,
  failure: { error: string; phase?: string; report: unknown },
): Promise<string> {
  const dir = path.join(SUITE_ROOT, 'diagnostics', new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(path.join(dir, 'logs'), { recursive: true })
  const save = (file: string, content: string) => writeFileSync(path.join(dir, file), masked(content))
  save('error.txt', `phase: ${failure.phase ?? 'none'}\ntarget: ${ctx.target.describe()}\n\n${failure.error}\n`)
  save('report.json', JSON.stringify(failure.report, null, 2) + '\n')

  save('status.txt', await within(ctx.target.status()).then((s) => s + '\n', text))
  const instances = await within(ctx.target.instances()).catch(() => [] as Instance[])
  const wanted = serviceOf(ctx, failure.phase)
  // Not ready: waiting or failed by its state, or running while its probe fails (the api's health
  // URL: a container without a healthcheck says "running" whatever its process does).
  const probeFailed = await within(apiProbeFails(ctx)).catch(() => true)
  const unready = instances.filter(
    (i) => ['waiting', 'failed'].includes(i.readiness) || (probeFailed && i.service === ctx.config.services.api),
  )
  const interesting = instances.filter((i) => unready.includes(i) || i.service === wanted)
  for (const i of interesting) {
    const probe =
      unready.includes(i) && i.readiness === 'ready' ? ` (its health probe ${ctx.config.apiHealthPath} fails)` : ''
    save(
      path.join('logs', `${i.name}.log`),
      `${describe(i)}${probe}\n\n${await within(ctx.target.logTail(i, 200)).catch(text)}\n`,
    )
  }
  for (const i of unready)
    out.info(
      `not ready: ${describe(i)}${i.readiness === 'ready' ? ` (does not answer ${ctx.config.apiHealthPath})` : ''}`,
    )
  const missing = ctx.config.requiredServices.filter((s) => !instances.some((i) => i.service === s))
  if (missing.length) out.info(`no container at all: ${missing.join(', ')}`)

  save(
    'postgres-activity.txt',
    await within(
      withDatabase(ctx, async (db) => {
        const rows = await db.rows<Record<string, unknown>>(ACTIVITY_SQL)
        const cols = rows.length ? Object.keys(rows[0]) : ['pid']
        return `${db.via}\n\n${table([cols, ...rows.map((r) => cols.map((c) => String(r[c] ?? '')))])}\n`
      }),
    ).catch(text),
  )
  save(
    'redis-keyspace.txt',
    await within(
      withRedis(ctx, async (kv) => {
        const ks = await kv.keyspace()
        return `${kv.via}\n\n${ks.map((d) => `db${d.db}: ${d.keys} keys`).join('\n') || 'no keys in any database'}\n`
      }),
    ).catch(text),
  )
  return dir
}
