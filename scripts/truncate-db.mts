#!/usr/bin/env -S node --import tsx
// truncate-db: empty exactly the tables of the plan — the configured ones and those named in
// CASCADE_TABLES that foreign keys tie to them — in ONE `TRUNCATE ... RESTART IDENTITY` inside a
// transaction with a lock_timeout. alembic_version is never touched; a table the plan did not name
// stops the phase.
import { definePhase } from '../lib/run/cli.ts'
import { cascadeReach, countRows, DbError, lockHolders, resolveTables, truncateSql, withDatabase } from '../lib/access/database.ts'
import { backupTables } from '../lib/safety/backup.ts'
import { RefusedError } from '../lib/run/errors.ts'
import { out, seconds } from '../lib/util/output.ts'
import { holdWorkers } from '../lib/safety/workers.ts'

const DEADLOCK = '40P01'
const LOCK_NOT_AVAILABLE = '55P03'
const ATTEMPTS = 3

export default definePhase(import.meta, {
  name: 'truncate-db',
  purpose: 'Truncate RESET_TABLES (and the CASCADE_TABLES foreign keys tie to them) in one statement with RESTART IDENTITY, and check every table is empty.',
  destroys: 'database',
  async run(ctx) {
    const { config, options, plan } = ctx
    const planned = plan?.database
    if (!planned?.tables.length) throw new Error('no plan for the database: the gate did not run')
    await holdWorkers(ctx)
    return withDatabase(
      ctx,
      async (db) => {
        // The plan still holds: the same tables, and no foreign key reaching beyond them.
        const names = planned.tables.map((t) => t.name)
        const tables = await resolveTables(db, names)
        const beyond = await cascadeReach(db, tables)
        if (beyond.length) throw new RefusedError(`since the plan was made, ${beyond.map((r) => `${r.name} (tied by ${r.via})`).join(', ')} appeared; nothing was truncated. Rerun to see the new plan.`)
        if (options.backup) await backupTables(ctx, db, names)

        const sql = truncateSql(names, config.lockTimeoutMs, config.statementTimeoutMs)
        for (let attempt = 1; ; attempt++) {
          const t0 = Date.now()
          try {
            await db.execute(sql)
            out.ok(`one TRUNCATE of ${names.length} tables in ${seconds(Date.now() - t0)} via ${db.via}`)
            break
          } catch (e) {
            if (e instanceof DbError && e.code === DEADLOCK && attempt < ATTEMPTS) {
              out.warn(`deadlock on attempt ${attempt}; retrying`)
              continue
            }
            if (e instanceof DbError && e.code === LOCK_NOT_AVAILABLE) {
              const holders = await lockHolders(db, tables.map((t) => t.oid))
              throw new Error(
                `could not lock the tables within LOCK_TIMEOUT=${config.lockTimeoutMs / 1000} s; nothing was truncated.\n` +
                  (holders.length ? holders.map((h) => `      ${h}`).join('\n') + `\n      End that session (SELECT pg_terminate_backend(<pid>)) or let it finish, then rerun.` : '      The lock holder has gone; rerun.'),
              )
            }
            throw e
          }
        }
        const total = planned.tables.reduce((n, t) => n + (typeof t.rows === 'number' ? t.rows : 0), 0)
        if (options.dryRun) return { rows: total, tables: names.length }

        const after = await countRows(db, names)
        const left = Object.entries(after).filter(([, n]) => n !== 0)
        if (left.length) throw new Error(`tables not empty after TRUNCATE: ${left.map(([t, n]) => `${t}=${n}`).join(', ')} (the app wrote meanwhile?)`)
        out.ok(`after: every table empty (${names.join(', ')}); ${total} rows removed, identities restarted`)
        return { rows: total, tables: names.length }
      },
      { destructive: true },
    )
  },
})
