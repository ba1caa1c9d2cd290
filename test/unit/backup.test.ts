// The backup without a database: the COPY statements for a table's columns (generated ones left
// out), what the manifest records, the restore's one transaction and its order (parents first),
// a backup of the old format refused, psql's one output parted per table, and a command streamed.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { copyInSql, copyOutSql, CopySplitter, END_OF_COPY, type CopyTable } from '../../lib/access/copy.ts'
import type { CopyStep } from '../../lib/access/database.ts'
import {
  changedColumns,
  damagedFiles,
  parentsFirst,
  readManifest,
  restoreSteps,
  RowFile,
  savedOf,
  savedTables,
  type SavedTable,
} from '../../lib/safety/backup.ts'
import { streamCommand } from '../../lib/util/command.ts'

const table = (name: string, over: Partial<CopyTable> = {}): CopyTable => ({ name, kind: 'r', columns: ['id', 'name'], generated: [], ...over })

test('COPY names the columns it saves and restores; a generated column is in neither statement', () => {
  const orgs = table('organizations', { columns: ['id', 'name'], generated: ['name_lc'] })
  assert.is(copyOutSql(orgs), 'COPY "organizations" ("id", "name") TO STDOUT')
  assert.is(copyInSql(orgs), 'COPY "organizations" ("id", "name") FROM STDIN')
  for (const sql of [copyOutSql(orgs), copyInSql(orgs)]) assert.not.match(sql, /name_lc/)
})

test('COPY statements: a schema-qualified table, a column name with quotes and spaces, no column at all', () => {
  assert.is(copyOutSql(table('public.leads', { columns: ['weird "col" name', 'Id'] })), 'COPY "public"."leads" ("weird ""col"" name", "Id") TO STDOUT')
  // Every column generated (or none): no list, and COPY writes and reads an empty line a row
  assert.is(copyOutSql(table('allgen', { columns: [], generated: ['a'] })), 'COPY "allgen" TO STDOUT')
  assert.is(copyInSql(table('allgen', { columns: [], generated: ['a'] })), 'COPY "allgen" FROM STDIN')
})

test("a foreign table's rows are read with a SELECT from ONLY it; a partitioned table has none of its own", () => {
  assert.is(copyOutSql(table('remote_jobs', { kind: 'f' })), 'COPY (SELECT "id", "name" FROM ONLY "remote_jobs") TO STDOUT')
  assert.is(copyInSql(table('remote_jobs', { kind: 'f' })), 'COPY "remote_jobs" ("id", "name") FROM STDIN')
  assert.throws(() => copyOutSql(table('events', { kind: 'p' })), /events is partitioned: its rows are in its partitions/)
})

test('the manifest records each table: its file, its columns and the generated ones left out, its counts, its sequences', () => {
  const saved = savedTables(
    [table('jobs', { generated: ['name_lc'] }), table('events', { kind: 'p', columns: ['id', 'at'] }), table('events_2026', { columns: ['id', 'at'] })],
    new Map([['jobs', { rows: 3, bytes: 42 }], ['events_2026', { rows: 1, bytes: 14 }]]),
    [
      { table: 'jobs', name: 'jobs_id_seq', last_value: '9223372036854775807', is_called: true },
      { table: 'events', name: 'events_id_seq', last_value: '1', is_called: false },
    ],
  )
  assert.equal(saved, [
    { table: 'jobs', kind: 'r', file: 'tables/jobs.copy', columns: ['id', 'name'], generated: ['name_lc'], rows: 3, bytes: 42, sequences: [{ name: 'jobs_id_seq', last_value: '9223372036854775807', is_called: true }] },
    { table: 'events', kind: 'p', file: null, columns: ['id', 'at'], generated: [], rows: 0, bytes: 0, sequences: [{ name: 'events_id_seq', last_value: '1', is_called: false }] },
    { table: 'events_2026', kind: 'r', file: 'tables/events_2026.copy', columns: ['id', 'at'], generated: [], rows: 1, bytes: 14, sequences: [] },
  ])
})

const saved = (name: string, over: Partial<SavedTable> = {}): SavedTable => ({
  table: name,
  kind: 'r',
  file: `tables/${name}.copy`,
  columns: ['id', 'name'],
  generated: [],
  rows: 1,
  bytes: 5,
  sequences: [],
  ...over,
})
const shown = (steps: CopyStep[]) => steps.map((s) => (typeof s === 'string' ? s : `${s.sql} <- ${s.source}`))

test('restore is one transaction: the saved tables emptied (ONLY, no CASCADE), rows copied back parents first, then the sequences', () => {
  const steps = restoreSteps(
    [
      saved('jobs', { sequences: [{ name: 'jobs_id_seq', last_value: '9223372036854775807', is_called: true }] }),
      saved('events', { kind: 'p', file: null, sequences: [{ name: 'events_id_seq', last_value: '1', is_called: false }] }),
      saved('events_2026'),
      saved('organizations', { generated: ['name_lc'] }),
    ],
    ['organizations', 'jobs', 'events', 'events_2026'],
    '/b',
    5000,
  )
  assert.equal(shown(steps), [
    "SET LOCAL lock_timeout = '5000ms'",
    'TRUNCATE TABLE ONLY "jobs", ONLY "events_2026", ONLY "organizations"',
    'COPY "organizations" ("id", "name") FROM STDIN <- /b/tables/organizations.copy',
    'COPY "jobs" ("id", "name") FROM STDIN <- /b/tables/jobs.copy',
    'COPY "events_2026" ("id", "name") FROM STDIN <- /b/tables/events_2026.copy',
    "SELECT setval('jobs_id_seq', 9223372036854775807, true)",
    "SELECT setval('events_id_seq', 1, false)",
  ])
  assert.not.match(shown(steps).join('\n'), /CASCADE/)
  assert.throws(() => restoreSteps([saved('jobs', { sequences: [{ name: 's', last_value: '1; DROP TABLE x', is_called: true }] })], ['jobs'], '/b', 1), /is not a whole number/)
})

test('restore order: each table after the tables its foreign keys point to, otherwise as saved; a cycle is named', () => {
  const edges = [
    { child: 'jobs', parent: 'campaigns' },
    { child: 'leads', parent: 'campaigns' },
    { child: 'jobs', parent: 'leads' },
    { child: 'campaigns', parent: 'organizations' },
    { child: 'audit', parent: 'not_saved' },
  ]
  assert.equal(parentsFirst(['jobs', 'users', 'leads', 'campaigns', 'organizations', 'audit'], edges), ['organizations', 'campaigns', 'leads', 'jobs', 'users', 'audit'])
  assert.equal(parentsFirst(['b', 'a'], []), ['b', 'a'])
  assert.throws(() => parentsFirst(['a', 'b'], [{ child: 'a', parent: 'b' }, { child: 'b', parent: 'a' }]), /the foreign keys among a, b form a cycle; restore them by hand/)
})

test('a backup made before COPY (rows as JSON) is refused by name; a manifest without tables restores no rows', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'backup-'))
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ createdAt: 'then', tables: ['jobs'] }))
  assert.throws(() => savedOf(readManifest(dir), dir), /was made by an earlier version of the suite \(rows as JSON in database.jsonl/)
  assert.equal(savedOf({ createdAt: 'then', redisKeys: 3 }, dir), [])
  const manifest = { createdAt: 'then', tables: ['jobs'], format: 'copy-text', saved: [saved('jobs')] }
  assert.equal(savedOf(manifest, dir), [saved('jobs')])
})

test('a saved column that is gone or generated now stops the restore before anything is emptied', () => {
  const now = [table('jobs', { columns: ['id'], generated: ['name'] }), table('users', { columns: ['id', 'name', 'added'] })]
  assert.equal(changedColumns([saved('jobs'), saved('users'), saved('gone', { columns: ['x'] })], now), ['jobs: name (now generated)', 'gone: x (gone)'])
})

test('a file missing or not the size the manifest says (a copy cut short) marks the backup damaged', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'backup-'))
  mkdirSync(path.join(dir, 'tables'))
  writeFileSync(path.join(dir, 'tables', 'jobs.copy'), '1\tx\n')
  writeFileSync(path.join(dir, 'tables', 'leads.copy'), '1\tx\n2\t')
  const files = [saved('jobs', { bytes: 4 }), saved('leads', { bytes: 9 }), saved('users', { bytes: 0 }), saved('events', { kind: 'p', file: null, bytes: 0 })]
  assert.equal(damagedFiles(files, dir), ['tables/leads.copy: 6 bytes, not 9', 'tables/users.copy: missing, not 0'])
})

test("a table's file counts its rows and bytes as they stream in, in batches; it is opened only when written or ended", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rows-'))
  const rows = Array.from({ length: 50_000 }, (_, i) => `${i}\t${'x'.repeat(i % 97)}\t\\N\n`)
  const chunks = rows.join('').match(/[^]{1,3000}/g)!.map((c) => Buffer.from(c))
  const file = new RowFile(path.join(dir, 'jobs.copy'))
  await pipeline(Readable.from(chunks), file)
  assert.equal([file.rows, file.bytes], [50_000, Buffer.byteLength(rows.join(''))])
  assert.is(readFileSync(path.join(dir, 'jobs.copy'), 'utf8'), rows.join(''))
  const empty = new RowFile(path.join(dir, 'empty.copy'))
  await pipeline(Readable.from([]), empty)
  assert.equal([empty.rows, readFileSync(path.join(dir, 'empty.copy'), 'utf8')], [0, ''])
  new RowFile(path.join(dir, 'never.copy')).destroy()
  assert.not.ok(existsSync(path.join(dir, 'never.copy')), 'a table after a failed one opens nothing')
})

/** The message a promise rejects with (it must reject). */
async function rejection(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (e: Error) => e)
  assert.ok(e, 'rejected')
  return e!.message
}

/** A sink that keeps what it is given, slowly (backpressure), and says when it was ended. */
function collector(highWaterMark = 4) {
  const kept = { text: '', ended: false }
  const sink = new Writable({
    highWaterMark,
    write(chunk, _e, done) {
      kept.text += chunk.toString()
      setImmediate(done)
    },
    final(done) {
      kept.ended = true
      done()
    },
  })
  return { sink, kept }
}

test("psql's one output is parted per table at each END_OF_COPY line, wherever the chunks break, with backpressure", async () => {
  const rows = ['1\tplain\n2\t\\\\.\n3\t\\N\n', '', 'x\\.y\n\\\\.\n.\n']
  const output = rows.map((r) => r + END_OF_COPY).join('')
  for (const size of [1, 2, 3, 5, 64]) {
    const parts = rows.map(() => collector())
    const chunks = Array.from({ length: Math.ceil(output.length / size) }, (_, i) => Buffer.from(output.slice(i * size, (i + 1) * size)))
    await pipeline(Readable.from(chunks), new CopySplitter(parts.map((p) => p.sink)))
    assert.equal(parts.map((p) => p.kept.text), rows, `chunks of ${size}`)
    assert.ok(parts.every((p) => p.kept.ended), 'every sink ended')
  }
})

test('psql output with too few or too many tables is an error, not a short backup', async () => {
  const two = [collector(), collector()]
  assert.match(await rejection(pipeline(Readable.from([`1\n${END_OF_COPY}2\n`]), new CopySplitter(two.map((p) => p.sink)))), /ended with 1 of 2 tables' rows not complete/)
  const one = [collector()]
  assert.match(await rejection(pipeline(Readable.from([`1\n${END_OF_COPY}NOTICE\n`]), new CopySplitter(one.map((p) => p.sink)))), /printed more than the 1 tables' rows asked for/)
})

test("a table's file that fails fails the split, once, whenever it fails", async () => {
  const failing = new Writable({ write: (_c, _e, done) => setImmediate(() => done(new Error('ENOSPC: no space left on device'))) })
  const rest = collector()
  assert.match(await rejection(pipeline(Readable.from([`1\n${END_OF_COPY}2\n${END_OF_COPY}`]), new CopySplitter([failing, rest.sink]))), /ENOSPC/)
  assert.not.ok(rest.kept.ended, 'the next table is not complete')
})

test('a streamed command: stdin from a stream, stdout into a stream, never collected; its failure and its deadline', async () => {
  const big = Buffer.alloc(8 * 2 ** 20, 'row\n')
  const { sink, kept } = collector(2 ** 16)
  const res = await streamCommand(['sh', '-c', 'echo "$GREETING"; cat; echo done >&2'], { stdin: Readable.from([big]), stdout: sink, prelude: 'first\n', env: { GREETING: 'hello' }, timeoutMs: 30_000 })
  assert.equal([res.code, res.stdout, res.stderr.trim(), res.timedOut], [0, '', 'done', false])
  assert.is(kept.text.length, 'hello\nfirst\n'.length + big.length)
  assert.ok(kept.text.startsWith('hello\nfirst\nrow\n'))
  const failed = await streamCommand(['sh', '-c', 'echo oops >&2; exit 3'], { stdin: Readable.from([big]), timeoutMs: 30_000 })
  assert.equal([failed.code, failed.stderr.trim()], [3, 'oops'])
  const slow = await streamCommand(['sleep', '30'], { timeoutMs: 200 })
  assert.equal([slow.timedOut, slow.code], [true, 137])
  const full = new Writable({ write: (_c, _e, done) => done(new Error('ENOSPC: no space left on device')) })
  assert.match(await rejection(streamCommand(['sh', '-c', 'while :; do echo row; done'], { stdout: full, timeoutMs: 30_000 })), /ENOSPC/)
})

test.run()
