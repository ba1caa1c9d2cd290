import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { logFindings } from '../../lib/app/log-findings.ts'
import { FindingGroups, groupFindings, LogScanner, scanLog, summarizeFindings, type Finding, type LogEntry } from '../../lib/app/logscan.ts'
import type { LogFile } from '../../lib/targets/target.ts'

const json = (o: Record<string, unknown>): string => JSON.stringify(o)
const brief = (e: LogEntry): string => [e.level, e.logger, e.exception, e.message].join(' | ')
const finding = (count: number, message: string, rest: Partial<Finding> = {}): Finding =>
  ({ level: 'ERROR', logger: 'app', message, exception: '', count, firstOffset: 0, ...rest })

const traceback = ['Traceback (most recent call last):', '  File "/app/x.py", line 3, in f', '    raise ValueError("bad 42")', 'ValueError: bad 42']

const cases: [string, string, string[]][] = [
  // JSON lines
  ['JSON level and name', json({ level: 'ERROR', name: 'app.api', message: 'boom' }), ['ERROR | app.api |  | boom']],
  ['JSON levelname and logger', json({ levelname: 'CRITICAL', logger: 'db', msg: 'down' }), ['CRITICAL | db |  | down']],
  ['JSON lower-case level counts', json({ level: 'error', name: 'x', message: 'm' }), ['ERROR | x |  | m']],
  ['JSON fatal', json({ level: 'fatal', message: 'gone' }), ['FATAL |  |  | gone']],
  ['JSON exc_info as a list of lines (the real app)',
    json({ timestamp: '2025-01-01T00:00:00', level: 'ERROR', name: 'app.workers.celery_app', message: 'Error in signal handler', exc_info: ['Traceback (most recent call last):', '  File "/app/w.py", line 9, in stop', "AttributeError: 'NoneType' object has no attribute 'x'"] }),
    ['ERROR | app.workers.celery_app | AttributeError | Error in signal handler']],
  ['JSON exc_info as one string, qualified type',
    json({ level: 'ERROR', name: 'redis', message: 'lost', exc_info: 'Traceback (most recent call last):\n  File "r.py", line 1, in c\nredis.exceptions.ConnectionError: Error 111 connecting to redis:6379.' }),
    ['ERROR | redis | redis.exceptions.ConnectionError | lost']],
  ['JSON chained exceptions: the last one', json({ level: 'ERROR', name: 'a', message: 'm', exc_info: [...traceback, '', 'During handling of the above exception, another exception occurred:', '', 'Traceback (most recent call last):', '  File "y", line 1, in g', 'KeyError: 1'] }), ['ERROR | a | KeyError | m']],
  ['JSON exception field and exc_text', [json({ level: 'ERROR', message: 'a', exception: 'TypeError: no' }), json({ level: 'ERROR', message: 'b', exc_text: 'OSError: disk' })].join('\n'), ['ERROR |  | TypeError | a', 'ERROR |  | OSError | b']],
  ['JSON exc_info "NoneType: None" is no exception', json({ level: 'ERROR', message: 'a', exc_info: 'NoneType: None' }), ['ERROR |  |  | a']],
  ['JSON message missing: the exception message', json({ level: 'ERROR', exc_info: ['ValueError: bad'] }), ['ERROR |  | ValueError | bad']],
  ['JSON INFO/WARNING/DEBUG ignored, also with "error" inside',
    [json({ level: 'INFO', message: 'no ERROR here' }), json({ level: 'WARNING', message: 'error rate high' }), json({ level: 'DEBUG', message: 'Traceback (most recent call last):' })].join('\n'), []],
  ['malformed JSON starting with { is read as text', '{"level": "ERROR", "message": "cut', ['ERROR |  |  | {"level": "ERROR", "message": "cut']],
  ['JSON without a level is no problem', json({ event: 'ERROR happened' }), []],
  // text lines
  ['pipe-separated text line', '2025-01-01 12:00:00,123 | ERROR   | host | MainProcess[7] | app.api | request failed: 500', ['ERROR | app.api |  | request failed: 500']],
  ['pipe-separated, message with pipes', '2025-01-01 12:00:00,123 | CRITICAL | h | MainProcess[7] | app.db | pool exhausted | retry later', ['CRITICAL | app.db |  | pool exhausted | retry later']],
  ["Python's default format", 'ERROR:app.tasks:task failed', ['ERROR | app.tasks |  | task failed']],
  ['asctime - name - level - message', '2025-01-01 12:00:00,123 - app.api - ERROR - boom', ['ERROR | app.api |  | boom']],
  ['Celery format', '[2025-01-01 12:00:00,123: ERROR/ForkPoolWorker-1] Task x raised unexpected', ['ERROR |  |  | Task x raised unexpected']],
  ['uvicorn format', 'ERROR:    Exception in ASGI application', ['ERROR |  |  | Exception in ASGI application']],
  ['logfmt with lower-case level', 'time=2025 level=error logger=app.x msg="disk full"', ['ERROR | app.x |  | disk full']],
  ['ANSI colours do not hide the level', '\x1b[31mERROR\x1b[0m:    boom', ['ERROR |  |  | boom']],
  ['the first level word is the level', ['INFO no ERRORS here', 'INFO task failed with ERROR', '2025-01-01 | WARNING | a | retry after ERROR', 'DEBUG error', 'INFO error lowercase'].join('\n'), []],
  ['an unstructured line mentioning ERROR keeps its whole text', 'Task failed: ERROR in step 3', ['ERROR |  |  | Task failed: ERROR in step 3']],
  // tracebacks
  ['text line followed by a traceback counts once', ['2025-01-01 12:00:00,123 | ERROR | h | MainProcess[7] | app.api | request failed', ...traceback].join('\n'), ['ERROR | app.api | ValueError | request failed']],
  ['the traceback attaches across continuation lines', ['ERROR:app:failed', 'more detail', ...traceback].join('\n'), ['ERROR | app | ValueError | failed']],
  ['bare traceback', traceback.join('\n'), ['TRACEBACK |  | ValueError | bad 42']],
  ['traceback after an INFO line is its own entry', ['INFO:app:ok', ...traceback].join('\n'), ['TRACEBACK |  | ValueError | bad 42']],
  ['traceback lines that mention ERROR are not entries', ['Traceback (most recent call last):', '  File "x", line 1, in f', '    logger.error("ERROR")', 'RuntimeError: ERROR in config'].join('\n'), ['TRACEBACK |  | RuntimeError | ERROR in config']],
  ['chained text traceback counts once, last exception', [...traceback, '', 'The above exception was the direct cause of the following exception:', '', 'Traceback (most recent call last):', '  File "z", line 2, in h', 'psycopg2.OperationalError: connection refused'].join('\n'), ['TRACEBACK |  | psycopg2.OperationalError | connection refused']],
  ['a record after the exception line ends the traceback', [...traceback, 'ERROR:app:next'].join('\n'), ['TRACEBACK |  | ValueError | bad 42', 'ERROR | app |  | next']],
  ['a record right after the frames ends a cut-off traceback', ['Traceback (most recent call last):', '  File "x", line 1, in f', 'ERROR:app:next'].join('\n'), ['TRACEBACK |  |  | Traceback (most recent call last):', 'ERROR | app |  | next']],
  ['two tracebacks after one line: the second is its own', ['ERROR:app:x', ...traceback, ...traceback].join('\n'), ['ERROR | app | ValueError | x', 'TRACEBACK |  | ValueError | bad 42']],
  ['a traceback does not attach to a JSON record', [json({ level: 'ERROR', message: 'j' }), ...traceback].join('\n'), ['ERROR |  |  | j', 'TRACEBACK |  | ValueError | bad 42']],
  ['compose logs prefixes', ['worker-1  | [2025-01-01 12:00:00,123: ERROR/MainProcess] stop failed', 'worker-1  | Traceback (most recent call last):', 'worker-1  |   File "w.py", line 1, in s', 'worker-1  | AttributeError: x'].join('\n'), ['ERROR | worker-1 | AttributeError | stop failed']],
  // line endings and odd input
  ['Windows line endings, empty lines, no final newline', ['', 'ERROR:a:one', '', 'Traceback (most recent call last):', '  File "x", line 1, in f', 'KeyError: k', '', 'ERROR:b:two'].join('\r\n'), ['ERROR | a | KeyError | one', 'ERROR | b |  | two']],
  ['whitespace collapsed to one line', json({ level: 'ERROR', message: '  a\n\tb   c  ' }), ['ERROR |  |  | a b c']],
]

for (const [name, log, expected] of cases) {
  test(`scanLog: ${name}`, () => {
    assert.equal(scanLog(log).map(brief), expected)
    assert.equal(scanLog(Buffer.from(log)).map(brief), expected, 'same result for a Buffer')
  })
}

test('scanLog: byte offsets, not character indexes (é, emoji, non-UTF-8 bytes)', () => {
  const lines = ['INFO café ☕ 🎉', 'ERROR:a:first é', 'INFO 🎉🎉', ...traceback, 'ERROR:b:second']
  const text = lines.join('\n') + '\n'
  const starts = (i: number): number => Buffer.byteLength(lines.slice(0, i).join('\n') + '\n')
  const entries = scanLog(text)
  assert.equal(entries.map((e) => e.offset), [starts(1), starts(3), starts(7)])
  assert.ok(starts(1) > lines[0].length + 1, 'the first line is longer in bytes than in characters')
  assert.equal(scanLog(Buffer.from(text)).map((e) => e.offset), entries.map((e) => e.offset))
  // Bytes that are not UTF-8 do not move the offsets.
  const badLine = Buffer.from('INFO \xff\xfe bad\n', 'latin1')
  const raw = Buffer.concat([badLine, Buffer.from('ERROR:x:after bad bytes é\n')])
  assert.equal(scanLog(raw).map((e) => [e.offset, e.message]), [[badLine.length, 'after bad bytes é']])
  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('ERROR:x:first\n')])
  assert.equal(scanLog(bom).map((e) => [e.offset, e.logger]), [[0, 'x']])
})

test('scanLog: very long lines are cut to a sane message', () => {
  const long = 'x'.repeat(100_000)
  const [jsonEntry] = scanLog(json({ level: 'ERROR', message: long }))
  const [textEntry] = scanLog(`ERROR:a:${long}`)
  for (const e of [jsonEntry, textEntry]) {
    assert.ok(e.message.length <= 500, `${e.message.length} characters`)
    assert.ok(e.message.endsWith('…'))
  }
})

test('scanLog: a 5 MB log (linear; no timing asserted)', () => {
  const worker = (pid: number): string =>
    json({ timestamp: '2025-01-01T00:00:00+00:00', level: 'ERROR', name: 'app.workers.celery_app', message: `Worker ${pid} failed to stop`, exc_info: ['Traceback (most recent call last):', "AttributeError: 'NoneType' object has no attribute 'x'"], process: pid, pad: 'p'.repeat(1500) })
  const info = json({ level: 'INFO', name: 'app.api', message: 'request done with error count 0 '.repeat(60) })
  const lines: string[] = []
  for (let i = 0; i < 2500; i++) lines.push(info, info, info, i % 10 === 0 ? worker(i) : '2025-01-01 12:00:00,123 | INFO | h | MainProcess[7] | app.api | ok')
  const text = lines.join('\n')
  assert.ok(text.length > 5_000_000, `${text.length} bytes`)
  const started = performance.now()
  const findings = groupFindings(scanLog(text))
  const ms = performance.now() - started
  assert.equal(findings.map((f) => [f.count, f.exception]), [[250, 'AttributeError']])
  if (process.env.LOGSCAN_TIMING) console.log(`  5 MB scanned and grouped in ${ms.toFixed(0)} ms`)
})

test('groupFindings: 8 workers logging the same error with different pids are one finding ×8', () => {
  const log = [1, 2, 3, 4, 5, 6, 7, 8]
    .map((pid) => json({ level: 'ERROR', name: 'app.workers.celery_app', message: `Worker pid ${100 + pid} shutdown at 2025-01-0${pid}T12:00:0${pid}Z failed`, exc_info: ["AttributeError: 'NoneType' object has no attribute 'x'"], process: 100 + pid }))
    .concat([json({ level: 'ERROR', name: 'app.api', message: 'task 0b8e3c2a-1d2f-4c5b-9a7e-123456789abc lost at 0x7f3a2b' }), json({ level: 'ERROR', name: 'app.api', message: 'task 1c8e3c2a-1d2f-4c5b-9a7e-123456789abd lost at 0x7f3a2c' })])
    .concat([json({ level: 'CRITICAL', name: 'app.api', message: 'task 0b8e3c2a-1d2f-4c5b-9a7e-123456789abc lost at 0x7f3a2b' })])
    .join('\n')
  const findings = groupFindings(scanLog(log))
  assert.equal(findings.map((f) => [f.count, f.level, f.logger, f.exception]), [
    [8, 'ERROR', 'app.workers.celery_app', 'AttributeError'],
    [2, 'ERROR', 'app.api', ''],
    [1, 'CRITICAL', 'app.api', ''],
  ])
  assert.is(findings[0].message, 'Worker pid 101 shutdown at 2025-01-01T12:00:01Z failed', 'the message of the first occurrence')
  assert.is(findings[0].firstOffset, 0)
})

test('groupFindings: different exceptions, loggers or words stay apart; ties keep log order', () => {
  const entries: LogEntry[] = [
    { level: 'ERROR', logger: 'a', message: 'x failed', exception: '', offset: 30 },
    { level: 'ERROR', logger: 'b', message: 'x failed', exception: '', offset: 10 },
    { level: 'ERROR', logger: 'a', message: 'x failed', exception: 'KeyError', offset: 20 },
    { level: 'ERROR', logger: 'a', message: 'y failed', exception: '', offset: 40 },
    { level: 'ERROR', logger: 'a', message: 'x failed', exception: '', offset: 5 },
  ]
  assert.equal(groupFindings(entries).map((f) => [f.count, f.logger, f.exception, f.message, f.firstOffset]), [
    [2, 'a', '', 'x failed', 5],
    [1, 'b', '', 'x failed', 10],
    [1, 'a', 'KeyError', 'x failed', 20],
    [1, 'a', '', 'y failed', 40],
  ])
})

const summaries: [string, Finding[], Parameters<typeof summarizeFindings>[1], string[]][] = [
  ['nothing to say', [], undefined, []],
  ['one line per finding', [finding(12, "'NoneType' object has no attribute 'x'", { logger: 'celery.worker', exception: 'AttributeError' }), finding(1, 'boom')],
    undefined, ["12× ERROR celery.worker AttributeError: 'NoneType' object has no attribute 'x'", '1× ERROR app boom']],
  ['no logger, exception without message', [finding(1, '', { logger: '', exception: 'SystemExit', level: 'TRACEBACK' })], undefined, ['1× TRACEBACK SystemExit']],
  ['"and N more" when findings do not fit', Array.from({ length: 12 }, (_, i) => finding(12 - i, `m${i}`)), { maxLines: 4, where: 'logs/combined.log' },
    ['12× ERROR app m0', '11× ERROR app m1', '10× ERROR app m2', '… and 9 more kinds (45 entries) in logs/combined.log']],
  ['maxLines 1: only the count', [finding(2, 'a'), finding(1, 'b')], { maxLines: 1 }, ['… and 2 more kinds (3 entries)']],
  ['exactly maxLines findings need no "more" line', [finding(2, 'a'), finding(1, 'b')], { maxLines: 2 }, ['2× ERROR app a', '1× ERROR app b']],
  ['fractional maxLines round down', [finding(2, 'a'), finding(1, 'b')], { maxLines: 1.5 }, ['… and 2 more kinds (3 entries)']],
  ['maxLines 0', [finding(1, 'a')], { maxLines: 0 }, []],
]

for (const [name, findings, options, expected] of summaries) {
  test(`summarizeFindings: ${name}`, () => assert.equal(summarizeFindings(findings, options), expected))
}

test('summarizeFindings: defaults are 10 lines of at most 200 characters', () => {
  const many = Array.from({ length: 25 }, (_, i) => finding(1, `${'w'.repeat(300)} ${i}`))
  const lines = summarizeFindings(many)
  assert.is(lines.length, 10)
  assert.ok(lines.every((l) => [...l].length <= 200))
  assert.is(lines[0], `1× ERROR app ${'w'.repeat(200 - '1× ERROR app '.length - 1)}…`)
  assert.is(lines[9], '… and 16 more kinds (16 entries)')
  const short = summarizeFindings([finding(1, '🎉'.repeat(50)), finding(1, 'b')], { maxChars: 20, maxLines: 1 })
  assert.equal(short, ['… and 2 more kinds …'])
  const emoji = summarizeFindings([finding(1, '🎉'.repeat(50))], { maxChars: 20 })[0]
  assert.is([...emoji].length, 20, 'cut by characters, never inside an emoji')
  assert.ok(emoji.endsWith('🎉…'))
})

test('log findings: split by byte offset, the entry at the offset is the test\'s; no offset: all the test\'s', async () => {
  const lines = ['ERROR:a:during reset é', 'INFO marker', 'ERROR:b:during test', 'ERROR:c:also during test']
  const text = Buffer.from(lines.join('\n'))
  const mark = Buffer.byteLength(lines.slice(0, 2).join('\n') + '\n')
  const log = { where: async () => 'combined.log', stream: async (from: number, onChunk: (c: Buffer, at: number) => void) => { for (let at = from; at < text.length; at += 5) onChunk(text.subarray(at, at + 5), at) } } as unknown as LogFile
  const f = await logFindings(log, mark)
  assert.equal([f.reset.count, f.reset.findings.map((x) => x.logger)], [1, ['a']])
  assert.equal([f.test.count, f.test.findings.map((x) => x.logger)], [2, ['b', 'c']])
  assert.equal((await logFindings(log, 0)).reset.count, 0)
  assert.equal((await logFindings(log, undefined)).test.count, 3)
})

test('a log read in chunks of any size gives the same entries and offsets as read whole, tracebacks across chunk ends included', () => {
  const text = [
    '\uFEFF2025-01-01 12:00:00,001 ERROR app.api boom',
    'Traceback (most recent call last):',
    '  File "x.py", line 1, in <module>',
    'ValueError: bad value',
    JSON.stringify({ level: 'ERROR', name: 'celery', message: 'task failed é', exc_info: ["<class 'KeyError'>", "'x'"] }),
    '2025-01-01 12:00:02,000 INFO app.api fine',
    'Traceback (most recent call last):',
    '  File "y.py", line 2, in f',
    'RuntimeError: no end of line',
  ].join('\r\n')
  const whole = scanLog(text)
  assert.is(whole.length, 3)
  const buf = Buffer.from(text)
  for (const size of [1, 2, 3, 7, 64, 1000]) {
    const got: LogEntry[] = []
    const scanner = new LogScanner((e) => got.push(e))
    for (let at = 0; at < buf.length; at += size) scanner.push(buf.subarray(at, at + size), at)
    scanner.end()
    assert.equal(got, whole, `chunks of ${size} bytes`)
  }
})

test('grouping as entries come keeps one finding per kind, counting every entry', () => {
  const groups = new FindingGroups()
  for (let i = 0; i < 1000; i++) groups.add({ level: 'ERROR', logger: 'w', message: `job ${i} failed`, exception: '', offset: i * 10 })
  assert.equal(groups.findings().map((f) => [f.count, f.message, f.firstOffset]), [[1000, 'job 0 failed', 0]])
  assert.is(groups.total, 1000)
})

test.run()
