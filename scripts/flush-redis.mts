#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// flush-redis: clear Redis as the plan says — FLUSHALL (default), FLUSHDB, or SCAN + UNLINK by
// pattern — check nothing that should be gone is left, then let the held workers go as the restart
// mode says (started, or consuming as before in place) and, in place, prove the state clean.
import type { Kv } from '../lib/access/kv.ts'
import { withRedis } from '../lib/access/redis.ts'
import { stateKey } from '../lib/config/config.ts'
import { definePhase } from '../lib/run/cli.ts'
import type { Ctx } from '../lib/run/context.ts'
import { backupKeys } from '../lib/safety/backup.ts'
import type { PlannedRedis } from '../lib/safety/plan.ts'
import { out, seconds } from '../lib/util/output.ts'

export default definePhase(import.meta, 'flush-redis', {
  title: 'clear Redis',
  purpose:
    'Clear Redis (REDIS_MODE: FLUSHALL, FLUSHDB, or SCAN + UNLINK of REDIS_PATTERNS; REDIS_KEEP put back), ' +
    'then let the held workers go as the restart mode says; in place, prove the state clean.',
  settings: ['REDIS_MODE', 'REDIS_PATTERNS', 'REDIS_KEEP', 'RESTART_MODE'],
  async run(ctx) {
    const planned = ctx.plan?.redis
    if (!planned) throw new Error('no plan for Redis: the gate did not run')
    const figures = await withRedis(
      ctx,
      async (kv) => {
        await ctx.mode.hold(ctx) // after the server was shown to be this project's: a refusal changes nothing
        if (ctx.options.backup)
          await backupKeys({ dir: ctx.options.backupDir, dryRun: ctx.dryRun, stack: stateKey(ctx.config) }, kv, planned)
        return planned.mode === 'patterns' ? deletePatterns(ctx, kv, planned) : flush(ctx, kv, planned)
      },
      { destructive: true },
    )
    const released = await ctx.mode.release(ctx)
    if (released) out.ok(released)
    const tables = ctx.plan?.database?.tables.filter((t) => t.kind !== 'f').map((t) => t.name) ?? []
    const proof = ctx.dryRun ? null : await ctx.mode.prove(ctx, tables)
    if (proof) out.ok(proof)
    return figures
  },
})

async function deletePatterns(ctx: Ctx, kv: Kv, planned: PlannedRedis): Promise<{ keys: number; kept?: number }> {
  const t0 = Date.now()
  const patterns = planned.patterns!.map((p) => p.pattern)
  const removed = await kv.deleteByPatterns(patterns)
  const count = Object.values(removed).reduce((a, b) => a + b, 0)
  if (ctx.dryRun) return { keys: count }
  ctx.record.changed(`deleted ${count} Redis keys matching ${patterns.join(', ')}`)
  const left = Object.entries(await kv.countByPatterns(patterns)).filter(([, n]) => n > 0)
  if (left.length)
    throw new Error(
      `keys still match after deletion: ${left.map(([p, n]) => `${p}=${n}`).join(', ')} (written meanwhile?)`,
    )
  out.ok(
    `${count} keys removed in ${seconds(Date.now() - t0)}: ${Object.entries(removed)
      .map(([p, n]) => `${p}=${n}`)
      .join(' ')}`,
  )
  return { keys: count }
}

async function flush(ctx: Ctx, kv: Kv, planned: PlannedRedis): Promise<{ keys: number; kept?: number }> {
  const t0 = Date.now()
  const before = planned.databases.reduce((n, d) => n + d.keys, 0)
  const keep = planned.keep.map((k) => k.pattern)
  const kept = await kv.flush(planned.mode as 'flushall' | 'flushdb', keep)
  if (ctx.dryRun) return { keys: before }
  ctx.record.changed(`emptied Redis (${planned.mode.toUpperCase()})`)
  const left = (planned.mode === 'flushall' ? await kv.keyspace() : [{ db: kv.db, keys: await kv.dbsize() }]).filter(
    (d) => d.keys > (d.db === kv.db ? kept : 0),
  )
  if (left.length)
    throw new Error(
      `keys left after ${planned.mode.toUpperCase()}: ${left.map((d) => `db${d.db}=${d.keys}`).join(', ')}`,
    )
  const databases = planned.databases.map((d) => `db${d.db}`).join(', ') || 'no keys'
  const putBack = kept ? `: ${kept} put back as they were (${keep.join(', ')})` : ''
  const took = seconds(Date.now() - t0)
  out.ok(`${planned.mode.toUpperCase()} ASYNC in ${took}: ${before} -> ${kept} keys (${databases})${putBack}`)
  return { keys: before, kept }
}
