// The restart modes and what the in-place mode reads: the plans of the restarting modes, the
// Celery workers found in a process table, stray processes, code changed under a process, the
// proof of a clean state. No Docker: a fake target, temporary files, tables written out.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { nodeName, workersIn, type BrokerState } from '../../lib/app/celery.ts'
import { loadConfig } from '../../lib/config/config.ts'
import { codeChanges } from '../../lib/modes/drift.ts'
import { modeFor } from '../../lib/modes/index.ts'
import { queuesLine } from '../../lib/modes/in-place.ts'
import { CLOCK_MARGIN_MS, logsReadFile, reconnects } from '../../lib/modes/reconnects.ts'
import { problemsOf, proofOf } from '../../lib/modes/proof.ts'
import { parseProcesses, straysOf } from '../../lib/targets/instances.ts'
import type { Instance, Proc, ProcessTable } from '../../lib/targets/target.ts'
import { matchingLines } from '../../lib/util/command.ts'
import { globRegExp, newestFile } from '../../lib/util/files.ts'
import { FakeTarget, instanceOf } from './fake-target.ts'

const config = (over: Record<string, string> = {}) => loadConfig({ env: { RT_APP_DIR: 'example', ...over } })
const reach = (target: FakeTarget, over: Record<string, string> = {}) => ({ config: config(over), target, signal: new AbortController().signal, dryRun: false })
const stack = () => new FakeTarget([...['postgres', 'redis', 'api', 'worker', 'flower'].map((s) => instanceOf(s)), instanceOf('beat', 1, { state: 'exited', readiness: 'stopped' })])

test('restart mode: the running api and workers restart, a stopped worker service stays stopped, held workers stop instead', async () => {
  const planned = await modeFor('restart').plan(reach(stack(), { RT_WORKER_SERVICES: 'worker,beat' }), ['worker'])
  assert.equal(planned.restart.map((i) => i.service), ['api'])
  assert.equal(planned.held, [{ name: 'p-worker-1', service: 'worker', as: 'stopped' }])
  const unheld = await modeFor('restart').plan(reach(stack(), { RT_WORKER_SERVICES: 'worker,beat' }), [])
  assert.equal(unheld.restart.map((i) => i.service), ['api', 'worker'])
})

test('recreate and rebuild take every running service; SERVICES exactly what it names; only a full rebuild wipes volumes', async () => {
  for (const name of ['recreate', 'rebuild'] as const) {
    const planned = await modeFor(name).plan(reach(stack()), [])
    assert.equal(planned.restart.map((i) => i.service).sort(), ['api', 'flower', 'postgres', 'redis', 'worker'])
    assert.is(planned.wipesVolumes, name === 'rebuild')
  }
  const named = await modeFor('rebuild').plan(reach(stack(), { RT_SERVICES: 'redis' }), [])
  assert.equal(named.restart.map((i) => i.service), ['redis'])
  assert.is(named.wipesVolumes, false)
})

test('the restart phase of each restarting mode, and the held workers brought back as the mode says', async () => {
  const cases = { restart: ['restart api (restart)', 'stop worker', 'start worker'], recreate: ['restart postgres,redis,api,flower,beat (recreate)', 'stop worker', 'restart worker (recreate)'], rebuild: ['wipe', 'restart postgres,redis,api,flower,beat (rebuild)', 'stop worker', 'restart worker (rebuild)'] }
  for (const [name, journal] of Object.entries(cases)) {
    const target = stack()
    const mode = modeFor(name as 'restart')
    let held: string[] = []
    const changes: string[] = []
    const record = { get held() { return held }, hold: (s: string[]) => void (held = s), released: () => void (held = []), changed: (c: string) => void changes.push(c) }
    const run = { ...reach(target), record }
    await mode.plan(run, ['worker'])
    await mode.restart(run)
    assert.equal(held, ['worker'], `${name}: the record names the held worker`)
    assert.match(await mode.release(run) ?? '', /worker started: 1 instances ready/)
    assert.equal(target.journal.filter((j) => !j.startsWith('exec')), journal, name)
    assert.equal(held, [])
    assert.ok(changes.includes('stopped worker') && changes.includes('started worker again'), `${name}: ${changes}`)
  }
})

test('rebuild is refused on Kubernetes before anything runs; the other modes take either target', () => {
  const k8s = { ...config(), target: 'kubernetes' as const }
  assert.match(modeFor('rebuild').problems(k8s).join(), /rebuild is a Compose mode/)
  for (const name of ['restart', 'in-place', 'recreate'] as const) assert.equal(modeFor(name).problems(k8s), [])
})

const proc = (pid: number, ppid: number, sid: number, argv: string[], startedAt = 1_000): Proc => ({ pid, ppid, sid, startedAt, argv })
const table = (procs: Proc[], hostname = 'c0ffee', service = 'worker'): ProcessTable => ({ instance: instanceOf(service), hostname, procs, readerSid: 99 })

test("Celery's node names: celery@host by default, -n with %h %n %d, a name without @ is a host", () => {
  assert.is(nodeName(null, 'c0ffee'), 'celery@c0ffee')
  assert.is(nodeName('w1@%h', 'web.example.org'), 'w1@web.example.org')
  assert.is(nodeName('%n-a@%d', 'web.example.org'), 'web-a@example.org')
  assert.is(nodeName('box', 'c0ffee'), 'celery@box')
})

test('the Celery workers of a container: pool children are not workers; two workers in one container are two', () => {
  const celery = ['python3', '/usr/bin/celery', '-A', 'app', 'worker', '--concurrency=2']
  const one = workersIn(table([proc(1, 0, 1, celery), proc(8, 1, 1, celery), proc(9, 1, 1, celery)]))
  assert.equal(one.map((w) => [w.name, w.pid]), [['celery@c0ffee', 1]])
  const two = workersIn(table([
    proc(1, 0, 1, ['sh', '-c', 'celery worker -n a@%h & python -m celery worker --hostname=b@%h -Q email']),
    proc(7, 1, 1, ['celery', '-A', 'app', 'worker', '-n', 'a@%h']),
    proc(8, 1, 1, ['python', '-m', 'celery', '-A', 'app', 'worker', '--hostname=b@%h', '-Q', 'email']),
    proc(9, 8, 1, ['python', '-m', 'celery', '-A', 'app', 'worker', '--hostname=b@%h', '-Q', 'email']),
    proc(20, 0, 20, ['celery', '-A', 'app', 'inspect', 'ping']),
  ]))
  assert.equal(two.map((w) => w.name), ['a@c0ffee', 'b@c0ffee'])
})

test('a process table read from /proc: names with spaces and parentheses, the reading shell left out, strays by session, zombies left out', () => {
  const text = [
    'host c0ffee', 'btime 1700000000', 'tick 100', 'self 40',
    '1 0 1 500 S sh\x1f-c\x1fexec uvicorn app.main:app\x1f',
    '7 1 1 510 S python3\x1f-m\x1fuvicorn\x1f',
    '15 0 15 900 S sh\x1f-c\x1fsleep 1000 & sleep 1001\x1f',
    '21 15 15 901 S my (odd) name\x1f3000\x1f',
    '29 1 23 950 S sleep\x1f2000\x1f',
    '31 1 24 960 Z ',
    '33 0 33 970 S python3\x1f-c\x1fimport os\x1eprint(1)\x1ftag\x1f',
    '40 0 40 999 R sh\x1f-c\x1fthe listing\x1f',
    '41 40 40 999 R tr\x1f',
  ].join('\n')
  const t = parseProcesses(instanceOf('api'), text)
  assert.is(t.hostname, 'c0ffee')
  assert.equal(t.procs.map((p) => p.pid), [1, 7, 15, 21, 29, 33])
  assert.equal(t.procs[3].argv, ['my (odd) name', '3000'])
  assert.equal(t.procs[5].argv, ['python3', '-c', 'import os\nprint(1)', 'tag'], 'a newline inside an argument')
  assert.is(t.procs[0].startedAt, 1_700_000_000_000 + 5_000)
  assert.equal(straysOf(t).map((p) => p.pid), [15, 21, 29, 33], 'an orphan of an exec (parent 1) is still a stray')
})

test('code changed under a running process: the newest file after PID 1 started counts; logs, ignored files and the test file do not', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'rt-drift-'))
  try {
    const app = path.join(root, 'app')
    const at = (file: string, s: number) => {
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(file, 'x')
      utimesSync(file, s, s)
    }
    at(path.join(app, 'workers', 'tasks.py'), 1000)
    at(path.join(app, 'workers', '__pycache__', 'tasks.cpython-311.pyc'), 5000)
    at(path.join(app, 'background_services', 'smoke_tests', 'test_concurrent_campaigns_flow.py'), 5000)
    at(path.join(root, 'logs', 'combined.log'), 5000)
    const c = { ...config(), appDir: root, logFile: path.join(root, 'logs', 'combined.log') }
    const worker = (started: number) => ({
      ...table([proc(1, 0, 1, ['celery'], started * 1000)]),
      instance: instanceOf('worker', 1, { mounts: [{ source: app, destination: '/app/app' }, { source: path.join(root, 'logs'), destination: '/app/logs' }] }),
    })
    assert.equal(codeChanges(c, [worker(2000)]), [], 'only files older than the process, or ignored')
    assert.equal(codeChanges(c, [worker(960)]), [{ service: 'worker', why: 'app/workers/tasks.py changed 40 s after its process started' }])
    assert.equal(newestFile(app, [])!.file.endsWith('.pyc') || newestFile(app, [])!.file.endsWith('.py'), true)
    assert.ok(globRegExp('tests').test('tests') && !globRegExp('*.pyc').test('a/b.pyc') && globRegExp('**/*.pyc').test('a/b.pyc'))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

const queue = (name: string) => ({ name, exchange: name, key: name })
const clean = (): BrokerState => ({ consumed: { 'celery@a': [queue('celery')], 'e@b': [queue('email')] }, queues: {}, held: {}, unacked: 0, bound: ['celery', 'email'], busy: 0, reserved: 0 })

test('the proof of a clean state: every claim read from the servers, each failure named', () => {
  const before = { 'celery@a': [queue('celery')], 'e@b': [queue('email')] }
  const api = { ok: true, detail: 'GET http://127.0.0.1:28000/api/v1/health answered' }
  assert.match(proofOf({ before, state: clean(), rows: { jobs: 0 }, api }), /clean: 1 tables empty; queues celery, email empty and bound .*; 2 workers consume what they consumed before, none busy; api: GET/)
  const bad = { ...clean(), consumed: { 'celery@a': [], 'e@b': [queue('email'), queue('celery')] }, queues: { 'celery\x06\x163': 2 }, unacked: 1, bound: ['email'] }
  const problems = problemsOf({ before, state: bad, rows: { jobs: 3 }, api: { ok: false, detail: 'no answer' } })
  assert.equal(problems, [
    'rows written after the truncation: jobs=3',
    'celery@a consumes nothing (before the pause: celery)',
    'e@b consumes celery, email (before the pause: email)',
    'messages waiting before the test: celery:3=2',
    '1 messages delivered and not acknowledged',
    'no exchange routes to celery: a task sent there would be dropped',
    'the api does not answer: no answer',
  ])
  assert.throws(() => proofOf({ before, state: bad, rows: {}, api: null }), /not clean: celery@a consumes nothing/)
})

test('the queues line counts the workers of each queue, by queue name whatever order the workers answered in', () => {
  const q = (name: string) => ({ name, exchange: name, key: name })
  const consumed = { 'email@a': [q('email')], 'celery@b': [q('celery')], 'celery@c': [q('celery'), q('email')] }
  assert.is(queuesLine(consumed), 'celery ×2, email ×2')
  assert.is(queuesLine({ 'email@a': [q('email')], 'celery@b': [q('celery')] }), 'celery ×1, email ×1')
  assert.is(queuesLine({}), 'no queue')
})

test("a worker whose log since it started shows a broker reconnect is named with the line, credentials masked; '' turns it off", async () => {
  const target = new FakeTarget([1, 2, 3, 4].map((n) => instanceOf('worker', n)))
  target.logs = {
    'p-worker-1': ['{"level": "INFO", "message": "celery@a ready."}'],
    'p-worker-2': [
      '{"level": "ERROR", "name": "celery.worker.consumer.consumer", "message": "consumer: Cannot connect to redis://:s3cret@redis:6379/0: Error 111 connecting to redis:6379. Connection refused..\\nTrying again in 2.00 seconds... (1/100)\\n"}',
    ],
    'p-worker-3': ['{"message": "consumer: Connection to broker lost. Trying to re-establish the connection...", "module": "consumer"}'],
    'p-worker-4': ['[2026-12-05 03:00:00,000: WARNING/MainProcess] consumer: Connection to broker lost. Trying to re-establish the connection...'],
  }
  const tables = [1, 2, 3, 4].map((n) => ({ ...table([]), instance: instanceOf('worker', n) }))
  const found = await reconnects(reach(target), tables)
  assert.equal([...found.keys()], ['p-worker-2', 'p-worker-3', 'p-worker-4'])
  assert.is(found.get('p-worker-2'), 'consumer: Cannot connect to redis://***@redis:6379/0: Error 111 connecting to redis:6379. Connection refused..')
  assert.is(found.get('p-worker-3'), 'consumer: Connection to broker lost. Trying to re-establish the connection...')
  assert.is(found.get('p-worker-4'), found.get('p-worker-3'))
  assert.is((await reconnects(reach(target, { RT_WORKER_RECONNECT_PATTERN: '' }), tables)).size, 0)
})

test("each reset reads a worker's log from where the last one read it and found nothing (less a margin); a found line, a restart or a new worker reads it from the start", async () => {
  const state = mkdtempSync(path.join(tmpdir(), 'logs-read-'))
  try {
    const started = Date.now() - 3_600_000
    const worker = (n: number, over: Partial<Instance> = {}) => instanceOf('worker', n, { startedAt: started, ...over })
    const tablesOf = (list: Instance[]) => list.map((instance) => ({ ...table([]), instance }))
    const lost = '[2026-12-05 03:00:00,000: WARNING/MainProcess] consumer: Connection to broker lost.'
    const target = new FakeTarget([worker(1), worker(2)])
    target.logs = { 'p-worker-2': [lost] }
    const r = reach(target, { RT_STATE_DIR: state })
    const t0 = Date.now()
    assert.equal([...(await reconnects(r, tablesOf([worker(1), worker(2)]))).keys()], ['p-worker-2'])
    assert.equal(target.logsReadSince, { 'p-worker-1': undefined, 'p-worker-2': undefined }, 'the first reset reads both from their start')

    assert.equal([...(await reconnects(r, tablesOf([worker(1), worker(2)]))).keys()], ['p-worker-2'], 'the found line is found again')
    const since = target.logsReadSince['p-worker-1']!.getTime() + CLOCK_MARGIN_MS
    assert.ok(since >= t0 && since <= Date.now(), 'worker-1: from the last read, less the margin')
    assert.is(target.logsReadSince['p-worker-2'], undefined, 'worker-2 (a line found): from its start again')

    // worker-1 restarted, worker-3 is new: both from their start
    await reconnects(r, tablesOf([worker(1, { startedAt: Date.now() }), worker(3)]))
    assert.is(target.logsReadSince['p-worker-1'], undefined)
    assert.is(target.logsReadSince['p-worker-3'], undefined)
    // An instance whose start is not known is never remembered
    await reconnects(r, tablesOf([worker(4, { startedAt: null })]))
    await reconnects(r, tablesOf([worker(4, { startedAt: null })]))
    assert.is(target.logsReadSince['p-worker-4'], undefined)
    assert.equal(JSON.parse(readFileSync(logsReadFile(r.config), 'utf8')), {}, 'only the lifetimes read in the last reset are kept')
    // A dry run reads as a run does and writes nothing
    await reconnects({ ...r, dryRun: true }, tablesOf([worker(5)]))
    assert.equal(JSON.parse(readFileSync(logsReadFile(r.config), 'utf8')), {}, 'the dry run left the file as it was')
  } finally {
    rmSync(state, { recursive: true, force: true })
  }
})

test('the matching lines of a command, read from stdout and stderr as a stream: the first few; its failure and its deadline named', async () => {
  const lines = await matchingLines(['sh', '-c', 'seq 1 200000; echo "lost 1" >&2; echo "lost 2"; echo "lost 3" >&2'], /^lost/, 30_000, 2)
  assert.is(lines.length, 2)
  assert.ok(lines.every((l) => /^lost [123]$/.test(l)), String(lines))
  const failed = await matchingLines(['sh', '-c', 'echo "no such container" >&2; exit 1'], /x/, 30_000).catch((e: Error) => e.message)
  assert.match(String(failed), /failed \(exit 1\):\n\s+no such container/)
  const slow = await matchingLines(['sleep', '30'], /x/, 200).catch((e: Error) => e.message)
  assert.match(String(slow), /sleep 30 did not finish within 0.2 s/)
})

test.run()
