#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// truncate-db: empty exactly the tables of the plan — the configured ones and those it reaches that
// CASCADE_TABLES names — in ONE `TRUNCATE ... RESTART IDENTITY` inside a transaction with a
// lock_timeout. alembic_version is never touched; a table or trigger the plan did not name stops
// the phase before the workers are held and before anything is truncated.
import { countRows, lockHolders, reachOf, resolveTables, truncateTriggers } from '../lib/access/catalog.ts'
import { DbError, withDatabase, type Database } from '../lib/access/database.ts'
import { stateKey } from '../lib/config/config.ts'
import type { Ctx } from '../lib/run/context.ts'
import { DEADLOCK, LOCK_NOT_AVAILABLE, truncateSql } from '../lib/access/sql.ts'
import { definePhase } from '../lib/run/cli.ts'
import { backupTables } from '../lib/safety/backup.ts'
import { RefusedError } from '../lib/util/errors.ts'
import { out, seconds } from '../lib/util/output.ts'

const ATTEMPTS = 3

export default definePhase(import.meta, 'truncate-db', {
  title: 'truncate the database tables',
  purpose:
    'Truncate RESET_TABLES (and the CASCADE_TABLES they reach) in one statement with RESTART IDENTITY, ' +
    'and check every table is empty.',
  settings: ['RESET_TABLES', 'CASCADE_TABLES', 'TRUNCATE_TRIGGERS', 'LOCK_TIMEOUT', 'RESTART_MODE'],
  async run(ctx) {
    const { config, plan } = ctx
    const planned = plan?.database
    if (!planned?.tables.length) throw new Error('no plan for the database: the gate did not run')
    return withDatabase(
      ctx,
      async (db) => {
        // The plan still holds (the same tables, nothing reached beyond them, no new trigger) —
        // checked before the workers are stopped, so a refusal here changes nothing.
        const names = planned.tables.map((t) => t.name)
        const tables = await resolveTables(db, names)
        const beyond = await reachOf(db, tables)
        const triggers = (
          await truncateTriggers(
            db,
            tables.map((t) => t.oid),
          )
        ).filter((t) => !planned.triggers.some((p) => p.name === t.name && p.table === t.table))
        if (beyond.length || triggers.length) {
          const news = [
            ...beyond.map((r) => `${r.name} (reached as ${r.via})`),
            ...triggers.map((t) => `trigger ${t.name} on ${t.table}`),
          ]
          throw new RefusedError(
            `since the plan was made, ${news.join(', ')} appeared; nothing was truncated. Rerun to see the new plan.`,
          )
        }
        await ctx.mode.hold(ctx) // read from the workers again: what the record says is not trusted
        await ctx.mode.beforeTruncate(
          ctx,
          db,
          tables.map((t) => t.oid),
        )
        const t0 = Date.now()
        if (ctx.options.backup)
          await backupTables({ dir: ctx.options.backupDir, dryRun: ctx.dryRun, stack: stateKey(config) }, db, names)
        const backup = ctx.options.backup && !ctx.dryRun ? { backupMs: Date.now() - t0 } : {}
        await truncate(
          ctx,
          db,
          names,
          tables.filter((t) => t.kind === 'p').map((t) => t.name),
        )
        const total = planned.tables.reduce((n, t) => n + (typeof t.rows === 'number' ? t.rows : 0), 0)
        if (ctx.dryRun) return { rows: total, tables: names.length }
        const left = Object.entries(
          await countRows(
            db,
            names.filter((n) => !tables.some((t) => t.name === n && t.kind === 'f')),
          ),
        ).filter(([, n]) => n !== 0)
        if (left.length)
          throw new Error(
            `tables not empty after TRUNCATE: ${left.map(([t, n]) => `${t}=${n}`).join(', ')} (the app wrote ` +
              `meanwhile?)`,
          )
        out.ok(`after: every table empty (${names.join(', ')}); ${total} rows removed, identities restarted`)
        return { rows: total, tables: names.length, ...backup }
      },
      { destructive: true },
    )
  },
})

/** The one TRUNCATE, retried on a deadlock; a lock not granted names who holds it. */
async function truncate(ctx: Ctx, db: Database, names: string[], partitioned: string[]) {
  const { config } = ctx
  const sql = truncateSql(names, config.database.lockTimeoutMs, config.database.statementTimeoutMs, partitioned)
  for (let attempt = 1; ; attempt++) {
    const t0 = Date.now()
    try {
      await db.execute(sql)
      if (!ctx.dryRun) ctx.record.changed(`truncated ${names.join(', ')}`)
      out.ok(`one TRUNCATE of ${names.length} tables in ${seconds(Date.now() - t0)} via ${db.via}`)
      return
    } catch (e) {
      if (e instanceof DbError && e.code === DEADLOCK && attempt < ATTEMPTS) {
        out.warn(`deadlock on attempt ${attempt}; retrying`)
        continue
      }
      if (!(e instanceof DbError) || e.code !== LOCK_NOT_AVAILABLE) throw e
      const holders = await lockHolders(
        db,
        (await resolveTables(db, names)).map((t) => t.oid),
      )
      throw new Error(
        `could not lock the tables within LOCK_TIMEOUT=${config.database.lockTimeoutMs / 1000} s; nothing was ` +
          `truncated.\n` +
          (holders.length
            ? holders.map((h) => `      ${h}`).join('\n') +
              `\n      End that session (SELECT pg_terminate_backend(<pid>)) or let it finish, then rerun.`
            : '      The lock holder has gone; rerun.'),
      )
    }
  }
}
