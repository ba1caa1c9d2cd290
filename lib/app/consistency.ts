// The consistency checks of the circuit-breaker plan, in one place: each a named invariant whose
// query returns the rows that break it (id and a detail). Read-only SQL; edit here for an app
// with another schema.
import type { Database } from '../access/database.ts'

export interface Invariant {
  name: string
  /** What should hold, as a sentence. */
  says: string
  /** Rows that break it: id (text) and detail (text), ordered. */
  sql: string
}

/** The invariants; jobs count as stuck after `processingLimitMinutes` in PROCESSING (by updated_at). */
export function invariants(processingLimitMinutes: number): Invariant[] {
  const minutes = Number(processingLimitMinutes)
  if (!Number.isFinite(minutes) || minutes <= 0)
    throw new Error(`processing limit must be a positive number of minutes, not ${processingLimitMinutes}`)
  return [
    {
      name: 'no-paused-campaigns',
      says:
        'no campaign is PAUSED (that status goes away with the simplification; none may be left before its ' +
        'migration)',
      sql: `SELECT id, 'campaign "' || name || '"' AS detail FROM campaigns WHERE status::text = 'PAUSED' ORDER BY id`,
    },
    {
      name: 'no-stuck-processing-jobs',
      says: `no job is PROCESSING for longer than ${minutes} minutes`,
      sql: `SELECT id::text AS id, job_type::text || ' job, campaign ' || coalesce(campaign_id, '-') ||
        ', last updated ' || date_trunc('minute', now() - updated_at)::text || ' ago' AS detail
            FROM jobs WHERE status::text = 'PROCESSING' AND updated_at < now() - ${minutes} * interval '1 minute' ORDER
            BY id`,
    },
    {
      name: 'paused-jobs-have-paused-campaign',
      says: 'a PAUSED job belongs to a PAUSED campaign',
      sql: `SELECT j.id::text AS id, j.job_type::text || ' job, campaign ' || coalesce(c.id, '-') || ' is ' ||
        coalesce(c.status::text, 'missing') AS detail
            FROM jobs j LEFT JOIN campaigns c ON c.id = j.campaign_id
            WHERE j.status::text = 'PAUSED' AND c.status::text IS DISTINCT FROM 'PAUSED' ORDER BY j.id`,
    },
    {
      name: 'completed-campaigns-have-finished-jobs',
      says: 'a COMPLETED campaign has no PENDING, PROCESSING or PAUSED job',
      sql: `SELECT c.id, 'unfinished jobs ' || string_agg(j.id::text || ' ' || j.status::text, ', ' ORDER BY j.id) AS
        detail
            FROM campaigns c JOIN jobs j ON j.campaign_id = c.id
            WHERE c.status::text = 'COMPLETED' AND j.status::text IN ('PENDING', 'PROCESSING', 'PAUSED')
            GROUP BY c.id ORDER BY c.id`,
    },
    {
      name: 'completed-campaign-leads-enriched',
      says: 'every lead of a COMPLETED campaign has an ENRICH_LEAD job',
      sql: `SELECT l.id, 'lead of campaign ' || c.id AS detail
            FROM leads l JOIN campaigns c ON c.id = l.campaign_id
            WHERE c.status::text = 'COMPLETED'
              AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.lead_id = l.id AND j.job_type::text = 'ENRICH_LEAD')
            ORDER BY l.id`,
    },
    {
      name: 'unique-lead-emails',
      says: 'no two leads share an email (ignoring case and surrounding spaces)',
      sql: `SELECT lower(btrim(email)) AS id, 'leads ' || string_agg(id, ', ' ORDER BY id) AS detail
            FROM leads WHERE email IS NOT NULL GROUP BY lower(btrim(email)) HAVING count(*) > 1 ORDER BY 1`,
    },
    {
      name: 'pending-jobs-have-task',
      says: 'a PENDING job has a Celery task id',
      sql: `SELECT id::text AS id, job_type::text || ' job, campaign ' || coalesce(campaign_id, '-') AS detail
            FROM jobs WHERE status::text = 'PENDING' AND coalesce(task_id, '') = '' ORDER BY id`,
    },
  ]
}

export interface Violation {
  invariant: Invariant
  /** How many rows break it (all of them, though only the first are listed). */
  total: number
  rows: { id: string; detail: string }[]
}

/** Rows listed per invariant; the total is always counted. */
export const LISTED = 20

/** One query for every invariant: a read-only round trip, whatever the access path. */
export function findingsSql(list: Invariant[], listed = LISTED): string {
  return list
    .map(
      (inv, i) =>
        `(SELECT ${i} AS n, id, detail, count(*) OVER ()::int AS total FROM (${inv.sql}) q${i} LIMIT ${listed})`,
    )
    .join('\nUNION ALL\n')
}

/** What breaks each invariant; empty when the database is consistent. */
export async function findInconsistencies(db: Database, list: Invariant[]): Promise<Violation[]> {
  const rows = await db.rows<{ n: number; id: string; detail: string; total: number }>(findingsSql(list))
  return list
    .map((invariant, i) => {
      const mine = rows.filter((r) => Number(r.n) === i)
      return {
        invariant,
        total: mine.length ? Number(mine[0].total) : 0,
        rows: mine.map((r) => ({ id: String(r.id), detail: String(r.detail) })),
      }
    })
    .filter((f) => f.total > 0)
}

/** A finding as lines: the invariant, the count, then each row by id. */
export function formatViolation(f: Violation): string[] {
  const more = f.total - f.rows.length
  return [
    `${f.invariant.name}: ${f.total} row${f.total > 1 ? 's' : ''} break "${f.invariant.says}"`,
    ...f.rows.map((r) => `  ${r.id}: ${r.detail}`),
    ...(more > 0 ? [`  ... and ${more} more`] : []),
  ]
}
