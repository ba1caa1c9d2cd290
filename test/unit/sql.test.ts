import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { countSql, quoteIdent, showCount, truncateSql } from '../../lib/db.ts'

test('one TRUNCATE of every table, in a transaction with lock and statement timeouts', () => {
  assert.is(
    truncateSql(['jobs', 'public.leads'], 2000, 60_000),
    [
      'BEGIN;',
      "SET LOCAL lock_timeout = '2000ms';",
      "SET LOCAL statement_timeout = '60000ms';",
      'TRUNCATE TABLE "jobs", "public"."leads" RESTART IDENTITY CASCADE;',
      'COMMIT;',
    ].join('\n'),
  )
})

test('identifiers are quoted, malformed ones refused', () => {
  assert.is(quoteIdent('Leads'), '"Leads"')
  for (const bad of ['a"b', 'x;drop', 'a b', 'a.b.c']) assert.throws(() => quoteIdent(bad), /malformed/)
})

test('row counts in one query, each stopping past 100000 rows', () => {
  assert.is(
    countSql(['jobs', 'users']),
    `SELECT 'jobs' AS name, count(*)::int AS n FROM (SELECT 1 FROM "jobs" LIMIT 100001) t\nUNION ALL\nSELECT 'users' AS name, count(*)::int AS n FROM (SELECT 1 FROM "users" LIMIT 100001) t`,
  )
  assert.is(showCount(0), '0')
  assert.is(showCount(100_000), '100000')
  assert.is(showCount(100_001), '100000+')
})

test.run()
