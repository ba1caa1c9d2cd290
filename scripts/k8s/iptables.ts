// The cluster's iptables rules: a forward chain of its own for the pod network (set up by `up`),
// and the removal of everything Kubernetes put there (by `down`). Docker's chains are never touched.
import { appendFileSync, existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { findExecutable, run, type RunResult } from './exec.ts'
import { FORWARD_CHAIN, type ClusterSettings } from './settings.ts'

/** -w: wait for the xtables lock Docker and kube-proxy take too. */
function ipt(command: string, table: string, args: string[], allowFailure = true): Promise<RunResult> {
  return run([command, '-w', '10', '-t', table, ...args], { allowFailure, timeoutMs: 30_000 })
}

/** Docker's FORWARD policy is DROP and bridged pod traffic goes through it (br_netfilter): accept
 * the pod network in a chain of our own, jumped to first. */
export async function setupForwardRules(s: ClusterSettings): Promise<void> {
  await ipt('iptables', 'filter', ['-N', FORWARD_CHAIN])
  for (const rule of [
    ['-s', s.podCidr, '-j', 'ACCEPT'],
    ['-d', s.podCidr, '-j', 'ACCEPT'],
  ]) {
    if ((await ipt('iptables', 'filter', ['-C', FORWARD_CHAIN, ...rule])).code !== 0)
      await ipt('iptables', 'filter', ['-A', FORWARD_CHAIN, ...rule], false)
  }
  if ((await ipt('iptables', 'filter', ['-C', 'FORWARD', '-j', FORWARD_CHAIN])).code !== 0)
    await ipt('iptables', 'filter', ['-I', 'FORWARD', '1', '-j', FORWARD_CHAIN], false)
}

/** kube-proxy's own clean-up, then any KUBE-* chain left (the kubelet's canaries), then our chain. */
export async function cleanupIptables(s: ClusterSettings): Promise<void> {
  const kubeProxy = path.join(s.binLink, 'kube-proxy')
  if (existsSync(kubeProxy)) {
    const res = await run([kubeProxy, '--cleanup'], { allowFailure: true, timeoutMs: 120_000 })
    mkdirSync(s.logs, { recursive: true })
    appendFileSync(path.join(s.logs, 'kube-proxy-cleanup.log'), res.stdout + res.stderr)
  }
  for (const command of ['iptables', 'ip6tables'].filter((c) => findExecutable(c))) {
    for (const table of ['filter', 'nat', 'mangle']) await removeKubeChains(command, table)
  }
  const unjump = () => ipt('iptables', 'filter', ['-D', 'FORWARD', '-j', FORWARD_CHAIN])
  while ((await unjump()).code === 0) continue // one jump per `-D`, however many there are
  if ((await ipt('iptables', 'filter', ['-F', FORWARD_CHAIN])).code === 0)
    await ipt('iptables', 'filter', ['-X', FORWARD_CHAIN])
}

/** The jumps from the built-in chains to KUBE-* chains, then those chains, flushed and deleted. */
async function removeKubeChains(command: string, table: string): Promise<void> {
  const rules = async () => (await ipt(command, table, ['-S'])).stdout.split('\n')
  const kubeChains = (lines: string[]) => lines.filter((l) => l.startsWith('-N KUBE-')).map((l) => l.split(' ')[1])
  const listed = await rules()
  if (!listed.some((l) => l.includes('-j KUBE-') || l.startsWith('-N KUBE-'))) return
  const jumps = listed.filter((l) => /^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-/.test(l))
  for (const rule of jumps) await ipt(command, table, ['-D', ...splitRule(rule).slice(1)])
  for (const chain of kubeChains(await rules())) await ipt(command, table, ['-F', chain])
  for (const chain of kubeChains(await rules())) await ipt(command, table, ['-X', chain])
}

/** The words of a rule as `iptables -S` prints it: "quoted strings" (with \" inside) are one word. */
export function splitRule(line: string): string[] {
  const words: string[] = []
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2])
  return words
}
