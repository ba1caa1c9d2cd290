#!/usr/bin/env -S node --import tsx
// truncate-db: empty the configured tables in ONE `TRUNCATE ... RESTART IDENTITY CASCADE`
// inside a transaction with a lock_timeout; alembic_version is never touched.
import { definePhase } from '../lib/main.ts'
import { cascadeReach, countRows, DbError, lockHolders, resolveTables, showCount, truncateSql, withDatabase } from '../lib/db.ts'
import { backupTables } from '../lib/backup.ts'
import { out, seconds } from '../lib/output.ts'

const DEADLOCK = '40P01'
const LOCK_NOT_AVAILABLE = '55P03'
const ATTEMPTS = 3

export default definePhase(import.meta, {
  name: 'truncate-db',
  purpose: 'Truncate RESET_TABLES in one statement (RESTART IDENTITY CASCADE) and check every table is empty.',
  destroys: 'database',
  async run(ctx) {
    const { config, options } = ctx
    return withDatabase(ctx, async (db) => {
      const tables = await resolveTables(db, config.tables)
      const reached = await cascadeReach(db, tables)
      if (reached.some((t) => t.endsWith('.alembic_version'))) throw new Error('CASCADE would reach alembic_version; refusing')
      if (reached.length) out.warn(`CASCADE also empties: ${reached.join(', ')} (foreign keys point at the listed tables)`)
      const names = tables.map((t) => t.name)
      const before = await countRows(db, [...names, ...reached])
      const total = Object.values(before).reduce((a, b) => a + b, 0)
      const capped = Object.values(before).some((n) => n !== Number(showCount(n)))
      out.info(`before: ${Object.entries(before).map(([t, n]) => `${t}=${showCount(n)}`).join(' ')}`)
      if (options.backup) await backupTables(ctx, names)

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
            const holders = await lockHolders(db, tables)
            throw new Error(
              `could not lock the tables within LOCK_TIMEOUT=${config.lockTimeoutMs / 1000} s; nothing was truncated.\n` +
                (holders.length ? holders.map((h) => `      ${h}`).join('\n') + `\n      End that session (SELECT pg_terminate_backend(<pid>)) or let it finish, then rerun.` : '      The lock holder has gone; rerun.'),
            )
          }
          throw e
        }
      }
      if (options.dryRun) return { rows: total }

      const after = await countRows(db, [...names, ...reached])
      const left = Object.entries(after).filter(([, n]) => n !== 0)
      if (left.length) throw new Error(`tables not empty after TRUNCATE: ${left.map(([t, n]) => `${t}=${n}`).join(', ')}`)
      out.ok(`after: every table empty (${[...names, ...reached].join(', ')}); ${capped ? 'more than ' : ''}${total} rows removed`)
      return { rows: capped ? `${total}+` : total, tables: names.length + reached.length }
    })
  },
})
