// What every target shares about its instances: how one is described, the readiness probes the
// one wait loop runs, and the shell that lets a command inside an instance be stopped later.
import { out, progress } from '../util/output.ts'
import { indent } from '../util/command.ts'
import type { Endpoint, Instance, Target } from './target.ts'
import { allOf, waitFor, WaitError, type Clock, type Probe } from '../util/wait.ts'

export function describe(i: Instance): string {
  const health = i.health ? ` (${i.health})` : ''
  const exit = i.state === 'exited' ? ` with code ${i.exitCode}` : ''
  const service = i.name.includes(i.service) ? '' : ` (service ${i.service})`
  return `${i.name}${service}: ${i.state}${exit}${health}`
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
export function instancesReady(list: () => Promise<Instance[]>, what: string, required: string[], only: string[] | null, initial?: Instance[], since?: number): Probe<Instance[]> {
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
      return { ready: false, detail: `${all.length - waiting.length}/${all.length} ready; waiting for ${parts.join(', ')}` }
    },
  }
}

/** The api answers its health URL (redirects followed); ready at once when it has no endpoint here. */
export function apiAnswers(endpoint: () => Promise<Pick<Endpoint, 'host' | 'port'> | null>, service: string, healthPath: string, answered: { url?: string } = {}): Probe<void> {
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
  const probes: Probe<unknown>[] = [instancesReady(() => target.instances(), `every instance of ${w.label} to be healthy or running`, w.required, w.only, w.initial, w.since)]
  const answered: { url?: string } = {}
  if (w.api && (!w.only || w.only.includes(w.api.service))) probes.push(apiAnswers(() => target.endpoint(w.api!.service, w.api!.port), w.api.service, w.api.path, answered))
  try {
    await waitFor(allOf(`${w.label} to be ready`, probes), { timeoutMs: w.timeoutMs, clock: w.clock, signal: w.signal, onProgress: progress('waiting for containers') })
    if (answered.url?.includes('redirected')) out.info(`${w.api!.service} answered on ${answered.url}`)
    return (await target.current()).filter((i) => (!w.only || w.only.includes(i.service)) && judged(i, w.since) !== 'stopped')
  } catch (e) {
    if (!(e instanceof WaitError)) throw e
    const all = await target.instances().catch(() => [] as Instance[])
    const lines = [e.message]
    for (const i of all.filter((x) => !['ready', 'stopped'].includes(judged(x, w.since)) && (!w.only || w.only.includes(x.service)))) {
      lines.push(`  ${describe(i)}`)
      if (i.healthLog.length) lines.push(`    last health check: ${i.healthLog[i.healthLog.length - 1].split('\n').slice(-3).join(' | ')}`)
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

/** Stops the processes given as arguments and their children: TERM, then KILL after `$RT_WAIT` tenths of a second. */
const STOP_TREES = `
tree() { echo "$1"; for s in /proc/[0-9]*/stat; do set -- "$1" $(cat "$s" 2>/dev/null); [ "$5" = "$1" ] && tree "$2"; done; }
pids=$(for p in "$@"; do tree "$p"; done)
kill -TERM $pids 2>/dev/null
i=0; while [ $i -lt "\${RT_WAIT:-50}" ] && kill -0 "$@" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL $pids 2>/dev/null && echo "killed pid $* and its children" || echo "stopped pid $* and its children"`

/** Stops a TRACKED process and its children inside the instance: TERM, then KILL after 5 s. */
export const STOP_TRACKED = `p=$(cat "$0" 2>/dev/null) || { echo "no process recorded"; exit 0; }; rm -f "$0"; set -- $p
${STOP_TREES}`

/** Stops processes by pid (the arguments after $0) and their children: TERM, then KILL after 1 s. */
export const STOP_PIDS = `RT_WAIT=10
${STOP_TREES}`

/**
 * Lists the processes of an instance that are not the service itself: those started by exec
 * (their parent is outside the instance, so their ppid is 0), but for PID 1 and this shell.
 * One line each: pid, then the command line.
 */
export const LIST_STRAYS = `for d in /proc/[0-9]*; do p=\${d#/proc/}; { [ "$p" = 1 ] || [ "$p" = $$ ]; } && continue
s=$(cat "$d/stat" 2>/dev/null) || continue; set -- \${s##*) }; [ "$2" = 0 ] || continue
printf '%s %s\\n' "$p" "$(tr '\\0' ' ' < "$d/cmdline" 2>/dev/null | cut -c1-200)"; done`

/** A pid file name inside the instance for one tracked command. */
export const pidFile = () => `/tmp/reset-and-test-${process.pid}-${Date.now()}.pid`
