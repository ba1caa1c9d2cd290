// The cluster's processes: each runs in a session of its own (pid = process group), its output
// appended to logs/<name>.log, its pid and binary in run/<name>.pid, its start time in
// run/<name>.started. A pid counts only while it is still the binary it was started as.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { EnsureK8sError, say } from './log.ts'
import { sleep } from './wait.ts'
import type { ClusterSettings } from './settings.ts'

const STOP_GRACE_MS = 15_000

export const logOf = (s: ClusterSettings, name: string): string => path.join(s.logs, `${name}.log`)

/** The pid of the component when it runs. */
export function pidOf(s: ClusterSettings, name: string): number | undefined {
  const file = path.join(s.run, `${name}.pid`)
  if (!existsSync(file)) return undefined
  const [pid, exe] = readFileSync(file, 'utf8').trim().split(/\s+/)
  if (!pid || !exe || !existsSync(`/proc/${pid}`)) return undefined
  try {
    const running = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '')
    return running === realpathSync(exe) ? Number(pid) : undefined
  } catch {
    return undefined
  }
}

/** Seconds since the epoch at which the component was last started (0: never). */
export function startedAt(s: ClusterSettings, name: string): number {
  const file = path.join(s.run, `${name}.started`)
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || 0 : 0
}

export function startDaemon(s: ClusterSettings, name: string, bin: string, args: string[]): void {
  const running = pidOf(s, name)
  if (running) return say(`${name} already running (pid ${running})`)
  mkdirSync(s.run, { recursive: true })
  mkdirSync(s.logs, { recursive: true })
  const log = openSync(logOf(s, name), 'a')
  writeSync(log, `\n--- ${new Date().toISOString()} start ${name}\n`)
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', log, log] })
  child.on('error', () => {}) // a missing binary: no pid, said below
  closeSync(log)
  if (!child.pid) throw new EnsureK8sError(`could not start ${name}: ${bin} is missing or not executable.`)
  child.unref()
  writeFileSync(path.join(s.run, `${name}.pid`), `${child.pid} ${bin}\n`)
  writeFileSync(path.join(s.run, `${name}.started`), `${Math.floor(Date.now() / 1000)}\n`)
  say(`started ${name} (pid ${child.pid}, log ${logOf(s, name)})`)
}

/** SIGTERM to the components' process groups (all at once), SIGKILL to what is left after 15 s. */
export async function stopDaemons(s: ClusterSettings, names: string[]): Promise<void> {
  const stopped: [string, number][] = []
  for (const name of names) {
    const pid = pidOf(s, name)
    if (pid) {
      signal(pid, 'SIGTERM')
      stopped.push([name, pid])
    }
    rmSync(path.join(s.run, `${name}.pid`), { force: true })
  }
  if (!stopped.length) return
  const alive = () => stopped.filter(([, pid]) => existsSync(`/proc/${pid}`))
  for (const deadline = Date.now() + STOP_GRACE_MS; alive().length && Date.now() < deadline;) await sleep(200)
  for (const [, pid] of alive()) signal(pid, 'SIGKILL')
  say(`stopped ${stopped.map(([n]) => n).join(' ')} (pids ${stopped.map(([, p]) => p).join(' ')})`)
}

/** To the process group, or the process alone when it left its group. */
function signal(pid: number, sig: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, sig)
      return
    } catch {
      // try the next
    }
  }
}
