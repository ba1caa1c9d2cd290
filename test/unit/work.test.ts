// The app's work for the run page, without a database or Redis: the checks file's timeline (and
// the old files without one), the SQL that reads the jobs, the rows as bars.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadChecks, readTimeline } from '../../lib/app/checks.ts'
import { jobBars, jobsSql, stuckSince, type Timeline } from '../../lib/app/work.ts'
import { KEYS, SUITE_ROOT } from '../../lib/config/config.ts'

const SHIPPED = path.join(SUITE_ROOT, 'checks', 'fastapi-k8-proto.yaml')
const TIMELINE: Timeline = {
  table: 'jobs',
  group: 'campaign_id',
  type: 'job_type',
  status: 'status',
  start: 'created_at',
  end: 'completed_at',
  updated: 'updated_at',
  queue: 'celery',
}
function checksFile(text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'checks-')), 'checks.yaml')
  writeFileSync(f, text)
  return f
}
const defaults = Object.fromEntries(Object.entries(KEYS).map(([k, [v]]) => [k, v as string]))
const settings = (k: string) => defaults[k]

test("the shipped checks file's timeline names the jobs table, its columns and Celery's queue", () => {
  assert.equal(readTimeline(SHIPPED), { timeline: TIMELINE })
  assert.equal(loadChecks(SHIPPED, settings).checks.timeline, TIMELINE)
})

test('a checks file that is a list alone still reads, with no timeline; a timeline beside checks: is read', () => {
  const check = '- name: x\n  count: {n: SELECT count(*) FROM jobs}\n  relation: "="\n  other: 0\n'
  const old = loadChecks(checksFile(check), settings)
  assert.equal([old.problems, old.checks.relations.length, old.checks.timeline], [[], 1, null])
  assert.match(readTimeline(checksFile(check)).problem!, /has no timeline: section/)
  const both = checksFile(
    `timeline:\n  table: app.jobs\n  group: g\n  type: t\n  status: s\n  start: a\n  end: b\nchecks:\n${check}`,
  )
  const read = loadChecks(both, settings)
  assert.equal([read.problems, read.checks.relations.length], [[], 1])
  assert.equal(read.checks.timeline, { table: 'app.jobs', group: 'g', type: 't', status: 's', start: 'a', end: 'b' })
})

test("a timeline's mistakes are named with their line; the checks are still read", () => {
  const f = checksFile(
    'timeline:\n  table: jobs\n  group: "a b"\n  type: t\n  status: s\n  start: a\n  colour: x\nchecks: []\n',
  )
  const { problems } = loadChecks(f, settings)
  assert.match(problems.join('\n'), /:3: timeline group "a b" must be a plain name/)
  assert.match(problems.join('\n'), /:7: unknown timeline field "colour"/)
  assert.match(problems.join('\n'), /:2: the timeline has no "end"/)
  assert.match(readTimeline(f).problem!, /must be a plain name/)
  assert.match(loadChecks(checksFile('name: x\n'), settings).problems[0], /:1: the file must be a list of checks/)
  assert.match(
    loadChecks(checksFile('timeline:\n  table: jobs\n'), settings).problems.join(),
    /the file must be a list/,
  )
  assert.match(loadChecks(checksFile('checks: []\nextra: 1\n'), settings).problems.join(), /unknown section "extra"/)
})

test("the jobs' SQL: quoted names, times as ms since the epoch, the first JOB_LIMIT rows by start, and the count", () => {
  const sql = jobsSql(TIMELINE, 10)
  assert.match(sql.rows, /^SELECT "campaign_id"::text AS "campaign_id", "job_type"::text AS "job_type"/)
  assert.match(sql.rows, /\(extract\(epoch FROM "created_at"\) \* 1000\)::float8 AS "created_at"/)
  assert.match(sql.rows, /FROM "jobs" ORDER BY "created_at" NULLS LAST LIMIT 10$/)
  assert.match(sql.rows, /"updated_at"/)
  assert.not.match(jobsSql({ ...TIMELINE, updated: undefined }).rows, /updated_at/)
  assert.is(sql.count, 'SELECT count(*) AS n FROM "jobs"')
  assert.throws(() => jobsSql({ ...TIMELINE, table: 'jobs; drop' }), /malformed/)
})

test('rows as bars: ms, Dates and ISO strings; no end: to the last update, or a point; no start: left out', () => {
  const bars = jobBars(TIMELINE, [
    {
      campaign_id: 'c',
      job_type: 'ENRICH_LEAD',
      status: 'COMPLETED',
      created_at: 1000,
      completed_at: 2500,
      updated_at: 2600,
    },
    {
      campaign_id: 'c',
      job_type: 'ENRICH_LEAD',
      status: 'PROCESSING',
      created_at: new Date(3000),
      completed_at: null,
      updated_at: '4000',
    },
    {
      campaign_id: 'c',
      job_type: 'FETCH_LEADS',
      status: 'PENDING',
      created_at: '1970-01-01T00:00:05.000000+00:00',
      completed_at: null,
    },
    { campaign_id: 'c', job_type: 'FETCH_LEADS', status: 'PENDING', created_at: null },
  ])
  assert.equal(
    bars.map((b) => [b.start, b.end, b.done, b.status]),
    [
      [1000, 2500, true, 'COMPLETED'],
      [3000, 4000, false, 'PROCESSING'],
      [5000, 5000, false, 'PENDING'],
    ],
  )
})

test('a queue stuck: holding messages at every reading and never shorter, since the first reading of that stretch', () => {
  const at = (values: number[]) => values.map((value, i) => ({ at: i * 1000, value }))
  assert.is(stuckSince(at([])), null)
  assert.is(stuckSince(at([0, 3, 3, 0])), null, 'empty now')
  assert.is(stuckSince(at([0, 2, 2, 3, 3])), 1000, 'held since it stopped being empty, growing is still stuck')
  assert.is(stuckSince(at([5, 4, 4, 4])), 1000, 'it got shorter at the second reading: the stretch starts there')
  assert.is(stuckSince(at([4, 4, 4, 3])), 3000, 'shorter at the last reading: moving')
  assert.is(stuckSince(at([1, 1, 1, 1, 1])), 0)
})

test.run()
