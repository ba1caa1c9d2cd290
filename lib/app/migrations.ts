// Database rollback with the app's migration tool (alembic, or `flask db` which wraps it) run in
// the api container: the revision graph read from `history`, the current revision, where a
// revision reference points, and the revisions an upgrade or downgrade passes through.
// A revision that is unknown, ambiguous or the wrong way fails the task (exit 4) before anything
// changes; a malformed command line is a usage error (exit 9).
import { lockHolders, resolveTables } from '../access/catalog.ts'
import { withDatabase } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import { CommandError, showCommand, type RunResult } from '../util/command.ts'
import { UsageError } from '../util/errors.ts'
import { out } from '../util/output.ts'

export interface Revision {
  id: string
  /** Revisions it follows; empty for the first. */
  parents: string[]
  message: string
}

/** A line of `alembic history`: "<parents> -> <id> (head) (branchpoint), message"; parents "<base>" for the first. */
const HISTORY_LINE = /^\s*(.+?) -> ([^\s,]+)((?: \([a-z ]+\))*)(?:,\s*(.*))?$/

/** The revisions in the order history prints them (newest first); other lines are ignored. */
export function parseHistory(text: string): Revision[] {
  const revisions: Revision[] = []
  for (const line of text.split('\n')) {
    const m = HISTORY_LINE.exec(line)
    if (!m) continue
    const parents = m[1].split(/,\s*/).filter((p) => p !== '<base>')
    revisions.push({ id: m[2], parents, message: (m[4] ?? '').trim() })
  }
  return revisions
}

/** The current revision(s) from `alembic current`: lines "<id>" or "<id> (head)"; none at base. */
export function parseCurrent(text: string, known: Revision[]): string[] {
  const ids = new Set(known.map((r) => r.id))
  return text
    .split('\n')
    .map((l) => /^([^\s,]+)(?: \([a-z ]+\))*\s*$/.exec(l.trim())?.[1])
    .filter((id): id is string => id !== undefined && ids.has(id))
}

export const heads = (revisions: Revision[]) =>
  revisions.filter((r) => !revisions.some((o) => o.parents.includes(r.id))).map((r) => r.id)

/** The revisions and everything they follow. */
export function lineage(revisions: Revision[], from: string[]): Set<string> {
  const byId = new Map(revisions.map((r) => [r.id, r]))
  const seen = new Set<string>()
  const todo = [...from]
  while (todo.length) {
    const id = todo.pop()!
    if (seen.has(id)) continue
    seen.add(id)
    todo.push(...(byId.get(id)?.parents ?? []))
  }
  return seen
}

/** Where a reference points: an id, a unique id prefix, base, head, -N (below current) or +N (above). null is base. */
export function resolveRevision(ref: string, revisions: Revision[], current: string[]): string | null {
  const known = () => `revisions are: ${revisions.map((r) => r.id).join(', ') || 'none'} (and base, head, -N, +N)`
  if (ref === 'base') return null
  if (ref === 'head' || ref === 'heads') {
    const h = heads(revisions)
    if (h.length !== 1) throw new Error(`there are ${h.length} heads (${h.join(', ')}); name one`)
    return h[0]
  }
  const step = /^([+-])(\d+)$/.exec(ref)
  if (step) {
    if (current.length !== 1)
      throw new Error(
        `${ref} is relative to the current revision, but the database is at ${current.join(', ') || 'base'}; name a ` +
          `revision`,
      )
    let at: string | null = current[0]
    for (let i = 0; i < Number(step[2]); i++) {
      const next: string[] =
        step[1] === '-'
          ? (revisions.find((r) => r.id === at)?.parents ?? [])
          : revisions.filter((r) => r.parents.includes(at!)).map((r) => r.id)
      if (next.length > 1)
        throw new Error(
          `${ref} is ambiguous: ${at} ${step[1] === '-' ? 'follows' : 'is followed by'} ${next.join(' and ')}; name ` +
            `a revision`,
        )
      if (next.length === 0) {
        if (step[1] === '-' && i === Number(step[2]) - 1) return null
        throw new Error(`${ref} goes past the ${step[1] === '-' ? 'first' : 'last'} revision; ${known()}`)
      }
      at = next[0]
    }
    return at
  }
  const exact = revisions.find((r) => r.id === ref)
  if (exact) return exact.id
  const prefixed = revisions.filter((r) => r.id.startsWith(ref))
  if (prefixed.length === 1) return prefixed[0].id
  if (prefixed.length > 1)
    throw new Error(`revision ${JSON.stringify(ref)} is ambiguous: ${prefixed.map((r) => r.id).join(', ')}`)
  throw new Error(`unknown revision ${JSON.stringify(ref)}; ${known()}`)
}

/** Revisions whose downgrade runs to go from `current` to `target` (null: base), newest first. */
export function downgradePath(revisions: Revision[], current: string[], target: string | null): Revision[] {
  const above = lineage(revisions, current)
  if (target !== null && !above.has(target))
    throw new Error(`${target} is not below the current revision ${current.join(', ') || '(base)'}; use upgrade`)
  const kept = target === null ? new Set<string>() : lineage(revisions, [target])
  return revisions.filter((r) => above.has(r.id) && !kept.has(r.id))
}

/** Revisions whose upgrade runs to go from `current` to `target`, oldest first. */
export function upgradePath(revisions: Revision[], current: string[], target: string): Revision[] {
  const done = lineage(revisions, current)
  const path = lineage(revisions, [target])
  if (current.some((c) => !path.has(c)))
    throw new Error(`${target} is not above the current revision ${current.join(', ')}; use downgrade`)
  return revisions.filter((r) => path.has(r.id) && !done.has(r.id)).reverse()
}

export const ACTIONS = ['current', 'history', 'upgrade', 'downgrade'] as const
export type Action = (typeof ACTIONS)[number]

export interface MigrationRequest {
  action: Action
  /** As typed; upgrade defaults to head. */
  ref?: string
}

/** `current` | `history` | `upgrade [REV]` | `downgrade REV`, from the positional arguments. */
export function parseRequest(args: string[]): MigrationRequest {
  const [action = 'current', ref, ...rest] = args
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new UsageError(
      `unknown action ${JSON.stringify(action)}; actions are current, history, upgrade [REV], downgrade REV`,
    )
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`)
  if ((action === 'current' || action === 'history') && ref !== undefined)
    throw new UsageError(`${action} takes no revision`)
  if (action === 'downgrade' && ref === undefined)
    throw new UsageError('downgrade needs a revision: downgrade REV (an id, base, or -1)')
  return { action: action as Action, ref: action === 'upgrade' ? (ref ?? 'head') : ref }
}

export interface MigrationPlan {
  action: 'upgrade' | 'downgrade'
  current: string[]
  /** Where the database will be; null is base. */
  target: string | null
  /** Revisions passed through, in the order they run. */
  steps: Revision[]
}

/** The migration tool in the api container (MIGRATION_CMD, e.g. `alembic` or `flask db`). */
export class Migrations {
  readonly cmd: string[]
  constructor(private r: Reach) {
    this.cmd = r.config.recovery.migrationCmd
  }

  /**
   * Runs the tool in the api container so that its deadline (or Ctrl-C) stops it inside the
   * container too; schema changes wait at most LOCK_TIMEOUT for a table lock instead of hanging
   * behind a session. A dry run prints what changes something.
   */
  async exec(args: string[], mutates = false): Promise<RunResult> {
    const { config, target, dryRun } = this.r
    const argv = [...this.cmd, ...args]
    if (mutates && dryRun) {
      out.info(`[dry-run] would run in ${config.services.api}: ${showCommand(argv)}`)
      return { code: 0, stdout: '', stderr: '', timedOut: false }
    }
    const env = { PGOPTIONS: `-c lock_timeout=${Math.round(config.database.lockTimeoutMs)}` }
    const res = await target.execTracked(config.services.api, showCommand(argv), {
      timeoutMs: config.commandTimeoutMs,
      env,
    })
    if (res.stopped !== undefined)
      throw new Error(
        `${showCommand(argv)} did not finish within ${config.commandTimeoutMs / 1000} s in ${config.services.api}; ` +
          `${res.stopped}`,
      )
    if (res.code !== 0) throw new CommandError(argv, res, config.secrets)
    return res
  }

  /** Carries out a plan; when a session's lock stops it, the error names the sessions holding locks. */
  async migrate(plan: MigrationPlan): Promise<RunResult> {
    try {
      return await this.exec([plan.action, revisionName(plan.target)], true)
    } catch (e) {
      if (!/LockNotAvailable|lock timeout/.test((e as Error).message)) throw e
      const holders = await withDatabase(this.r, async (db) =>
        lockHolders(
          db,
          (await resolveTables(db, this.r.config.database.tables)).map((t) => t.oid),
        ),
      ).catch(() => [] as string[])
      throw new Error(
        `the ${plan.action} could not lock a table within ` +
          `LOCK_TIMEOUT=${this.r.config.database.lockTimeoutMs / 1000} s and stopped (see where it is with: ` +
          `rollback-db current).\n` +
          (holders.length
            ? holders.map((h) => `      ${h}`).join('\n') + '\n      End that session or let it finish, then rerun.'
            : '      Stop the workers or the session holding the lock, then rerun.'),
      )
    }
  }

  async history(): Promise<Revision[]> {
    const revisions = parseHistory((await this.exec(['history'])).stdout)
    if (!revisions.length)
      throw new Error(`${this.cmd.join(' ')} history lists no revisions; is MIGRATION_CMD right for this app?`)
    return revisions
  }

  async current(revisions: Revision[]): Promise<string[]> {
    return parseCurrent((await this.exec(['current'])).stdout, revisions)
  }

  /** What an upgrade or downgrade would do; an unknown or wrong-way revision fails here, before anything changes. */
  async plan(request: MigrationRequest): Promise<MigrationPlan & { revisions: Revision[] }> {
    if (request.action !== 'upgrade' && request.action !== 'downgrade')
      throw new Error(`${request.action} changes nothing`)
    const revisions = await this.history()
    const current = await this.current(revisions)
    const target = resolveRevision(request.ref!, revisions, current)
    if (request.action === 'upgrade' && target === null)
      throw new Error('upgrade to base goes down; use downgrade base')
    const steps =
      request.action === 'downgrade'
        ? downgradePath(revisions, current, target)
        : upgradePath(revisions, current, target!)
    return { action: request.action, current, target, steps, revisions }
  }
}

export const revisionName = (id: string | null) => id ?? 'base'
export const revisionNames = (ids: string[]) => ids.join(', ') || 'base'

/** The confirmation's lines for a plan. */
export function describePlan(plan: MigrationPlan, database: string): string[] {
  const from = revisionNames(plan.current)
  if (!plan.steps.length)
    return [`database ${database}: already at ${revisionName(plan.target)}; nothing to ${plan.action}`]
  return [
    `database ${database}: ${plan.action} from ${from} to ${revisionName(plan.target)}, running the ${plan.action} ` +
      `of ${plan.steps.length} revision${plan.steps.length > 1 ? 's' : ''}:`,
    ...plan.steps.map((r) => `  ${r.id}${r.message ? `: ${r.message}` : ''}`),
  ]
}

/**
 * The heads of the migration scripts on disk, read in the api container without importing the app
 * (alembic.ini, or migrations/alembic.ini as Flask-Migrate keeps it; its version locations; each
 * script's `revision` and `down_revision`). Prints {"heads": [...]} or {"none": why}.
 */
const HEADS = String.raw`
import configparser, glob, json, os, re
ini = next((p for p in ('alembic.ini', 'migrations/alembic.ini') if os.path.exists(p)), None)
if not ini:
    print(json.dumps({'none': 'no alembic.ini in the working directory'})); raise SystemExit
here = os.path.dirname(os.path.abspath(ini))
cp = configparser.ConfigParser(interpolation=None); cp.read(ini)
get = lambda k: cp.get('alembic', k, fallback='').replace('%(here)s', here).strip()
script = get('script_location') or here
locations = get('version_locations')
dirs = re.split(r'[\s,:;]+', locations) if locations else [os.path.join(script, 'versions')]
revs, downs = set(), set()
for d in filter(None, dirs):
    for f in glob.glob(os.path.join(d if os.path.isabs(d) else os.path.join(here, d), '**', '*.py'), recursive=True):
        text = open(f, encoding='utf-8', errors='replace').read()
        m = re.search(r'^revision\s*(?::[^=\n]*)?=\s*[\'"]([^\'"]+)', text, re.M)
        if not m:
            continue
        revs.add(m.group(1))
        d = re.search(r'^down_revision\s*(?::[^=\n]*)?=\s*(.+)$', text, re.M)
        downs.update(re.findall(r'[\'"]([^\'"]+)[\'"]', d.group(1)) if d else [])
print(json.dumps({'heads': sorted(revs - downs)}))
`

/** Why the database's migrations are behind the scripts on disk ("at 0002, the scripts' head is 0003"), or null. */
export async function migrationsBehind(r: Reach): Promise<string | null> {
  const { config, target } = r
  const res = await target.exec(config.services.api, ['python3', '-c', HEADS], {
    allowFailure: true,
    timeoutMs: 15_000,
  })
  const found = res.code === 0 ? (JSON.parse(res.stdout.trim().split('\n').pop() || '{}') as { heads?: string[] }) : {}
  if (!found.heads?.length) return null
  const current = await withDatabase(r, async (db) => {
    const [table] = await db.rows<{ t: string | null }>("SELECT to_regclass('alembic_version')::text AS t")
    return table.t ? (await db.rows<{ v: string }>('SELECT version_num AS v FROM alembic_version')).map((x) => x.v) : []
  })
  const behind = found.heads.filter((h) => !current.includes(h))
  if (!behind.length) return null
  return (
    `its migrations are behind: the database is at ${revisionNames(current)}, the scripts' head is ` +
    `${found.heads.join(', ')}`
  )
}
