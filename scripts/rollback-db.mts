#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// rollback-db: the app's migrations in the api container: current, history, upgrade [REV], downgrade REV (confirmed).
import { withDatabase } from '../lib/access/database.ts'
import {
  describePlan,
  Migrations,
  parseRequest,
  revisionName,
  revisionNames,
  type MigrationPlan,
} from '../lib/app/migrations.ts'
import { stateKey } from '../lib/config/config.ts'
import { definePhase } from '../lib/run/cli.ts'
import type { Ctx } from '../lib/run/context.ts'
import { backupTables } from '../lib/safety/backup.ts'
import { messageOf } from '../lib/util/errors.ts'
import { out } from '../lib/util/output.ts'

// The plan is read once: the confirmation shows it, the run carries it out.
let planned: Promise<MigrationPlan> | undefined
const plan = (ctx: Ctx) => (planned ??= new Migrations(ctx).plan(parseRequest(ctx.options.args)))

export default definePhase(import.meta, 'rollback-db', {
  title: 'move the database schema with the migration tool',
  purpose:
    'Run MIGRATION_CMD (default alembic; e.g. "flask db") in the api container. A downgrade lists the revisions ' +
    'it passes through and asks first; --backup saves RESET_TABLES before it.',
  settings: ['MIGRATION_CMD'],
  args: 'current | history | upgrade [REV] | downgrade REV   (REV: id or unique prefix, base, head; after --: -1)',
  // A malformed request is exit 9 before anything runs.
  check: (_config, options) => {
    try {
      parseRequest(options.args)
      return []
    } catch (e) {
      return [messageOf(e)]
    }
  },
  async inventory(ctx) {
    return describePlan(await plan(ctx), ctx.config.database.name)
  },
  async run(ctx) {
    const request = parseRequest(ctx.options.args)
    const migrations = new Migrations(ctx)
    if (request.action === 'history' || request.action === 'current') {
      const revisions = await migrations.history()
      const current = await migrations.current(revisions)
      out.info(`database at ${revisionNames(current)} (${migrations.cmd.join(' ')} in ${ctx.config.services.api})`)
      if (request.action === 'history')
        for (const r of revisions)
          out.info(`${current.includes(r.id) ? '*' : ' '} ${r.parents.join(', ') || '<base>'} -> ${r.id}: ${r.message}`)
      return { current: revisionNames(current), revisions: revisions.length }
    }

    const p = await plan(ctx)
    // A downgrade's plan was shown and confirmed; an upgrade's is shown here.
    if (p.action === 'upgrade') for (const line of describePlan(p, ctx.config.database.name)) out.info(line)
    const figures = { from: revisionNames(p.current), to: revisionName(p.target), steps: p.steps.length }
    if (!p.steps.length) return figures
    if (p.action === 'downgrade' && ctx.options.backup)
      await withDatabase(ctx, (db) =>
        backupTables(
          { dir: ctx.options.backupDir, dryRun: ctx.dryRun, stack: stateKey(ctx.config) },
          db,
          ctx.config.database.tables,
        ),
      )
    const res = await migrations.migrate(p)
    for (const line of `${res.stdout}${res.stderr}`.split('\n').filter(Boolean)) out.info(`| ${line}`)
    if (ctx.dryRun) return figures

    const now = await migrations.current(await migrations.history())
    if (revisionNames(now) !== revisionName(p.target))
      throw new Error(`after the ${p.action} the database is at ${revisionNames(now)}, not ${revisionName(p.target)}`)
    out.ok(
      `${p.action} done: ${figures.from} -> ${figures.to} (${p.steps.length} revision${p.steps.length > 1 ? 's' : ''})`,
    )
    return figures
  },
})
