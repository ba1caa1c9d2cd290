// Is the cluster up: the apiserver answers, the node is Ready, and its kubelet is reporting now.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { logOf, startedAt } from './daemons.ts'
import { kubectl } from './exec.ts'
import { EnsureK8sError, showLogTail, warn } from './log.ts'
import { API_PORT, NODE_NAME, selfCommand, type ClusterSettings } from './settings.ts'
import { waitUntil } from './wait.ts'

/** A node lease older than this: the kubelet is not reporting. */
const LEASE_STALE_S = 40
const READY = '{.status.conditions[?(@.type=="Ready")].status}'
const HEARTBEAT = '{.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}'

/** One line for a person; ok when the cluster can take work. */
export async function clusterStatus(s: ClusterSettings): Promise<{ ok: boolean; line: string }> {
  if (!existsSync(path.join(s.binLink, 'kubectl')) || !existsSync(s.kubeconfig))
    return { ok: false, line: `not set up (run: ${selfCommand()} up)` }
  const readyz = await kubectl(s, ['--request-timeout=5s', 'get', '--raw=/readyz'], {
    allowFailure: true,
    timeoutMs: 10_000,
  })
  if (readyz.code !== 0) return { ok: false, line: `apiserver not answering on https://127.0.0.1:${API_PORT}` }
  const node = await kubectl(s, ['get', 'node', NODE_NAME, '-o', `jsonpath=${READY}`], { allowFailure: true })
  if (node.stdout.trim() !== 'True') return { ok: false, line: `node ${NODE_NAME} not Ready` }
  const lease = await kubectl(
    s,
    ['get', 'lease', '-n', 'kube-node-lease', NODE_NAME, '-o', 'jsonpath={.spec.renewTime}'],
    { allowFailure: true },
  )
  const renewed = Date.parse(lease.stdout.trim())
  if (!renewed || Date.now() - renewed > LEASE_STALE_S * 1000)
    return { ok: false, line: 'kubelet not reporting (node lease stale)' }
  return {
    ok: true,
    line: `ok: apiserver https://127.0.0.1:${API_PORT}, node ${NODE_NAME} Ready, kubeconfig ${s.kubeconfig}`,
  }
}

/** Ready, as reported by the kubelet running now (not a status left from before `down`). */
async function nodeReadyNow(s: ClusterSettings): Promise<boolean> {
  const res = await kubectl(s, ['get', 'node', NODE_NAME, '-o', `jsonpath=${READY} ${HEARTBEAT}`], {
    allowFailure: true,
  })
  const [ready, heartbeat] = res.stdout.trim().split(' ')
  if (res.code !== 0 || ready !== 'True') return false
  return (Date.parse(heartbeat) || 0) / 1000 >= startedAt(s, 'kubelet') - 1
}

export async function waitNodeReady(s: ClusterSettings): Promise<void> {
  if (
    !(await waitUntil({
      what: `node ${NODE_NAME} to be Ready`,
      timeoutS: s.readyTimeoutS,
      ready: () => nodeReadyNow(s),
    }))
  ) {
    showLogTail(logOf(s, 'kubelet'), 15)
    throw new EnsureK8sError(
      `node ${NODE_NAME} not Ready after ${s.readyTimeoutS}s (logs: ${s.logs}); the kubelet's log above says why.`,
    )
  }
  const account = async () =>
    (await kubectl(s, ['get', 'serviceaccount', 'default', '-n', 'default'], { allowFailure: true })).code === 0
  if (!(await waitUntil({ what: 'the default service account', timeoutS: 60, ready: account })))
    warn('the default service account is not there yet (the controller-manager makes it)')
}
