// The app's Celery workers, paused without a restart: one Python process run inside a worker
// instance (`python -`, with only the `celery` package and the broker URL: the app is never
// imported, which is what makes it fast) broadcasts to every worker through the broker. Pausing
// stops consuming the queues and revokes every task active, reserved or scheduled (a countdown),
// terminating the ones running, until none is left; resuming consumes the queues again. Both
// prove what they claim from the workers' own replies.
import type { Reach } from '../access/reach.ts'

/** What the workers said. */
export interface CeleryReport {
  /** Workers that replied to the broadcast. */
  workers: number
  /** Task ids revoked (pause): active ones terminated, reserved and scheduled ones discarded. */
  revoked: string[]
  /** Tasks still active after the pause (must be 0), or active or reserved after the resume. */
  busy: number
  /** Workers consuming every queue (resume). */
  consuming: number
  seconds: number
}

/** The program; its arguments come in RT_CELERY (JSON), its report goes out as one JSON line. */
const PROGRAM = String.raw`
import json, os, sys, time
from urllib.parse import quote
from celery import Celery

args = json.loads(os.environ['RT_CELERY'])
def broker():
    url = args.get('broker') or os.environ.get('CELERY_BROKER_URL') or os.environ.get('REDIS_URL')
    if url:
        return url
    pw = os.environ.get('REDIS_PASSWORD', '')
    auth = ':%s@' % quote(pw, safe='') if pw else ''
    return 'redis://%s%s:%s/%s' % (auth, os.environ.get('REDIS_HOST', 'redis'), os.environ.get('REDIS_PORT', '6379'), os.environ.get('REDIS_DB', '0'))

t0 = time.time()
app = Celery(broker=broker())
ctl, n, wait = app.control, args['workers'], args['timeout']
report = {'workers': 0, 'revoked': [], 'busy': 0, 'consuming': 0}

def tasks(kinds):
    found = {}
    i = ctl.inspect(limit=n, timeout=wait)
    for kind in kinds:
        for worker, items in (getattr(i, kind)() or {}).items():
            for t in items:
                t = t.get('request', t)
                found[t['id']] = kind
    return found

deadline = time.time() + args['within']
def everyone(command):
    # Asked again until every worker has answered (one just started, or busy killing a task, may miss a round).
    answered = set()
    while True:
        for q in args['queues']:
            for reply in command(q, reply=True, limit=n, timeout=wait) or []:
                answered.update(reply.keys())
        if len(answered) >= n or time.time() > deadline:
            return len(answered)

if args['action'] == 'pause':
    report['workers'] = everyone(ctl.cancel_consumer)
    while True:
        found = tasks(['active', 'reserved', 'scheduled'])
        fresh = [t for t in found if t not in report['revoked']]
        if fresh:
            ctl.revoke(fresh, terminate=True, signal='SIGKILL')
            report['revoked'] += fresh
        active = [t for t, kind in found.items() if kind == 'active']
        report['busy'] = len(active)
        if not active or time.time() > deadline:
            break
        time.sleep(0.05)
else:
    report['workers'] = everyone(ctl.add_consumer)
    while True:
        queues = ctl.inspect(limit=n, timeout=wait).active_queues() or {}
        report['consuming'] = sum(1 for qs in queues.values() if set(args['queues']) <= {q['name'] for q in qs})
        if report['consuming'] >= n or time.time() > deadline:
            break
    report['busy'] = len(tasks(['active', 'reserved']))
report['seconds'] = round(time.time() - t0, 3)
print(json.dumps(report))
`

export interface Workers {
  /** The worker service the program runs in (any instance of it). */
  service: string
  /** Running worker instances: the broadcast waits for as many replies. */
  count: number
}

/** Runs the program in a worker instance; a failure names what the workers said. */
async function broadcast(r: Reach, w: Workers, action: 'pause' | 'resume'): Promise<CeleryReport> {
  const { config, target } = r
  const args = { action, workers: w.count, queues: config.celery.queues, broker: config.celery.brokerUrl, timeout: 2, within: 10 }
  const res = await target.exec(w.service, ['python3', '-'], { input: PROGRAM, env: { RT_CELERY: JSON.stringify(args) }, allowFailure: true, timeoutMs: 30_000 })
  const line = res.stdout.trim().split('\n').pop() ?? ''
  if (res.code !== 0 || !line.startsWith('{')) {
    throw new Error(`Celery's remote control in ${w.service} failed (exit ${res.code}): ${(res.stderr || res.stdout).trim().split('\n').slice(-5).join(' | ')}. Is the broker reachable from the worker (CELERY_BROKER_URL)?`)
  }
  return JSON.parse(line) as CeleryReport
}

/**
 * The workers stop consuming, every task active, reserved or scheduled is revoked (the running
 * ones terminated), and the pause is proven: every worker replied and none is running a task.
 */
export async function pauseWorkers(r: Reach, w: Workers): Promise<CeleryReport> {
  const report = await broadcast(r, w, 'pause')
  if (report.workers < w.count) throw new Error(`only ${report.workers} of ${w.count} workers of ${w.service} answered the request to stop consuming ${r.config.celery.queues.join(', ')}; the reset cannot prove no task runs`)
  if (report.busy) throw new Error(`${report.busy} tasks still run in ${w.service} after being revoked with SIGKILL; nothing was emptied`)
  return report
}

/** The workers consume the queues again; proven: every worker consumes every queue and none is busy. */
export async function resumeWorkers(r: Reach, w: Workers): Promise<CeleryReport> {
  const report = await broadcast(r, w, 'resume')
  if (report.consuming < w.count) throw new Error(`only ${report.consuming} of ${w.count} workers of ${w.service} consume ${r.config.celery.queues.join(', ')} again`)
  if (report.busy) throw new Error(`${report.busy} tasks were taken by ${w.service} right after the reset, before the test: something sent work meanwhile`)
  return report
}
