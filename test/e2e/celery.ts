// The example's Celery workers as a user sees them, for the tests of the in-place reset: tasks
// sent from the api container, each worker's queues, which code a worker runs, whether every
// worker takes work after the broker restarted, a second worker service consuming its own queue,
// and a fingerprint of everything a user can observe after a reset.
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { config, container, counts, EXAMPLE, run, until, withRedisClient } from './stack.ts'

/** Python run in the api container with the app importable; its last line of output, parsed as JSON. */
export async function inApi<T = unknown>(python: string, timeoutMs = 120_000): Promise<T> {
  const api = await container('api')
  const res = await run(['docker', 'exec', api.id, 'python3', '-c', `import json\nfrom app.workers.celery_app import celery_app as app\n${python}`], { timeoutMs })
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as T
}

/** Sends a task by name; returns its id. */
export const send = (task: string, args: unknown[] = [], options: { queue?: string; countdown?: number } = {}) =>
  inApi<string>(`print(json.dumps(app.send_task('app.workers.test_tasks.${task}', args=${JSON.stringify(args)}, **${JSON.stringify(options)}).id))`)

/** Waits until a worker runs the task (it shows in `inspect active`): a sleep would guess, and guess wrong under load. */
export const untilRunning = (id: string) =>
  until(`task ${id} to run on a worker`, () =>
    inApi<boolean>(`a = app.control.inspect(timeout=1).active() or {}
print(json.dumps(any(t['id'] == ${JSON.stringify(id)} for ts in a.values() for t in ts)))`),
  60_000)

/** Each worker's queues, by node name, as the workers answer (every one that answers within 2 s). */
export const queuesByWorker = () =>
  inApi<Record<string, string[]>>(`aq = app.control.inspect(timeout=2).active_queues() or {}
print(json.dumps({w: sorted(q['name'] for q in qs) for w, qs in aq.items()}))`)

/** What became of ten tasks per worker sent to a queue: which workers ran them, how many ran within 30 s. */
export interface TakingWork {
  workers: string[]
  done: number
  sent: number
}

/** Python (for inApi) that sends the tasks of TakingWork and prints the answer as JSON. */
export const takingWorkPython = (queue: string, expected: number) => `import time
rs = [app.send_task('app.workers.test_tasks.whoami', args=[0.3], queue=${JSON.stringify(queue)}) for _ in range(${expected * 10})]
seen, done, t0 = set(), 0, time.time()
for r in rs:
    try:
        seen.add(r.get(timeout=max(0.5, 30 - (time.time() - t0))))
        done += 1
    except Exception:
        break
print(json.dumps({'workers': sorted(seen), 'done': done, 'sent': len(rs)}))`

/** Which of the workers run a task sent to the queue, and whether every task ran (a worker can run one, then hang). */
export const workersTakingWork = (queue: string, expected: number) => inApi<TakingWork>(takingWorkPython(queue, expected))

/** What code_version returns, run by a worker of the queue (null when no worker took it within 20 s). */
export const codeVersion = (queue = 'celery') =>
  inApi<string | null>(`r = app.send_task('app.workers.test_tasks.code_version', queue=${JSON.stringify(queue)})
try:
    print(json.dumps(r.get(timeout=20)))
except Exception:
    print('null')`)

const TASKS_FILE = path.join(EXAMPLE, 'app', 'workers', 'test_tasks.py')

/** Edits CODE_VERSION in the example's task file (what a developer does between resets); returns the undo. */
export function editCode(version: string): () => void {
  const original = readFileSync(TASKS_FILE, 'utf8')
  writeFileSync(TASKS_FILE, original.replace(/^CODE_VERSION = ".*"$/m, `CODE_VERSION = "${version}"`))
  return () => writeFileSync(TASKS_FILE, original)
}

/** Restarts the Redis container and waits until it answers again (the broker reconnect every worker goes through). */
export async function restartRedis(): Promise<void> {
  const redis = await container('redis')
  await run(['docker', 'restart', redis.id])
  await until('Redis to answer after its restart', async () => (await run(['docker', 'exec', redis.id, 'sh', '-c', 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping'], { allowFailure: true })).stdout.includes('PONG'), 60_000)
}

/**
 * A second worker service, `worker-email`, that consumes only its own queue (`-Q email`, its node
 * named email@<host>) and runs the image's code (no bind mount of app/). Returns the environment
 * that makes the suite see it, and the removal.
 */
export async function emailWorker(): Promise<{ env: Record<string, string>; remove: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rt-email-'))
  const override = path.join(dir, 'email.yml')
  writeFileSync(
    override,
    `services:
  worker-email:
    image: ${config.project}-worker:latest
    env_file: .env
    command: celery -A app.workers.celery_app worker --loglevel=INFO --concurrency=2 --prefetch-multiplier=1 -O fair --without-gossip --without-mingle -Q email -n email@%h
    environment:
      SERVICE_NAME: worker-email
    volumes:
      - ./logs:/app/logs
`,
  )
  const files = [...config.composeFiles, override]
  const compose = (...args: string[]) => run(['docker', 'compose', ...files.flatMap((f) => ['-f', f]), '--project-directory', EXAMPLE, '-p', config.project, ...args], { timeoutMs: 300_000 })
  await compose('up', '-d', '--no-deps', 'worker-email')
  await until('the email worker to consume its queue', async () => Object.values(await queuesByWorker()).some((qs) => qs.join() === 'email'), 60_000)
  return {
    env: { COMPOSE_FILE: files.join(':'), RT_WORKER_SERVICES: 'worker,worker-email' },
    remove: async () => {
      await compose('rm', '-sf', 'worker-email')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Redis keys by kind: what routes where, what waits, what results and set-aside messages exist. */
async function keysByKind(): Promise<Record<string, unknown>> {
  return withRedisClient(async (r) => {
    const keys = (await r.keys('*')).sort()
    const kinds: Record<string, unknown> = { routes: [] as string[], lists: [] as string[], results: 0, unacked: 0, other: [] as string[] }
    for (const k of keys) {
      if (k.startsWith('_kombu.binding.') && !k.includes('pidbox')) (kinds.routes as string[]).push(...(await r.smembers(k)).map((m) => `${k.slice(15)} -> ${m.split('\x06\x16').pop()}`))
      else if (k.startsWith('_kombu.binding.')) continue // control replies: made by whoever sent a control command last
      else if (k.startsWith('celery-task-meta-')) kinds.results = (kinds.results as number) + 1
      else if (k === 'unacked' || k === 'unacked_index') kinds.unacked = (kinds.unacked as number) + (await r.type(k) === 'hash' ? await r.hlen(k) : await r.zcard(k))
      else if ((await r.type(k)) === 'list') (kinds.lists as string[]).push(`${k}=${await r.llen(k)}`)
      else (kinds.other as string[]).push(k)
    }
    ;(kinds.routes as string[]).sort()
    return kinds
  })
}

/** Each worker service with the queues of each of its workers (node names change with a recreate, services do not). */
async function queuesByService(): Promise<Record<string, string[]>> {
  const byWorker = await queuesByWorker()
  const hosts = await run(['docker', 'ps', '-q', '--filter', `label=com.docker.compose.project=${config.project}`])
  const inspect = JSON.parse((await run(['docker', 'inspect', ...hosts.stdout.split('\n').filter(Boolean)])).stdout) as any[]
  const serviceOf = (node: string) => inspect.find((c) => c.Config.Hostname === node.split('@')[1])?.Config.Labels['com.docker.compose.service'] ?? '?'
  const by: Record<string, string[]> = {}
  for (const [node, qs] of Object.entries(byWorker)) (by[serviceOf(node)] ??= []).push(qs.join(','))
  for (const k of Object.keys(by)) by[k].sort()
  return by
}

/** What a user can observe after a reset: rows, Redis keys by kind, each worker service's queues. */
export async function fingerprint(): Promise<Record<string, unknown>> {
  const [rows, keys, queues] = await Promise.all([counts(), keysByKind(), queuesByService()])
  return { rows, keys, queues }
}
