// What the host looked like before the first `up`, recorded in host-state/ and put back by `down`:
// the sysctls the kubelet (setupKernelTunables) and kube-proxy may change, and the host paths the
// cluster writes outside its state dir. (The files keep the format of the bash version's.)
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { run } from './exec.ts'
import { say, warn } from './log.ts'
import type { ClusterSettings } from './settings.ts'

const SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.conf.all.route_localnet',
  'net.ipv4.ip_forward',
  'net.bridge.bridge-nf-call-iptables',
  'net.netfilter.nf_conntrack_max',
]
/**
 * Removed by `down` when `up` created them. (/var/lib/kubelet: the kubelet's device-plugin socket dir is fixed in
 * 1.20.)
 */
const HOST_PATHS = [
  '/var/log/pods',
  '/var/log/containers',
  '/var/lib/cni',
  '/var/lib/kubelet',
  '/usr/libexec/kubernetes',
]
const RECORDS = ['sysctls', 'existing-paths', 'existing-netns']

const recordOf = (s: ClusterSettings, name: string) => path.join(s.hostRecord, name)
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(path.join('/proc/sys', ...key.split('.')), 'utf8').trim()
  } catch {
    return undefined // not on this kernel, or its module is not loaded
  }
}

/** Once: an earlier `up` that was not followed by `down` recorded the originals. */
export function recordHostState(s: ClusterSettings): void {
  if (existsSync(recordOf(s, 'sysctls'))) return
  mkdirSync(s.hostRecord, { recursive: true })
  const sysctls = SYSCTLS.map((key) => [key, readSysctl(key)]).filter(([, value]) => value !== undefined)
  writeFileSync(
    recordOf(s, 'existing-paths'),
    HOST_PATHS.filter((p) => existsSync(p))
      .map((p) => `${p}\n`)
      .join(''),
  )
  writeFileSync(
    recordOf(s, 'existing-netns'),
    podNetns()
      .map((n) => `${n}\n`)
      .join(''),
  )
  writeFileSync(recordOf(s, 'sysctls.tmp'), sysctls.map(([key, value]) => `${key}=${value}\n`).join(''))
  renameSync(recordOf(s, 'sysctls.tmp'), recordOf(s, 'sysctls'))
  say(`recorded host state before start (${s.hostRecord})`)
}

/** Names of the CNI network namespaces in /run/netns (cni-...). */
export function podNetns(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('cni-')) : []
}

/** Network namespaces that were there before the first `up` (not ours to remove). */
export const netnsBeforeUp = (s: ClusterSettings): string[] => lines(recordOf(s, 'existing-netns'))

export function rememberPodNetns(s: ClusterSettings, nsPath: string): void {
  mkdirSync(s.hostRecord, { recursive: true })
  appendFileSync(recordOf(s, 'pod-netns'), `${nsPath}\n`)
}

/** Pod network namespaces remembered by `down` before their containers went; the list is emptied. */
export function takeRememberedNetns(s: ClusterSettings): string[] {
  const remembered = lines(recordOf(s, 'pod-netns'))
  rmSync(recordOf(s, 'pod-netns'), { force: true })
  return remembered
}

export function restoreSysctls(s: ClusterSettings): void {
  for (const line of lines(recordOf(s, 'sysctls'))) {
    const [key, value] = [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]
    const current = readSysctl(key)
    if (current === undefined || current === value) continue
    try {
      writeFileSync(path.join('/proc/sys', ...key.split('.')), value)
      say(`restored sysctl ${key}=${value} (was ${current})`)
    } catch (e) {
      warn(`could not restore ${key}=${value}: ${(e as Error).message}`)
    }
  }
}

/** Host paths `up` created go; in those that were there before, only what this cluster put there. */
export async function removeCreatedPaths(s: ClusterSettings): Promise<void> {
  if (!existsSync(recordOf(s, 'existing-paths'))) return
  const before = new Set(lines(recordOf(s, 'existing-paths')))
  for (const p of HOST_PATHS) {
    if (before.has(p)) removeOurEntries(p)
    else if (existsSync(p)) {
      await run(['rm', '-rf', '--one-file-system', p], { timeoutMs: 120_000 })
      say(`removed ${p}`)
    }
  }
}

function removeOurEntries(hostPath: string): void {
  const remove = (dir: string, match: (name: string) => boolean) => {
    if (existsSync(dir))
      for (const n of readdirSync(dir).filter(match)) rmSync(path.join(dir, n), { recursive: true, force: true })
  }
  if (hostPath === '/var/lib/cni') {
    remove('/var/lib/cni/results', (n) => n.startsWith('reset-and-test-'))
    remove('/var/lib/cni/networks', (n) => n === 'reset-and-test')
  }
  if (hostPath === '/var/log/pods') remove('/var/log/pods', (n) => n.startsWith('reset-and-test-example_'))
}

/** After `down`: the next `up` records the host afresh. */
export function forgetHostState(s: ClusterSettings): void {
  for (const name of RECORDS) rmSync(recordOf(s, name), { force: true })
}
