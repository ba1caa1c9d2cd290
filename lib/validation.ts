// What holds after every good run of the smoke test, whatever the number of leads: each check is
// a relation between two counts (or a count and a number), computed in one read-only query. Edit
// here for an app with another schema. Exact EXPECT_* numbers are optional extra checks.
import type { Expectation } from './config.ts'
import type { CheckResult } from './context.ts'

export interface Side {
  label: string
  /** A query returning one count, or a fixed number. */
  sql?: string
  value?: number
}

export interface Relation {
  name: string
  left: Side
  op: '=' | '>='
  right: Side
}

const status = (column: string) => `upper(${column}::text)`
const count = (label: string, sql: string): Side => ({ label, sql })
const CAMPAIGNS = count('campaigns', 'SELECT count(*) FROM campaigns')
const LEADS = count('leads', 'SELECT count(*) FROM leads')
const jobs = (type: string, state = 'COMPLETED') =>
  count(`${type} ${state}`, `SELECT count(*) FROM jobs WHERE ${status('job_type')} = '${type}' AND ${status('status')} = '${state}'`)

/** The invariants of a good run. */
export const INVARIANTS: Relation[] = [
  { name: 'every campaign COMPLETED', left: count('campaigns COMPLETED', `SELECT count(*) FROM campaigns WHERE ${status('status')} = 'COMPLETED'`), op: '=', right: CAMPAIGNS },
  { name: 'one FETCH_LEADS job COMPLETED per campaign', left: jobs('FETCH_LEADS'), op: '=', right: CAMPAIGNS },
  {
    name: 'no campaign without exactly one FETCH_LEADS job COMPLETED',
    left: count(
      'campaigns without exactly one',
      `SELECT count(*) FROM campaigns c WHERE (SELECT count(*) FROM jobs j WHERE j.campaign_id = c.id AND ${status('j.job_type')} = 'FETCH_LEADS' AND ${status('j.status')} = 'COMPLETED') <> 1`,
    ),
    op: '=',
    right: { label: '0', value: 0 },
  },
  { name: 'one ENRICH_LEAD job COMPLETED per lead', left: jobs('ENRICH_LEAD'), op: '=', right: LEADS },
  {
    name: 'no campaign whose ENRICH_LEAD jobs COMPLETED differ from its leads',
    left: count(
      'campaigns that differ',
      `SELECT count(*) FROM campaigns c WHERE (SELECT count(*) FROM leads l WHERE l.campaign_id = c.id) <> (SELECT count(*) FROM jobs j WHERE j.campaign_id = c.id AND ${status('j.job_type')} = 'ENRICH_LEAD' AND ${status('j.status')} = 'COMPLETED')`,
    ),
    op: '=',
    right: { label: '0', value: 0 },
  },
  {
    name: 'no job FAILED, PAUSED, PENDING or PROCESSING',
    left: count('jobs FAILED/PAUSED/PENDING/PROCESSING', `SELECT count(*) FROM jobs WHERE ${status('status')} IN ('FAILED', 'PAUSED', 'PENDING', 'PROCESSING')`),
    op: '=',
    right: { label: '0', value: 0 },
  },
  {
    name: 'no duplicate lead email',
    left: count('emails used twice', `SELECT count(*) FROM (SELECT 1 FROM leads WHERE email IS NOT NULL GROUP BY lower(btrim(email)) HAVING count(*) > 1) d`),
    op: '=',
    right: { label: '0', value: 0 },
  },
  { name: 'at least one user', left: count('users', 'SELECT count(*) FROM users'), op: '>=', right: { label: '1', value: 1 } },
  { name: 'at least one organization', left: count('organizations', 'SELECT count(*) FROM organizations'), op: '>=', right: { label: '1', value: 1 } },
]

/** What each EXPECT_* key counts. */
const MEASURES: Record<string, Side> = {
  EXPECT_CAMPAIGNS: CAMPAIGNS,
  EXPECT_LEADS: LEADS,
  EXPECT_FETCH_JOBS_COMPLETED: jobs('FETCH_LEADS'),
  EXPECT_ENRICH_JOBS_COMPLETED: jobs('ENRICH_LEAD'),
  EXPECT_JOBS: count('jobs', 'SELECT count(*) FROM jobs'),
}

/** The relations a run checks: the exact numbers asked for (the campaign count by default), then the invariants. */
export function relations(expectations: Expectation[]): Relation[] {
  const exact = expectations.map((e): Relation => ({ name: `${MEASURES[e.key].label} = ${e.key}`, left: MEASURES[e.key], op: '=', right: { label: e.key, value: e.value } }))
  return [...exact, ...INVARIANTS]
}

/** One query for every count: SELECT (q0)::int AS v0, ... */
export function relationsSql(list: Relation[]): { sql: string; columns: string[] } {
  const columns: string[] = []
  const parts: string[] = []
  for (const [i, r] of list.entries()) {
    for (const [side, s] of [['l', r.left], ['r', r.right]] as const) {
      if (s.sql === undefined) continue
      const col = `${side}${i}`
      columns.push(col)
      parts.push(`(${s.sql})::int AS ${col}`)
    }
  }
  return { sql: `SELECT ${parts.join(', ')}`, columns }
}

export interface Checked extends CheckResult {
  relation: string
  values: string
}

/** Each relation with both sides' values and whether it holds. */
export function judge(list: Relation[], row: Record<string, number | string>): Checked[] {
  return list.map((r, i) => {
    const l = r.left.sql !== undefined ? Number(row[`l${i}`]) : r.left.value!
    const v = r.right.sql !== undefined ? Number(row[`r${i}`]) : r.right.value!
    const ok = r.op === '=' ? l === v : l >= v
    const relation = `${r.left.label} ${r.op} ${r.right.label}`
    const values = `${l} ${ok ? r.op : r.op === '=' ? '≠' : '<'} ${v}`
    return { name: r.name, ok, relation, values, detail: `${relation}: ${values}` }
  })
}
