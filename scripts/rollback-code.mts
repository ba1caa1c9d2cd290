#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// rollback-code: show the recent commits; keep a backup branch, revert a commit, or branch off the backup.
import { codePlanFromFlags, Git, rollbackCode } from '../lib/app/git.ts'
import { definePhase } from '../lib/run/cli.ts'

export default definePhase(import.meta, 'rollback-code', {
  title: 'roll the code back with git',
  purpose:
    'Show `git log --oneline -10`; --backup NAME makes backup-before-NAME, --revert COMMIT reverts it, ' +
    '--from-backup NAME branches rollback-NAME off backup-before-NAME. Refuses a dirty work tree.',
  flags: [
    ['--backup NAME', 'make the branch backup-before-NAME at HEAD (do this before the change)'],
    ['--revert COMMIT', 'git revert --no-edit COMMIT (a new commit undoing it)'],
    ['--from-backup NAME', 'check out backup-before-NAME into a new branch rollback-NAME'],
    ['--branch NAME', 'the branch --from-backup makes (default rollback-NAME)'],
    ['--repo DIR', 'the git repository (default: the one APP_DIR is in)'],
  ],
  args: '[NAME for --backup]',
  async run(ctx) {
    const plan = codePlanFromFlags(ctx.options.flags, ctx.options.args)
    const git = new Git(ctx.run, await Git.toplevel(ctx.run, plan.repo ?? ctx.config.appDir))
    return rollbackCode(git, plan, ctx.dryRun)
  },
})
