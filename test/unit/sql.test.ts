import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { countSql, quoteIdent, showCount, truncateSql } from '../../lib/access/sql.ts'

test('one TRUNCATE of exactly the tables named, no CASCADE, in a transaction with lock and statement timeouts', () => {
  assert.is(
    truncateSql(['jobs', 'public.leads'], 2000, 60_000),
    [
      'BEGIN;',
      "SET LOCAL lock_timeout = '2000ms';",
      "SET LOCAL statement_timeout = '60000ms';",
      'TRUNCATE TABLE ONLY "jobs", ONLY "public"."leads" RESTART IDENTITY;',
      'COMMIT;',
    ].join('\n'),
  )
})

test('ONLY for plain tables, so a descendant the plan does not name is never emptied; a partitioned table goes without (its partitions are in the plan)', () => {
  assert.match(truncateSql(['events', 'events_2026', 'jobs'], 2000, 60_000, ['events']), /TRUNCATE TABLE "events", ONLY "events_2026", ONLY "jobs" RESTART IDENTITY;/)
})

test('identifiers are quoted, malformed ones refused', () => {
  assert.is(quoteIdent('Leads'), '"Leads"')
  for (const bad of ['a"b', 'x;drop', 'a b', 'a.b.c']) assert.throws(() => quoteIdent(bad), /malformed/)
})

test('row counts in one query, each stopping past 10000 rows', () => {
  assert.is(
    countSql(['jobs', 'users']),
    `SELECT 'jobs' AS name, count(*)::int AS n FROM (SELECT 1 FROM ONLY "jobs" LIMIT 10001) t\nUNION ALL\nSELECT 'users' AS name, count(*)::int AS n FROM (SELECT 1 FROM ONLY "users" LIMIT 10001) t`,
  )
  assert.is(showCount(0), '0')
  assert.is(showCount(10_000), '10000')
  assert.is(showCount(10_001), '10000+')
})

test.run()
