// A container's processes read from this machine's /proc: with a local engine its processes are
// ours, so one read of /proc costs milliseconds where a `docker exec` in each container costs a
// tenth of a second (dockerd takes them one at a time). Each process is the container's when it
// is in the PID namespace of the container's PID 1; its pid, parent and session are shown as the
// container sees them. Null when /proc does not show them (a remote engine, another user's).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { Instance, Proc, ProcessTable } from './target.ts'

/** USER_HZ: the unit of a start time in /proc/<pid>/stat, 100 on every Linux architecture Docker runs on. */
const TICK = 100

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}
const nsOf = (pid: number | string): string | null => {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`)
  } catch {
    return null
  }
}
const last = (status: string, key: string) =>
  Number(new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1].trim().split(/\s+/).pop())

/** The processes of the container whose PID 1 is `hostPid` on this machine, or null. */
export function hostProcessTable(
  instance: Instance,
  hostPid: number | undefined,
  hostname: string,
): ProcessTable | null {
  const ns = hostPid ? nsOf(hostPid) : null
  const boot = Number(/^btime (\d+)/m.exec(read('/proc/stat') ?? '')?.[1]) * 1000
  if (!ns || !boot) return null
  const found: {
    host: number
    hostPpid: number
    pid: number
    sid: number
    startedAt: number
    state: string
    argv: string[]
  }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || nsOf(entry) !== ns) continue
    const [status, stat, cmdline] = [
      read(`/proc/${entry}/status`),
      read(`/proc/${entry}/stat`),
      read(`/proc/${entry}/cmdline`),
    ]
    if (!status || !stat || cmdline === null) continue
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // after the name, which may hold spaces
    const argv = cmdline.split('\0')
    if (argv.at(-1) === '') argv.pop()
    found.push({
      ...{ host: Number(entry), hostPpid: Number(fields[1]), pid: last(status, 'NSpid'), sid: last(status, 'NSsid') },
      ...{ startedAt: boot + (Number(fields[19]) * 1000) / TICK, state: fields[0], argv },
    })
  }
  const nsPid = new Map(found.map((p) => [p.host, p.pid]))
  const procs: Proc[] = found
    .filter((p) => p.state !== 'Z')
    .map((p) => ({
      pid: p.pid,
      ppid: nsPid.get(p.hostPpid) ?? 0,
      sid: p.sid,
      startedAt: p.startedAt,
      argv: p.argv,
      hostPid: p.host,
    }))
  return { instance, hostname, procs, readerSid: -1 }
}

/**
 * Stops processes read by hostProcessTable: TERM, then KILL after a second; each checked to be still the container's.
 */
export async function stopHostProcesses(hostPid: number, procs: Pick<Proc, 'pid' | 'hostPid'>[]): Promise<void> {
  const ns = nsOf(hostPid)
  const ours = () => procs.filter((p) => p.hostPid !== undefined && ns !== null && nsOf(p.hostPid) === ns)
  const signal = (sig: NodeJS.Signals) =>
    ours().forEach((p) => {
      try {
        process.kill(p.hostPid!, sig)
      } catch {}
    })
  signal('SIGTERM')
  for (let i = 0; i < 10 && ours().length; i++) await new Promise((r) => setTimeout(r, 100))
  signal('SIGKILL')
}
