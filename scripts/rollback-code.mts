#!/usr/bin/env -S node --import tsx
// rollback-code: show the recent commits; keep a backup branch, revert a commit, or branch off the backup.
import { codePlanFromFlags, Git, rollbackCode } from '../lib/app/git.ts'
import { definePhase } from '../lib/run/cli.ts'

export default definePhase(import.meta, 'rollback-code', {
  async run(ctx) {
    const plan = codePlanFromFlags(ctx.options.flags, ctx.options.args)
    const git = new Git(ctx.run, await Git.toplevel(ctx.run, plan.repo ?? ctx.config.appDir))
    return rollbackCode(git, plan, ctx.dryRun)
  },
})
