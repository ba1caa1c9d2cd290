// The app's Celery workers, paused without a restart: one Python process run inside a worker
// instance (with only the `celery` package and the broker URL: the app is never imported, which
// is what makes it fast) broadcasts to every worker through the broker; it stays up from the
// pause to the resume, so a reset starts it once. Pausing
// stops consuming the queues and revokes every task active, reserved or scheduled (a countdown),
// terminating the ones running, until none is left; resuming consumes the queues again. Both
// prove what they claim from the workers' own replies.
import type { Reach } from '../access/reach.ts'
import type { LineProcess } from '../util/line-process.ts'

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

/**
 * The program: one request per line on stdin (its arguments, JSON), one report per line on stdout;
 * it ends when its stdin does. Kept running from the pause to the resume, it starts and imports
 * `celery` once per reset.
 */
const PROGRAM = String.raw`
import json, os, sys, time
from urllib.parse import quote
from celery import Celery

def broker(args):
    url = args.get('broker') or os.environ.get('CELERY_BROKER_URL') or os.environ.get('REDIS_URL')
    if url:
        return url
    pw = os.environ.get('REDIS_PASSWORD', '')
    auth = ':%s@' % quote(pw, safe='') if pw else ''
    return 'redis://%s%s:%s/%s' % (auth, os.environ.get('REDIS_HOST', 'redis'), os.environ.get('REDIS_PORT', '6379'), os.environ.get('REDIS_DB', '0'))

apps = {}
def handle(args):
    t0 = time.time()
    url = broker(args)
    app = apps.setdefault(url, Celery(broker=url))
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
    return report

while True:
    line = sys.stdin.readline()
    if not line:
        break
    try:
        report = handle(json.loads(line))
    except Exception as e:
        report = {'error': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(report), flush=True)
`

export interface Workers {
  /** The worker service the program runs in (any instance of it). */
  service: string
  /** Running worker instances: the broadcast waits for as many replies. */
  count: number
}

/** The program running in a worker instance, per target and service, from the pause to the resume. */
const sessions = new WeakMap<Reach['target'], Map<string, LineProcess>>()

/** Asks the program in a worker instance (started when none runs); a failure names what the workers said. `last`: close it after. */
async function broadcast(r: Reach, w: Workers, action: 'pause' | 'resume', last: boolean): Promise<CeleryReport> {
  const { config, target } = r
  const open = sessions.get(target) ?? new Map<string, LineProcess>()
  sessions.set(target, open)
  let session = open.get(w.service)
  if (!session?.alive) open.set(w.service, (session = await target.session(w.service, ['python3', '-u', '-c', PROGRAM])))
  const args = { action, workers: w.count, queues: config.celery.queues, broker: config.celery.brokerUrl, timeout: 2, within: 10 }
  let answer: { error?: string } & CeleryReport
  try {
    answer = JSON.parse(await session.ask(JSON.stringify(args), 30_000))
  } catch (e) {
    open.delete(w.service)
    void session.close()
    throw new Error(`Celery's remote control in ${w.service} failed: ${e instanceof Error ? e.message : String(e)}. Is the broker reachable from the worker (CELERY_BROKER_URL)?`)
  }
  if (last) {
    open.delete(w.service)
    void session.close() // it ends as its input does; the target waits for it when it closes
  }
  if (answer.error) throw new Error(`Celery's remote control in ${w.service} failed: ${answer.error}. Is the broker reachable from the worker (CELERY_BROKER_URL)?`)
  return answer
}

/**
 * The workers stop consuming, every task active, reserved or scheduled is revoked (the running
 * ones terminated), and the pause is proven: every worker replied and none is running a task.
 */
export async function pauseWorkers(r: Reach, w: Workers): Promise<CeleryReport> {
  const report = await broadcast(r, w, 'pause', false)
  if (report.workers < w.count) throw new Error(`only ${report.workers} of ${w.count} workers of ${w.service} answered the request to stop consuming ${r.config.celery.queues.join(', ')}; the reset cannot prove no task runs`)
  if (report.busy) throw new Error(`${report.busy} tasks still run in ${w.service} after being revoked with SIGKILL; nothing was emptied`)
  return report
}

/** The workers consume the queues again; proven: every worker consumes every queue and none is busy. */
export async function resumeWorkers(r: Reach, w: Workers): Promise<CeleryReport> {
  const report = await broadcast(r, w, 'resume', true)
  if (report.consuming < w.count) throw new Error(`only ${report.consuming} of ${w.count} workers of ${w.service} consume ${r.config.celery.queues.join(', ')} again`)
  if (report.busy) throw new Error(`${report.busy} tasks were taken by ${w.service} right after the reset, before the test: something sent work meanwhile`)
  return report
}
