// The recovery tasks' pure logic: migration history and paths, circuit-breaker patterns and
// state, consistency findings, git command lines (a recording runner), values as typed, exit codes.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { downgradePath, describePlan, parseCurrent, parseHistory, parseRequest, resolveRevision, upgradePath } from '../../lib/app/migrations.ts'
import { breakerTable, globMatch, patternProblems, readBreaker, tripped } from '../../lib/app/circuit.ts'
import { findingsSql, formatViolation, invariants } from '../../lib/app/consistency.ts'
import { codePlan, codePlanFromFlags, changedFiles, Git, rollbackCode } from '../../lib/app/git.ts'
import { execute } from '../../lib/run/cli.ts'
import type { PhaseSpec } from '../../lib/run/context.ts'
import { CheckFailed, RefusedError, UsageError } from '../../lib/util/errors.ts'
import { EXIT } from '../../lib/util/exits.ts'
import type { Runner, RunResult } from '../../lib/util/command.ts'

process.env.RT_STATE_DIR = mkdtempSync(path.join(tmpdir(), 'state-'))

/** What the code under test prints, kept off the test report; a test may read it. */
let printed = ''
const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
test.before.each(() => {
  printed = ''
  process.stdout.write = process.stderr.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write
})
test.after.each(() => {
  process.stdout.write = writes.out
  process.stderr.write = writes.err
})

// ---- migrations ----

const HISTORY = `0002_campaigns_leads_jobs -> 0003_enrichment_and_completion (head), lead enrichment columns, jobs.completed_at, jobs (campaign_id, job_type) index
0001_initial -> 0002_campaigns_leads_jobs, campaigns, leads and jobs with their enum types
<base> -> 0001_initial, users and organizations
`
const revisions = parseHistory(HISTORY)

test('history: ids, parents and messages, newest first; base has no parent', () => {
  assert.equal(revisions.map((r) => [r.id, r.parents]), [
    ['0003_enrichment_and_completion', ['0002_campaigns_leads_jobs']],
    ['0002_campaigns_leads_jobs', ['0001_initial']],
    ['0001_initial', []],
  ])
  assert.is(revisions[0].message, 'lead enrichment columns, jobs.completed_at, jobs (campaign_id, job_type) index')
})

test('history: merge points, branch points and noise lines', () => {
  const text = `INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
ae1027a6acf, 27c6a30d7c24 -> 53fffde5ad5 (head) (mergepoint), merge the branches
1975ea83b712 -> ae1027a6acf, add a column
1975ea83b712 -> 27c6a30d7c24, add a table
<base> -> 1975ea83b712 (branchpoint), create account table`
  const r = parseHistory(text)
  assert.equal(r.map((x) => x.id), ['53fffde5ad5', 'ae1027a6acf', '27c6a30d7c24', '1975ea83b712'])
  assert.equal(r[0].parents, ['ae1027a6acf', '27c6a30d7c24'])
  assert.equal(downgradePath(r, ['53fffde5ad5'], '1975ea83b712').map((x) => x.id), ['53fffde5ad5', 'ae1027a6acf', '27c6a30d7c24'])
  assert.throws(() => resolveRevision('-2', r, ['53fffde5ad5']), /ambiguous/)
})

test('current: the revision among the known ones, (head) or not; nothing at base', () => {
  assert.equal(parseCurrent('0003_enrichment_and_completion (head)\n', revisions), ['0003_enrichment_and_completion'])
  assert.equal(parseCurrent('INFO  [alembic] Context impl\n0002_campaigns_leads_jobs\n', revisions), ['0002_campaigns_leads_jobs'])
  assert.equal(parseCurrent('', revisions), [])
})

test('revision references: id, unique prefix, base, head, -N, +N; unknown and ambiguous ones are named', () => {
  const at = ['0003_enrichment_and_completion']
  assert.is(resolveRevision('0002_campaigns_leads_jobs', revisions, at), '0002_campaigns_leads_jobs')
  assert.is(resolveRevision('0002', revisions, at), '0002_campaigns_leads_jobs')
  assert.is(resolveRevision('base', revisions, at), null)
  assert.is(resolveRevision('head', revisions, []), '0003_enrichment_and_completion')
  assert.is(resolveRevision('-1', revisions, at), '0002_campaigns_leads_jobs')
  assert.is(resolveRevision('-3', revisions, at), null)
  assert.is(resolveRevision('+1', revisions, ['0001_initial']), '0002_campaigns_leads_jobs')
  assert.throws(() => resolveRevision('nope', revisions, at), /unknown revision "nope"; revisions are: 0003_enrichment_and_completion, 0002_campaigns_leads_jobs, 0001_initial/)
  assert.throws(() => resolveRevision('000', revisions, at), /ambiguous: 0003_enrichment_and_completion, 0002_campaigns_leads_jobs, 0001_initial/)
  assert.throws(() => resolveRevision('-4', revisions, at), /goes past the first revision/)
  assert.throws(() => resolveRevision('+1', revisions, at), /goes past the last revision/)
})

test('a downgrade passes through every revision above the target, newest first; never upwards', () => {
  const at = ['0003_enrichment_and_completion']
  assert.equal(downgradePath(revisions, at, '0002_campaigns_leads_jobs').map((r) => r.id), ['0003_enrichment_and_completion'])
  assert.equal(downgradePath(revisions, at, null).map((r) => r.id), ['0003_enrichment_and_completion', '0002_campaigns_leads_jobs', '0001_initial'])
  assert.equal(downgradePath(revisions, at, '0003_enrichment_and_completion'), [])
  assert.throws(() => downgradePath(revisions, ['0001_initial'], '0003_enrichment_and_completion'), /not below the current revision 0001_initial; use upgrade/)
  assert.equal(upgradePath(revisions, [], '0003_enrichment_and_completion').map((r) => r.id), ['0001_initial', '0002_campaigns_leads_jobs', '0003_enrichment_and_completion'])
  assert.throws(() => upgradePath(revisions, at, '0001_initial'), /not above/)
})

test('the confirmation lists the revisions a downgrade passes through', () => {
  const steps = downgradePath(revisions, ['0003_enrichment_and_completion'], '0001_initial')
  const lines = describePlan({ action: 'downgrade', current: ['0003_enrichment_and_completion'], target: '0001_initial', steps }, 'app')
  assert.match(lines[0], /database app: downgrade from 0003_enrichment_and_completion to 0001_initial, running the downgrade of 2 revisions/)
  assert.equal(lines.slice(1), ['  0003_enrichment_and_completion: lead enrichment columns, jobs.completed_at, jobs (campaign_id, job_type) index', '  0002_campaigns_leads_jobs: campaigns, leads and jobs with their enum types'])
  assert.match(describePlan({ action: 'upgrade', current: ['x'], target: 'x', steps: [] }, 'app')[0], /already at x; nothing to upgrade/)
})

test('actions: current by default, upgrade to head by default, downgrade needs a revision', () => {
  assert.equal(parseRequest([]), { action: 'current', ref: undefined })
  assert.equal(parseRequest(['upgrade']), { action: 'upgrade', ref: 'head' })
  assert.equal(parseRequest(['downgrade', '-1']), { action: 'downgrade', ref: '-1' })
  assert.throws(() => parseRequest(['downgrade']), (e: Error) => e instanceof UsageError && /needs a revision/.test(e.message))
  assert.throws(() => parseRequest(['rollback']), (e: Error) => e instanceof UsageError && /unknown action "rollback"/.test(e.message))
  assert.throws(() => parseRequest(['history', 'x']), (e: Error) => e instanceof UsageError)
})

// ---- circuit breaker ----

test('patterns: none, empty-ish and match-everything patterns are refused', () => {
  assert.equal(patternProblems(['circuit_breaker:*', 'queue_paused:*']), [])
  assert.is(patternProblems([]).length, 1)
  assert.is(patternProblems(['*', '**', '?*', 'ok:*']).length, 3)
  assert.match(patternProblems(['*'])[0], /matches every key; use --all/)
})

test('Redis glob: the global key is covered by circuit_breaker:*, not by the others', () => {
  assert.ok(globMatch('circuit_breaker:*', 'circuit_breaker:global'))
  assert.not.ok(globMatch('circuit_failures:*', 'circuit_breaker:global'))
  assert.ok(globMatch('queue_paused:?pen*', 'queue_paused:openai'))
  assert.ok(globMatch('h[ae]llo', 'hallo'))
  assert.not.ok(globMatch('h[^e]llo', 'hello'))
  assert.ok(globMatch('a\\*b', 'a*b'))
  assert.not.ok(globMatch('a\\*b', 'axb'))
  assert.ok(globMatch('x.y', 'x.y'))
  assert.not.ok(globMatch('x.y', 'xzy'))
})

test('breaker state from its keys: absent is closed, open or paused is tripped, bad JSON unreadable', () => {
  const open = readBreaker('openai', JSON.stringify({ state: 'open', opened_at: 1732363200.5, metadata: {} }), '5', '1')
  assert.equal(open, { name: 'openai', state: 'open', openedAt: '2024-11-23T12:00:00Z', failures: 5, paused: true })
  assert.ok(tripped(open))
  const absent = readBreaker('apollo', null, null, null)
  assert.is(absent.state, 'closed (no key)')
  assert.not.ok(tripped(absent))
  assert.ok(tripped(readBreaker('x', JSON.stringify({ state: 'closed' }), '0', '1')), 'paused queue')
  assert.ok(tripped(readBreaker('x', JSON.stringify({ state: 'half_open' }), '0', '0')))
  assert.is(readBreaker('x', 'not json', null, null).state, 'unreadable')
  assert.ok(tripped(readBreaker('x', 'not json', null, null)))
  assert.is(readBreaker('x', JSON.stringify({ state: 'open', opened_at: '2025-01-01T00:00:00Z' }), null, null).openedAt, '2025-01-01T00:00:00Z')
  assert.match(breakerTable([open, absent]), /openai\s+open\s+2024-11-23T12:00:00Z\s+5\s+PAUSED/)
})

// ---- consistency ----

test('every invariant has a name, a sentence and a query; the limit is in the stuck-jobs query', () => {
  const list = invariants(45)
  assert.is(new Set(list.map((i) => i.name)).size, list.length)
  assert.ok(list.every((i) => i.says && /SELECT .*id/s.test(i.sql)))
  assert.match(list.find((i) => i.name === 'no-stuck-processing-jobs')!.sql, /now\(\) - 45 \* interval '1 minute'/)
  assert.throws(() => invariants(0), /positive number of minutes/)
  assert.throws(() => invariants(Number('1; DROP TABLE jobs')), /positive number/)
  const sql = findingsSql(list)
  assert.is(sql.split('UNION ALL').length, list.length)
  assert.match(sql, /count\(\*\) OVER \(\)::int AS total/)
})

test('a finding names the invariant, the count and each row by id, and how many more', () => {
  const [inv] = invariants(30)
  const lines = formatViolation({ invariant: inv, total: 3, rows: [{ id: 'c1', detail: 'campaign "a"' }, { id: 'c2', detail: 'campaign "b"' }] })
  assert.equal(lines, [
    'no-paused-campaigns: 3 rows break "no campaign is PAUSED (that status goes away with the simplification; none may be left before its migration)"',
    '  c1: campaign "a"',
    '  c2: campaign "b"',
    '  ... and 1 more',
  ])
  assert.match(formatViolation({ invariant: inv, total: 1, rows: [{ id: 'c1', detail: 'x' }] })[0], /1 row break/)
})

// ---- git ----

/** A runner that records command lines and answers from a table of command prefixes (after `git -C /repo`). */
function recorder(answers: Record<string, Partial<RunResult>>) {
  const calls: string[][] = []
  const run = Object.assign(async (argv: string[], options: { allowFailure?: boolean } = {}) => {
    calls.push(argv)
    const line = argv.slice(3).join(' ')
    const key = Object.keys(answers).filter((k) => line.startsWith(k)).sort((a, b) => b.length - a.length)[0] // the most specific
    const res = { code: 0, stdout: '', stderr: '', timedOut: false, ...(key ? answers[key] : {}) }
    if (res.code !== 0 && !options.allowFailure) throw new Error(`${argv.join(' ')} failed`)
    return res
  }, { dryRun: false }) as Runner
  return { run, calls, lines: () => calls.map((c) => c.join(' ')) }
}

const clean = {
  'log --oneline -10': { stdout: 'abc1234 second\ndef5678 first\n' },
  'log --oneline -1': { stdout: 'fff0000 Revert "second"\n' },
  'log -1 --oneline': { stdout: 'abc1234 second\n' },
  'branch --show-current': { stdout: 'main\n' },
  'status --porcelain': { stdout: '' },
  'rev-parse --verify --quiet refs/heads/': { code: 1 },
  'rev-parse --verify --quiet --end-of-options abc1234^{commit}': { stdout: 'abc1234aaaabbbbccccddddeeeeffff00001111\n' },
}

test('git: backup then revert, as argument arrays in order, after the checks', async () => {
  const { run, lines } = recorder(clean)
  const value = await rollbackCode(new Git(run, '/repo'), codePlan({ backup: 'simplification', revert: 'abc1234' }))
  const changes = lines().filter((l) => / (branch|revert|checkout) /.test(l) && !/--show-current/.test(l))
  assert.equal(changes, ['git -C /repo branch backup-before-simplification', 'git -C /repo revert --no-edit abc1234aaaabbbbccccddddeeeeffff00001111'])
  assert.ok(lines().indexOf('git -C /repo status --porcelain --untracked-files=no') < lines().indexOf(changes[0]), 'checked before changing')
  assert.equal(value, { backup: 'backup-before-simplification', reverted: 'abc1234aaaab' })
})

test('git: --from-backup checks the backup out into rollback-NAME (or --branch)', async () => {
  const { run, lines } = recorder({ ...clean, 'rev-parse --verify --quiet refs/heads/backup-before-x': {} })
  await rollbackCode(new Git(run, '/repo'), codePlan({ fromBackup: 'x' }))
  assert.ok(lines().includes('git -C /repo checkout -b rollback-x backup-before-x'))
  const other = recorder({ ...clean, 'rev-parse --verify --quiet refs/heads/backup-before-x': {} })
  await rollbackCode(new Git(other.run, '/repo'), codePlan({ fromBackup: 'x', branch: 'hotfix' }))
  assert.ok(other.lines().includes('git -C /repo checkout -b hotfix backup-before-x'))
})

test('git: a dirty work tree is refused, naming the files; nothing runs that changes anything', async () => {
  const { run, lines } = recorder({ ...clean, 'status --porcelain': { stdout: ' M app/main.py\nM  alembic/env.py\nR  old.py -> new.py\n' } })
  const value = await rollbackCode(new Git(run, '/repo'), codePlan({ revert: 'abc1234' })).catch((e) => e)
  assert.ok(value instanceof RefusedError)
  assert.match((value as Error).message, /uncommitted changes in app\/main.py, alembic\/env.py, new.py. Commit them or stash them/)
  assert.not.ok(lines().some((l) => / revert /.test(l)))
})

test('git: a conflicting revert is aborted and its files named', async () => {
  const { run, lines } = recorder({ ...clean, 'revert --no-edit': { code: 1, stderr: 'error: could not revert' }, 'diff --name-only --diff-filter=U': { stdout: 'app/x.py\n' } })
  const value = await rollbackCode(new Git(run, '/repo'), codePlan({ revert: 'abc1234' })).catch((e) => e)
  assert.match((value as Error).message, /git revert of abc1234 second failed: it conflicts in app\/x.py. The revert was aborted/)
  assert.ok(lines().includes('git -C /repo revert --abort'))
})

test('git: nothing asked, nothing checked: only the recent commits', async () => {
  const { run, lines } = recorder({ ...clean, 'status --porcelain': { stdout: ' M dirty.py\n' } })
  const value = await rollbackCode(new Git(run, '/repo'), codePlan({}))
  assert.equal(value, { commits: 2 })
  assert.match(printed, /abc1234 second/)
  assert.not.ok(lines().some((l) => /status/.test(l)))
})

test('git: the plan from the flags: --backup NAME, hashes as typed, --repo resolved; a stray argument is a usage error', () => {
  assert.equal(codePlanFromFlags({ backup: 'simplification', revert: 'abc1234', repo: 'x' }, []), { backup: 'simplification', revert: 'abc1234', fromBackup: undefined, branch: undefined, repo: path.resolve('x') })
  assert.is(codePlanFromFlags({ revert: 'HEAD~1' }, []).revert, 'HEAD~1')
  assert.throws(() => codePlanFromFlags({}, ['stray']), (e: Error) => e instanceof UsageError && /unexpected argument stray/.test(e.message))
  assert.throws(() => codePlanFromFlags({ backup: '' }, []), (e: Error) => e instanceof UsageError && /--backup needs a NAME/.test(e.message))
})

test('git: bad names and combinations are usage errors', () => {
  for (const given of [{ backup: '' }, { backup: '-x' }, { backup: 'a..b' }, { revert: '' }, { revert: '--all' }, { revert: 'a', fromBackup: 'b' }, { branch: 'x' }]) {
    assert.throws(() => codePlan(given), (e: Error) => e instanceof UsageError, JSON.stringify(given))
  }
  assert.equal(changedFiles(' M a b.py\n?? new\n'), ['a b.py', 'new'])
})

// ---- exit codes through the wrapper ----

const task = (body: () => Promise<void>): PhaseSpec => ({ number: 0, name: 'task', title: 'a task', purpose: 'p', exitCode: EXIT.database, destroys: null, run: body })

test('a usage error exits 9, a failed check 7, anything else the task code', async () => {
  const codes = []
  for (const [body, code] of [
    [async () => { throw new UsageError('bad') }, 9],
    [async () => { throw new CheckFailed('found') }, 7],
    [async () => { throw new Error('broke') }, 4],
    [async () => {}, 0],
  ] as const) {
    codes.push([await execute({ script: 't.mts', purpose: 'p', phases: [task(body)] }, []), code])
  }
  for (const [got, want] of codes) assert.is(got, want)
})

test.run()
