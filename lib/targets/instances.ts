// What every target shares about its instances: how one is described, the readiness probes the
// one wait loop runs, and the shell that lets a command inside an instance be stopped later.
import { out, progress } from '../util/output.ts'
import { indent } from '../util/command.ts'
import type { Endpoint, Instance, Proc, ProcessTable, Target } from './target.ts'
import { allOf, waitFor, WaitError, type Clock, type Probe } from '../util/wait.ts'

export function describe(i: Instance): string {
  const health = i.health ? ` (${i.health})` : ''
  const exit = i.state === 'exited' ? ` with code ${i.exitCode}` : ''
  const service = i.name.includes(i.service) ? '' : ` (service ${i.service})`
  return `${i.name}${service}: ${i.state}${exit}${health}`
}

const at = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().slice(11, 19) : 'an unknown time')

/**
 * The instances that stopped, restarted or went away between two listings, each with when (and its
 * exit code): what happened to the stack while the test ran.
 */
export function changesBetween(before: Instance[], after: Instance[]): string[] {
  const changes: string[] = []
  for (const b of before.filter((i) => i.state === 'running')) {
    const a = after.find((i) => i.id === b.id)
    if (!a) changes.push(`${b.name} went away (removed or replaced)`)
    else if (a.state !== 'running')
      changes.push(`${a.name} stopped at ${at(a.finishedAt)} with exit code ${a.exitCode}`)
    else if ((a.restarts ?? 0) > (b.restarts ?? 0) || (a.startedAt && b.startedAt && a.startedAt !== b.startedAt))
      changes.push(
        `${a.name} restarted at ${at(a.startedAt)}${a.finishedAt ? ` (it had exited with code ${a.exitCode})` : ''}`,
      )
  }
  return changes
}

/** "api×1, worker×8": running instances per service. */
export function countByService(list: Instance[]): string {
  const by = new Map<string, number>()
  for (const i of list) if (i.readiness === 'ready') by.set(i.service, (by.get(i.service) ?? 0) + 1)
  return [...by].map(([s, n]) => `${s}×${n}`).join(', ')
}

/**
 * An instance as the wait judges it: one left stopped is not waited for, but one that stopped
 * after `since` (the caller had started or restarted it) has failed.
 */
export function judged(i: Instance, since?: number): Instance['readiness'] {
  if (i.readiness !== 'stopped') return i.readiness
  return since !== undefined && i.finishedAt !== null && i.finishedAt >= since ? 'failed' : 'stopped'
}

/** Every instance of the services ready (those left stopped aside), and each required one present. */
export function instancesReady(
  list: () => Promise<Instance[]>,
  what: string,
  required: string[],
  only: string[] | null,
  initial?: Instance[],
  since?: number,
): Probe<Instance[]> {
  let listing = initial // a listing just taken serves the first check
  return {
    what,
    async check() {
      const all = (listing ?? (await list()))
        .filter((i) => !only || only.includes(i.service))
        .map((i) => ({ ...i, readiness: judged(i, since) }))
        .filter((i) => i.readiness !== 'stopped')
      listing = undefined
      const missing = required.filter((s) => (!only || only.includes(s)) && !all.some((i) => i.service === s))
      const failed = all.filter((i) => i.readiness === 'failed')
      if (failed.length) return { ready: false, fatal: true, detail: failed.map(describe).join(', ') }
      const waiting = all.filter((i) => i.readiness === 'waiting')
      if (missing.length === 0 && waiting.length === 0) return { ready: true, value: all }
      const parts = [...missing.map((s) => `${s}: no instance`), ...waiting.map(describe)]
      return {
        ready: false,
        detail: `${all.length - waiting.length}/${all.length} ready; waiting for ${parts.join(', ')}`,
      }
    },
  }
}

/** The api answers its health URL (redirects followed); ready at once when it has no endpoint here. */
export function apiAnswers(
  endpoint: () => Promise<Pick<Endpoint, 'host' | 'port'> | null>,
  service: string,
  healthPath: string,
  answered: { url?: string } = {},
): Probe<void> {
  return {
    what: `${service} to answer ${healthPath}`,
    async check() {
      const ep = await endpoint().catch(() => null)
      if (ep === null) return { ready: true, value: undefined }
      const url = `http://${ep.host}:${ep.port}${healthPath}`
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000), redirect: 'follow' })
        if (!res.ok) return { ready: false, detail: `HTTP ${res.status} from ${res.url}` }
        answered.url = res.url !== url ? `${url} -> ${res.url} (redirected)` : url
        return { ready: true, value: undefined }
      } catch (e) {
        return { ready: false, detail: `no answer on ${url} (${(e as Error).message})` }
      }
    },
  }
}

/** GET of a URL inside the instance, redirects followed; prints the final status and URL. */
const GET_INSIDE = String.raw`
import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status, r.geturl())
except Exception as e:
    print(getattr(e, 'code', 0), e)
`

/**
 * A real request to the api's health URL: through its endpoint on this machine, else from inside
 * its instance (python3 is there: the api is a Python app). Returns what answered, or why not.
 */
export async function requestApi(
  target: Target,
  service: string,
  port: number,
  healthPath: string,
): Promise<{ ok: boolean; detail: string }> {
  const answered: { url?: string } = {}
  const ep = await target.endpoint(service, port).catch(() => null)
  if (ep) {
    const res = await apiAnswers(async () => ep, service, healthPath, answered).check()
    return res.ready
      ? { ok: true, detail: `GET ${answered.url} answered` }
      : { ok: false, detail: res.detail ?? 'no answer' }
  }
  const url = `http://127.0.0.1:${port}${healthPath}`
  const res = await target.exec(service, ['python3', '-c', GET_INSIDE, url], { allowFailure: true, timeoutMs: 15_000 })
  const [status, ...rest] = res.stdout.trim().split(' ')
  const ok = res.code === 0 && /^2\d\d$/.test(status)
  const answer = ok
    ? `HTTP ${status}${rest.length ? ` from ${rest.join(' ')}` : ''}`
    : res.stdout.trim() || res.stderr.trim()
  return { ok, detail: `GET ${url} inside ${service}: ${answer}` }
}

export interface StackWait {
  /** "the p stack" */
  label: string
  timeoutMs: number
  clock: Clock
  signal: AbortSignal
  required: string[]
  /** Wait only for these services; null: every instance. */
  only: string[] | null
  /** The api's health probe, when the api is waited for. */
  api: { service: string; path: string; port: number } | null
  initial?: Instance[]
  /** When the caller began starting things: see judged(). */
  since?: number
}

/**
 * Waits until every instance is healthy (with a check) or running (without), each required
 * service is there, and the api answers. On failure the error names each instance that is not
 * ready, with its last health check and log tail.
 */
export async function waitForStack(target: Target, w: StackWait): Promise<Instance[]> {
  const probes: Probe<unknown>[] = [
    instancesReady(
      () => target.instances(),
      `every instance of ${w.label} to be healthy or running`,
      w.required,
      w.only,
      w.initial,
      w.since,
    ),
  ]
  const answered: { url?: string } = {}
  if (w.api && (!w.only || w.only.includes(w.api.service)))
    probes.push(apiAnswers(() => target.endpoint(w.api!.service, w.api!.port), w.api.service, w.api.path, answered))
  try {
    await waitFor(allOf(`${w.label} to be ready`, probes), {
      timeoutMs: w.timeoutMs,
      clock: w.clock,
      signal: w.signal,
      onProgress: progress('waiting for containers'),
    })
    if (answered.url?.includes('redirected')) out.info(`${w.api!.service} answered on ${answered.url}`)
    return (await target.current()).filter(
      (i) => (!w.only || w.only.includes(i.service)) && judged(i, w.since) !== 'stopped',
    )
  } catch (e) {
    if (!(e instanceof WaitError)) throw e
    const all = await target.instances().catch(() => [] as Instance[])
    const lines = [e.message]
    for (const i of all.filter(
      (x) => !['ready', 'stopped'].includes(judged(x, w.since)) && (!w.only || w.only.includes(x.service)),
    )) {
      lines.push(`  ${describe(i)}`)
      if (i.healthLog.length)
        lines.push(`    last health check: ${i.healthLog[i.healthLog.length - 1].split('\n').slice(-3).join(' | ')}`)
      const tail = await target.logTail(i, 10).catch(() => '')
      if (tail) lines.push(indent(tail, '    | '))
    }
    throw new Error(lines.join('\n'))
  }
}

/**
 * Runs a command inside an instance so that it can be stopped later: the shell records its pid
 * in a file ($0), then becomes the command ($1). Used as: sh -c TRACKED <pidfile> <command>.
 */
export const TRACKED = 'echo $$ > "$0"; exec sh -c "$1"'

/** The fields of a /proc/<pid>/stat line after the command's name (which may hold spaces and parentheses). */
const STAT_FIELDS = 's=$(cat "$1/stat" 2>/dev/null) || return 1; set -- ${s##*) }'

/** Stops the processes given as arguments and their children: TERM, then KILL after `$RT_WAIT` tenths of a second. */
const STOP_TREES = `
parent() { ${STAT_FIELDS}; echo "$2"; }
tree() { echo "$1"; for d in /proc/[0-9]*; do [ "$(parent "$d")" = "$1" ] && tree "\${d#/proc/}"; done; }
pids=$(for p in "$@"; do tree "$p"; done)
kill -TERM $pids 2>/dev/null
i=0; while [ $i -lt "\${RT_WAIT:-50}" ] && kill -0 "$@" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL $pids 2>/dev/null && echo "killed pid $* and its children" || echo "stopped pid $* and its children"`

/** Stops a TRACKED process and its children inside the instance: TERM, then KILL after 5 s. */
export const STOP_TRACKED = `p=$(cat "$0" 2>/dev/null) || { echo "no process recorded"; exit 0; }; rm -f "$0"; set -- $p
${STOP_TREES}`

/** Stops processes by pid (the arguments after $0): TERM, then KILL after 1 s. */
export const STOP_PIDS = `kill -TERM "$@" 2>/dev/null
i=0; while [ $i -lt 10 ] && kill -0 "$@" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL "$@" 2>/dev/null; true`

/**
 * Every process of an instance: a header (hostname, boot time, clock ticks, the reading shell's
 * session), then a line a process: pid, parent, session, start in ticks since boot, state (R, S,
 * Z...), and its command line with the arguments separated by \x1f (a newline inside one as \x1e).
 */
export const LIST_PROCESSES = `st() { ${STAT_FIELDS}; echo "$2 $4 \${20} $1"; }
echo "host $(cat /proc/sys/kernel/hostname)"; grep '^btime' /proc/stat
echo "tick $(getconf CLK_TCK 2>/dev/null || echo 100)"; set -- $(st /proc/$$); echo "self $2"
for d in /proc/[0-9]*; do f=$(st "$d") || continue
printf '%s %s ' "\${d#/proc/}" "$f"; tr '\\0\\n' '\\037\\036' < "$d/cmdline" 2>/dev/null; echo; done`

/** The table LIST_PROCESSES printed, the reading shell's session left out. */
export function parseProcesses(instance: Instance, text: string): ProcessTable {
  const header = (key: string) => new RegExp(`^${key} (.*)$`, 'm').exec(text)?.[1]?.trim() ?? ''
  const boot = Number(header('btime')) * 1000
  const tick = Number(header('tick')) || 100
  const readerSid = Number(header('self'))
  const procs: Proc[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+) (\d+) (\d+) ([A-Za-z]) ?(.*)$/.exec(line)
    if (!m) continue
    const [pid, ppid, sid, ticks] = [m[1], m[2], m[3], m[4]].map(Number)
    const argv = m[6].replace(/\x1e/g, '\n').split('\x1f')
    if (argv.at(-1) === '') argv.pop()
    // A zombie has ended: only its parent's wait can remove it, and it holds nothing.
    if (sid !== readerSid && m[5] !== 'Z') procs.push({ pid, ppid, sid, startedAt: boot + (ticks * 1000) / tick, argv })
  }
  return { instance, hostname: header('host'), procs, readerSid }
}

/** Processes that are not the service itself: in another session than PID 1's (started by exec, and what they left). */
export function straysOf(table: ProcessTable): Proc[] {
  const own = table.procs.find((p) => p.pid === 1)?.sid ?? 1
  return table.procs.filter((p) => p.pid !== 1 && p.sid !== own)
}

/** A pid file name inside the instance for one tracked command. */
export const pidFile = () => `/tmp/reset-and-test-${process.pid}-${Date.now()}.pid`
