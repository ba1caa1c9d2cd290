// Code rollback with git, as the plan does it by hand: look at the recent commits, keep a
// backup branch, revert a commit, or branch off the backup. Every git call is an argument
// array through the runner; the ones that change something are printed in a dry run.
import path from 'node:path'
import { out } from '../util/output.ts'
import type { RunOptions, Runner } from '../util/command.ts'
import { RefusedError, UsageError } from '../util/errors.ts'

export const backupBranch = (name: string) => `backup-before-${name}`
export const rollbackBranch = (name: string) => `rollback-${name}`

/** A name that makes a valid branch name and is never read as an option. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/

export interface CodePlan {
  /** The repository; default: the one APP_DIR is in. */
  repo?: string
  /** Make backup-before-<backup> at HEAD first. */
  backup?: string
  /** Revert this commit. */
  revert?: string
  /** Check out backup-before-<fromBackup> into a new branch. */
  fromBackup?: string
  /** The new branch for fromBackup; default rollback-<fromBackup>. */
  branch?: string
}

/**
 * The plan from the script's flags, as typed: --backup NAME, --revert COMMIT, --from-backup NAME, --branch NAME, --repo
 * DIR.
 */
export function codePlanFromFlags(flags: Record<string, string | boolean>, positionals: string[]): CodePlan {
  if (positionals.length)
    throw new UsageError(`unexpected argument ${positionals.join(' ')} (--backup takes the NAME: --backup NAME)`)
  const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined)
  const repo = text('repo')
  return codePlan({
    backup: text('backup'),
    revert: text('revert'),
    fromBackup: text('from-backup'),
    branch: text('branch'),
    repo: repo && path.resolve(repo),
  })
}

/** The plan; a UsageError says what is wrong with it. */
export function codePlan(given: CodePlan): CodePlan {
  const problems: string[] = []
  for (const [flag, value] of [
    ['--backup', given.backup],
    ['--from-backup', given.fromBackup],
    ['--branch', given.branch],
  ] as const) {
    if (value === '') problems.push(`${flag} needs a NAME`)
    else if (value !== undefined && (!NAME.test(value) || value.includes('..') || value.endsWith('.lock')))
      problems.push(`${flag} ${JSON.stringify(value)} is not a usable branch name (letters, digits, . _ / -)`)
  }
  if (given.revert === '') problems.push('--revert needs a COMMIT')
  else if (given.revert !== undefined && !/^[A-Za-z0-9][\w./^~@{}-]*$/.test(given.revert))
    problems.push(`--revert ${JSON.stringify(given.revert)} is not a commit`)
  if (given.revert !== undefined && given.fromBackup !== undefined)
    problems.push('--revert and --from-backup are two different rollbacks; choose one')
  if (given.branch !== undefined && given.fromBackup === undefined)
    problems.push('--branch names the branch --from-backup makes; give --from-backup too')
  if (problems.length) throw new UsageError(problems.join('; '))
  return given
}

export class Git {
  constructor(
    private run: Runner,
    public repo: string,
  ) {}

  /** The top of the work tree that holds `dir`. */
  static async toplevel(run: Runner, dir: string): Promise<string> {
    const res = await run(['git', '-C', dir, 'rev-parse', '--show-toplevel'], { allowFailure: true })
    if (res.code !== 0) throw new Error(`${dir} is not inside a git repository (${res.stderr.trim()}); pass --repo DIR`)
    return res.stdout.trim()
  }

  git(args: string[], options?: RunOptions) {
    return this.run(['git', '-C', this.repo, ...args], options)
  }

  async log(count = 10): Promise<string[]> {
    const res = await this.git(['log', '--oneline', `-${count}`], { allowFailure: true })
    if (res.code !== 0) return [] // a repository without commits
    return res.stdout.split('\n').filter(Boolean)
  }

  /** Tracked files with changes, staged or not (untracked files are left out: no rollback touches them). */
  async changedFiles(): Promise<string[]> {
    const res = await this.git(['status', '--porcelain', '--untracked-files=no'])
    return changedFiles(res.stdout)
  }

  async branchExists(name: string): Promise<boolean> {
    const res = await this.git(['rev-parse', '--verify', '--quiet', `refs/heads/${name}`], { allowFailure: true })
    return res.code === 0
  }

  /** The full hash and one-line description of a commit, or an error naming the repository. */
  async commit(ref: string): Promise<{ sha: string; line: string }> {
    const res = await this.git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], {
      allowFailure: true,
    })
    if (res.code !== 0)
      throw new Error(`no commit ${JSON.stringify(ref)} in ${this.repo}; see the recent commits above`)
    const sha = res.stdout.trim()
    const line = (await this.git(['log', '-1', '--oneline', sha])).stdout.trim()
    return { sha, line }
  }

  async head(): Promise<string> {
    const branch = (await this.git(['branch', '--show-current'])).stdout.trim()
    return branch || `detached at ${(await this.git(['rev-parse', '--short', 'HEAD'])).stdout.trim()}`
  }
}

/** Paths from `git status --porcelain` (renames give the new path). */
export function changedFiles(porcelain: string): string[] {
  return porcelain
    .split('\n')
    .filter((l) => l.trim())
    .map((l) =>
      l
        .slice(3)
        .replace(/^.* -> /, '')
        .replace(/^"(.*)"$/, '$1'),
    )
}

/** Shows the recent commits, then carries out the plan: backup branch, then revert or branch from the backup. */
export async function rollbackCode(git: Git, plan: CodePlan, dryRun = false): Promise<Record<string, string | number>> {
  const commits = await git.log(10)
  out.line(`    recent commits of ${git.repo} (on ${await git.head()}):`)
  for (const c of commits) out.info(`  ${c}`)
  if (!plan.backup && !plan.revert && !plan.fromBackup) return { commits: commits.length }

  // Preflight: everything checked before the first change.
  const changed = await git.changedFiles()
  if (changed.length) {
    throw new RefusedError(
      `the work tree of ${git.repo} has uncommitted changes in ${changed.join(', ')}. Commit them or stash them (git ` +
        `stash), then rerun; nothing was changed.`,
    )
  }
  if (plan.backup && (await git.branchExists(backupBranch(plan.backup)))) {
    throw new Error(
      `branch ${backupBranch(plan.backup)} already exists; choose another --backup NAME or delete it (git branch -D ` +
        `${backupBranch(plan.backup)}); nothing was changed`,
    )
  }
  const target = plan.fromBackup ? (plan.branch ?? rollbackBranch(plan.fromBackup)) : null
  if (plan.fromBackup && !(await git.branchExists(backupBranch(plan.fromBackup))) && plan.backup !== plan.fromBackup) {
    throw new Error(
      `there is no branch ${backupBranch(plan.fromBackup)} to roll back to; make one with --backup ` +
        `${plan.fromBackup} before the change. Nothing was changed.`,
    )
  }
  if (target && (await git.branchExists(target)))
    throw new Error(`branch ${target} already exists; name another with --branch; nothing was changed`)
  const reverted = plan.revert ? await git.commit(plan.revert) : null

  const figures: Record<string, string | number> = {}
  const done = (text: string) => dryRun || out.ok(text) // a dry run has printed the command instead
  if (plan.backup) {
    await git.git(['branch', backupBranch(plan.backup)], { mutates: true })
    done(`backup branch ${backupBranch(plan.backup)} at ${commits[0] ?? 'HEAD'}`)
    figures.backup = backupBranch(plan.backup)
  }
  if (plan.fromBackup && target) {
    await git.git(['checkout', '-b', target, backupBranch(plan.fromBackup)], { mutates: true })
    done(`now on ${target}, made from ${backupBranch(plan.fromBackup)}`)
    figures.branch = target
  }
  if (reverted) {
    const res = await git.git(['revert', '--no-edit', reverted.sha], { mutates: true, allowFailure: true })
    if (res.code !== 0) {
      const conflicts = (await git.git(['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter(Boolean)
      await git.git(['revert', '--abort'], { mutates: true, allowFailure: true })
      const why = conflicts.length
        ? `it conflicts in ${conflicts.join(', ')}`
        : (res.stderr.trim() || res.stdout.trim()).split('\n').slice(-3).join(' ')
      throw new Error(
        `git revert of ${reverted.line} failed: ${why}. The revert was aborted; the work tree is as it was.`,
      )
    }
    if (!dryRun) done(`reverted ${reverted.line}: HEAD is now ${(await git.log(1))[0]}`)
    figures.reverted = reverted.sha.slice(0, 12)
  }
  return figures
}
