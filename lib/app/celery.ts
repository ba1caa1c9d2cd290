// The app's Celery workers, held without a restart and without touching them. Celery's own pause
// (cancel_consumer, then add_consumer) leaves a worker deaf at its next broker reconnect: cancel
// removes the queue from the worker's stored list, and add does not put a known queue back
// (celery/celery#7733, in every Celery up to 5.6). So nothing here changes what a worker consumes:
// the messages waiting in its queues are set aside in the broker, and the tasks in its memory
// (active, reserved, scheduled with a countdown) are revoked, the running ones killed, until none
// is left. Each worker is addressed by name and every reply is awaited.
//
// One Python process inside a worker instance does it (only the `celery` package and the broker
// URL: the app is never imported, which is what makes it fast); it stays up from the plan to the
// proof, so a reset starts it once.
import type { Reach } from '../access/reach.ts'
import type { ProcessTable } from '../targets/target.ts'
import type { LineProcess } from '../util/line-process.ts'

/** A Celery worker process: its node name (what remote control addresses) and where it runs. */
export interface CeleryWorker {
  name: string
  service: string
  instance: string
  pid: number
}

/** A queue a worker consumes: its name, and the exchange and routing key that bind it. */
export interface Queue {
  name: string
  exchange: string
  key: string
}

/** Queues by worker name, as the workers say they consume them now. */
export type Consumed = Record<string, Queue[]>

export interface Quiesced {
  /** Messages moved out of the workers' queues this time. */
  setAside: number
  /** Every task id revoked (this time and before). */
  revoked: string[]
  /** Tasks still running after being killed (must be 0). */
  busy: number
  /** Revoked tasks scheduled for later (a countdown): Celery discards them at their due time. */
  scheduled: number
  seconds: number
}

export interface BrokerState {
  consumed: Consumed
  /** Messages per queue key (priority sub-queues included), only those that hold some. */
  queues: Record<string, number>
  /** Messages still set aside, per queue key. */
  held: Record<string, number>
  /** Messages delivered to a worker and not yet acknowledged. */
  unacked: number
  /** Queues some exchange routes to (from the broker's _kombu.binding.* sets). */
  bound: string[]
  /** Tasks running, and reserved ones not revoked. */
  busy: number
  reserved: number
}

/** The program is a Python literal run with `python3 -c`: it must stay plain text. */
const PROGRAM = String.raw`
import json, os, sys, time
from urllib.parse import quote
from celery import Celery

HELD = 'reset-and-test:held:'
SET_ASIDE = """
local n = 0
for i = 1, #KEYS, 2 do
  if redis.call('TYPE', KEYS[i]).ok == 'list' then
    local items = redis.call('LRANGE', KEYS[i], 0, -1)
    for j = #items, 1, -1 do redis.call('LPUSH', KEYS[i + 1], items[j]) end
    redis.call('DEL', KEYS[i])
    n = n + #items
  end
end
return n"""
GIVE_BACK = """
local n = 0
for i = 1, #KEYS, 2 do
  local items = redis.call('LRANGE', KEYS[i], 0, -1)
  for _, item in ipairs(items) do redis.call('RPUSH', KEYS[i + 1], item) end
  redis.call('DEL', KEYS[i])
  n = n + #items
end
return n"""

class NoReply(Exception):
    pass

def broker(args):
    url = args.get('broker') or os.environ.get('CELERY_BROKER_URL') or os.environ.get('REDIS_URL')
    if url:
        return url
    secret = quote(os.environ.get('REDIS_PASSWORD', ''), safe='')
    host, port = os.environ.get('REDIS_HOST', 'redis'), os.environ.get('REDIS_PORT', '6379')
    return 'redis://%s%s:%s/%s' % (':' + secret + '@' if secret else '', host, port, os.environ.get('REDIS_DB', '0'))

brokers = {}
def connect(url):
    if url not in brokers:
        app = Celery(broker=url, set_as_current=False)
        conn = app.connection_for_write()
        conn.ensure_connection(max_retries=3)
        brokers[url] = (app, conn.default_channel)
    return brokers[url]

def handle(args):
    t0 = time.time()
    app, ch = connect(broker(args))
    ctl, r, names = app.control, ch.client, args['workers']

    # Each question has the whole time given: a worker slow to answer one leaves the next its own.
    def ask(method, partial=False):
        replies, missing, deadline = {}, list(names), time.time() + args['within']
        while missing:
            got = getattr(ctl.inspect(destination=missing, limit=len(missing), timeout=args['wait']), method)() or {}
            replies.update({w: v for w, v in got.items() if w in missing})
            missing = [w for w in missing if w not in replies]
            if missing and time.time() > deadline:
                if partial:
                    report['silent'] = report.get('silent', []) + missing
                    return replies
                raise NoReply(missing)
        return replies

    def keys(queues):
        return [ch._q_for_pri(q, p) for q in queues for p in ch.priority_steps]

    def tasks():
        found = {}
        for kind in ('active', 'reserved', 'scheduled'):
            for items in ask(kind).values():
                for t in items:
                    found.setdefault(t.get('request', t)['id'], kind)
        return found

    action, queues = args['action'], args.get('queues', [])
    report = {}
    def queue(q):
        exchange = (q.get('exchange') or {}).get('name') or ''
        return {'name': q['name'], 'exchange': exchange, 'key': q.get('routing_key') or ''}

    def consumed(partial=False):
        return {w: [queue(q) for q in qs] for w, qs in ask('active_queues', partial).items()}

    if action == 'survey':
        # A worker that answers one question and not the next is silent too: its restart is the cure.
        report['consumed'] = consumed(partial=True)
        names = [w for w in names if w in report['consumed']]
        report['scheduled'] = {w: len(items) for w, items in ask('scheduled', True).items() if items} if names else {}
    elif action == 'quiesce':
        revoked, moved_all = list(args.get('revoked', [])), 0
        while True:
            pairs = [k for key in keys(queues) for k in (key, HELD + key)]
            moved = r.eval(SET_ASIDE, len(pairs), *pairs) if pairs else 0
            moved_all += moved
            found = tasks()
            fresh = [t for t in found if t not in revoked]
            if fresh:
                ctl.revoke(fresh, terminate=True, signal='SIGKILL')
                revoked += fresh
            busy = [t for t, kind in found.items() if kind in ('active', 'reserved')]
            if (not moved and not fresh and not busy) or time.time() > t0 + args['within']:
                break
            time.sleep(0.05)
        report.update(setAside=moved_all, revoked=revoked, busy=len(busy))
        report['scheduled'] = sum(1 for kind in found.values() if kind == 'scheduled')
    elif action == 'give-back':
        pairs = [k for key in keys(queues) for k in (HELD + key, key)]
        report['returned'] = r.eval(GIVE_BACK, len(pairs), *pairs) if pairs else 0
        # What a worker declares when it starts, and a flush may have removed: its queues' bindings.
        for q in args.get('bind', []):
            r.sadd(ch.keyprefix_queue % q['exchange'], ch.sep.join([q['key'], '', q['name']]))
    elif action == 'state':
        report['consumed'] = consumed()
        queues = sorted(set(queues) | {q['name'] for qs in report['consumed'].values() for q in qs})
        report['queues'] = {k: n for k in keys(queues) for n in [r.llen(k)] if n}
        report['held'] = {k: n for k in keys(queues) for n in [r.llen(HELD + k)] if n}
        report['unacked'] = r.hlen(ch.unacked_key)
        bound = set()
        for key in r.scan_iter(match=ch.keyprefix_queue % '*', count=1000):
            bound.update(m.decode().split(ch.sep)[-1] for m in r.smembers(key))
        report['bound'] = sorted(bound)
        found = tasks()
        report['busy'] = sum(1 for kind in found.values() if kind == 'active')
        revoked = args.get('revoked', [])
        report['reserved'] = sum(1 for t, kind in found.items() if kind == 'reserved' and t not in revoked)
    report['seconds'] = round(time.time() - t0, 3)
    return report

while True:
    line = sys.stdin.readline()
    if not line:
        break
    try:
        report = handle(json.loads(line))
    except NoReply as e:
        report = {'noReply': e.args[0]}
    except Exception as e:
        brokers.clear()  # a connection lost (Redis restarted) is made again next time
        report = {'error': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(report), flush=True)
`

/** Celery's own defaults: a worker's node name, and how %h, %n and %d expand in one given with -n. */
export function nodeName(given: string | null, hostname: string): string {
  const named = given ?? '%h'
  const [name, host] = named.includes('@')
    ? [named.slice(0, named.indexOf('@')), named.slice(named.indexOf('@') + 1)]
    : ['celery', named]
  const [short, ...rest] = hostname.split('.')
  const expand = (s: string) =>
    s.replace(/%([hnd%])/g, (_, k: string) => ({ h: hostname, n: short, d: rest.join('.'), '%': '%' })[k]!)
  return `${expand(name)}@${expand(host || '%h')}`
}

/** The command line is a Celery worker's: `celery ... worker` or `python -m celery ... worker`. */
function isWorker(argv: string[]): boolean {
  const at = argv.findIndex((a, i) => a.split('/').pop() === 'celery' || (a === 'celery' && argv[i - 1] === '-m'))
  return at >= 0 && argv.slice(at + 1).includes('worker')
}

/** -n NAME, -nNAME, --hostname NAME, --hostname=NAME. */
function hostnameFlag(argv: string[]): string | null {
  for (const [i, a] of argv.entries()) {
    if (a === '-n' || a === '--hostname') return argv[i + 1] ?? null
    if (a.startsWith('--hostname=')) return a.slice('--hostname='.length)
    if (a.startsWith('-n') && a.length > 2 && !a.startsWith('--')) return a.slice(2)
  }
  return null
}

/** The Celery workers of an instance: worker processes whose parent is not one (a pool child is its parent's fork). */
export function workersIn(table: ProcessTable): CeleryWorker[] {
  const workers = table.procs.filter((p) => isWorker(p.argv))
  const pids = new Set(workers.map((p) => p.pid))
  return workers
    .filter((p) => !pids.has(p.ppid))
    .map((p) => ({
      name: nodeName(hostnameFlag(p.argv), table.hostname),
      service: table.instance.service,
      instance: table.instance.name,
      pid: p.pid,
    }))
}

/** The program's last argument: it marks the suite's own process in a container's process table. */
export const CONTROLLER_TAG = 'reset-and-test-celery-control'

/** The program running in a worker instance, per target, from the plan to the proof. */
const sessions = new WeakMap<Reach['target'], { service: string; process: LineProcess }>()

/** Where the program runs: any running instance of these services. */
export interface Controller {
  r: Reach
  /** Services to run the program in, in order of preference (instances that stay up). */
  services: string[]
}

/**
 * The program, started in an instance of the controller's services when none runs there (it imports Celery meanwhile).
 */
export async function startController(c: Controller): Promise<{ service: string; process: LineProcess }> {
  const { target } = c.r
  let open = sessions.get(target)
  if (!open?.process.alive || !c.services.includes(open.service)) {
    void open?.process.close()
    const service = c.services[0]
    if (!service) throw new Error('no running worker instance to reach the Celery workers from')
    open = { service, process: await target.session(service, ['python3', '-u', '-c', PROGRAM, CONTROLLER_TAG]) }
    sessions.set(target, open)
  }
  return open
}

async function ask<T>(c: Controller, request: Record<string, unknown>): Promise<T> {
  const { config, target } = c.r
  const open = await startController(c)
  const args = { broker: config.celery.brokerUrl, wait: 1, within: 10, ...request }
  const failed = (why: string) =>
    new Error(
      `Celery's remote control in ${open.service} failed: ${why}. Is the broker reachable from the worker ` +
        `(CELERY_BROKER_URL)?`,
    )
  let answer: { error?: string; noReply?: string[] } & T
  try {
    answer = JSON.parse(await open.process.ask(JSON.stringify(args), 30_000))
  } catch (e) {
    sessions.delete(target)
    void open.process.close()
    throw failed(e instanceof Error ? e.message : String(e))
  }
  if (answer.noReply)
    throw new Error(
      `no answer from the Celery worker${answer.noReply.length > 1 ? 's' : ''} ${answer.noReply.join(', ')} within ` +
        `${args.within} s`,
    )
  if (answer.error) throw failed(answer.error)
  return answer
}

export interface Survey {
  consumed: Consumed
  /** Workers that did not answer within the time given. */
  silent: string[]
  /** Tasks each worker holds scheduled for later (a countdown or an ETA), where it holds any. */
  scheduled: Record<string, number>
}

/** Each worker's queues and scheduled tasks, from the workers themselves. */
export async function surveyOf(c: Controller, workers: string[], within = 10): Promise<Survey> {
  if (!workers.length) return { consumed: {}, silent: [], scheduled: {} }
  const answer = await ask<Partial<Survey> & { consumed: Consumed }>(c, { action: 'survey', workers, within })
  return { consumed: answer.consumed, silent: answer.silent ?? [], scheduled: answer.scheduled ?? {} }
}

/**
 * Sets aside the messages waiting in the queues and revokes every task in the workers (killing the
 * running ones), again until a round finds nothing: a killed task may have sent others.
 */
export async function quiesce(
  c: Controller,
  workers: string[],
  queues: string[],
  revoked: string[],
): Promise<Quiesced> {
  const q = await ask<Quiesced>(c, { action: 'quiesce', workers, queues, revoked })
  if (q.busy)
    throw new Error(`${q.busy} tasks still run or wait in ${workers.join(', ')} after being revoked with SIGKILL`)
  return q
}

/**
 * Puts back what quiesce set aside and is still there (a flush removes it), and binds each queue
 * again as its worker did when it started (a flush may have removed the binding); returns how
 * many messages went back.
 */
export async function giveBack(c: Controller, queues: Queue[]): Promise<number> {
  const names = [...new Set(queues.map((q) => q.name))]
  return (await ask<{ returned: number }>(c, { action: 'give-back', workers: [], queues: names, bind: queues }))
    .returned
}

/** What the broker and the workers say now: the proof reads every claim from them. */
export async function brokerState(
  c: Controller,
  workers: string[],
  queues: string[],
  revoked: string[],
): Promise<BrokerState> {
  return ask<BrokerState>(c, { action: 'state', workers, queues, revoked })
}

/** Ends the program (a reset starts it once). */
export async function closeController(r: Reach): Promise<void> {
  const open = sessions.get(r.target)
  sessions.delete(r.target)
  await open?.process.close()
}
