// What the pods leave on the host when the cluster stops, removed by `down`: containers and their
// shims, mounts under the state dir, network namespaces, kubepods cgroups, the bridge, pod volumes.
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { pidOf } from './daemons.ts'
import { ctr, run } from './exec.ts'
import { netnsBeforeUp, podNetns, rememberPodNetns, takeRememberedNetns } from './host.ts'
import { say, warn } from './log.ts'
import { BRIDGE, type ClusterSettings } from './settings.ts'
import { sleep } from './wait.ts'

const words = (text: string) => text.split(/\s+/).filter(Boolean)

/** Kills every container, remembers the pods' network namespaces, removes the containers (so the
 * next start begins clean). Needs the cluster's containerd running. */
export async function removeContainers(s: ClusterSettings): Promise<void> {
  if (!pidOf(s, 'containerd')) return
  const ids = words((await ctr(s, ['containers', 'ls', '-q'], { allowFailure: true })).stdout)
  if (!ids.length) return
  const sandboxes = await ctr(s, ['containers', 'ls', '-q', 'labels."io.cri-containerd.kind"==sandbox'], {
    allowFailure: true,
  })
  for (const id of words(sandboxes.stdout)) {
    const info = await ctr(s, ['containers', 'info', id], { allowFailure: true })
    const namespaces: { type?: string; path?: string }[] =
      info.code === 0 ? (JSON.parse(info.stdout).Spec?.linux?.namespaces ?? []) : []
    const network = namespaces.find((n) => n.type === 'network')?.path
    if (network) rememberPodNetns(s, network)
  }
  // Kills and deletes the tasks, then the containers.
  await ctr(s, ['tasks', 'delete', '-f', ...ids], { allowFailure: true, timeoutMs: 120_000 })
  await ctr(s, ['containers', 'rm', ...ids], { allowFailure: true, timeoutMs: 120_000 })
  say(`removed ${ids.length} containers`)
}

/** Processes this cluster started that outlive containerd: shims (they name our socket) and
 * whatever is still inside the kubepods cgroups. Killed by pid. */
export async function killLeftoverProcesses(s: ClusterSettings): Promise<void> {
  const shims = readdirSync('/proc').filter(
    (p) => /^\d+$/.test(p) && cmdline(p).includes(`-address ${s.containerdSocket} `),
  )
  const inPods = cgroupProcs('/sys/fs/cgroup/pids/kubepods')
  const pids = [...new Set([...shims, ...inPods])].map(Number).filter((p) => p !== process.pid)
  if (!pids.length) return
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone already
    }
  }
  say(`killed ${pids.length} leftover container/shim processes`)
  await sleep(1000)
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
  } catch {
    return ''
  }
}

/** The pids in a cgroup (v1) and all below it. */
function cgroupProcs(dir: string): string[] {
  if (!existsSync(dir)) return []
  const here = existsSync(path.join(dir, 'cgroup.procs'))
    ? words(readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'))
    : []
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => cgroupProcs(path.join(dir, e.name)))
  return [...here, ...below]
}

/** Mount points under a directory, deepest first (/proc/self/mountinfo, field 5). */
export function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(Boolean)
  const decoded = points.map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
  return decoded
    .filter((p) => p.startsWith(`${dir}/`))
    .sort()
    .reverse()
}

async function unmount(point: string): Promise<boolean> {
  if ((await run(['umount', point], { allowFailure: true })).code === 0) return true
  return (await run(['umount', '-l', point], { allowFailure: true })).code === 0
}

export async function unmountState(s: ClusterSettings): Promise<void> {
  const points = mountsUnder(s.stateDir)
  for (const point of points) if (!(await unmount(point))) warn(`could not unmount ${point}`)
  if (points.length) say(`unmounted ${points.length} mounts under ${s.stateDir}`)
}

/** The pods' network namespaces: those remembered, and cni-* ones that were not there before `up`. */
export async function removeNetns(s: ClusterSettings): Promise<void> {
  const before = new Set(netnsBeforeUp(s))
  const created = podNetns()
    .filter((n) => !before.has(n))
    .map((n) => `/run/netns/${n}`)
  for (const ns of new Set([...takeRememberedNetns(s), ...created])) {
    if (!existsSync(ns)) continue
    await unmount(ns)
    rmSync(ns, { force: true })
  }
  if (existsSync('/run/netns') && !readdirSync('/run/netns').length) rmdirSync('/run/netns')
}

/** kubepods in every cgroup (v1) hierarchy, deepest first; a cgroup still in use stays. */
export function removeCgroups(): void {
  const removeTree = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(path.join(dir, e.name))
    try {
      rmdirSync(dir)
    } catch {
      // still has processes: warned about below
    }
  }
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const kubepods = path.join('/sys/fs/cgroup', hierarchy, 'kubepods')
    if (!existsSync(kubepods)) continue
    removeTree(kubepods)
    if (existsSync(kubepods)) warn(`could not remove cgroup ${kubepods}`)
  }
}

export async function removeBridge(): Promise<void> {
  if ((await run(['ip', 'link', 'show', BRIDGE], { allowFailure: true })).code !== 0) return
  await run(['ip', 'link', 'del', BRIDGE])
  say(`removed bridge ${BRIDGE}`)
}

/** Pod volumes and IP leases of the pods that are gone (only when nothing is mounted there). */
export async function removePodVolumes(s: ClusterSettings): Promise<void> {
  if (mountsUnder(s.kubeletDir).length) return
  await run(['rm', '-rf', '--one-file-system', path.join(s.kubeletDir, 'pods'), path.join(s.cniDir, 'ipam')], {
    timeoutMs: 120_000,
  })
}
