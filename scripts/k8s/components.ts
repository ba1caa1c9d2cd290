// Starting the cluster's components in order, each waited for when something depends on it:
// etcd, the apiserver, controller-manager and scheduler, containerd, the kubelet, kube-proxy.
import { chmodSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { writeKubeletConfig, writeRuntimeConfig } from './configs.ts'
import { logOf, pidOf, startDaemon } from './daemons.ts'
import { findExecutable, kubectl, run } from './exec.ts'
import { EnsureK8sError, showLogTail } from './log.ts'
import { API_PORT, NODE_NAME, type ClusterSettings } from './settings.ts'
import { waitUntil } from './wait.ts'

const bin = (s: ClusterSettings, name: string) => path.join(s.binLink, name)

export async function startEtcd(s: ClusterSettings): Promise<void> {
  await portFreeOrOurs(s, 2379, 'etcd')
  await portFreeOrOurs(s, 2380, 'etcd')
  const data = path.join(s.stateDir, 'etcd')
  mkdirSync(data, { recursive: true })
  chmodSync(data, 0o700)
  startDaemon(s, 'etcd', '/usr/bin/etcd', [
    '--name',
    'reset-and-test',
    '--data-dir',
    data,
    '--listen-client-urls',
    'http://127.0.0.1:2379',
    '--advertise-client-urls',
    'http://127.0.0.1:2379',
    '--listen-peer-urls',
    'http://127.0.0.1:2380',
    '--initial-advertise-peer-urls',
    'http://127.0.0.1:2380',
    '--initial-cluster',
    'reset-and-test=http://127.0.0.1:2380',
    '--listen-metrics-urls',
    '',
    '--logger',
    'zap',
    '--log-level',
    'warn',
  ])
  const healthy = async () => (await fetch('http://127.0.0.1:2379/health', { signal: AbortSignal.timeout(5000) })).ok
  await awaitComponent(s, 'etcd', 60, healthy, 'etcd did not start')
}

export async function startApiserver(s: ClusterSettings): Promise<void> {
  await portFreeOrOurs(s, API_PORT, 'kube-apiserver')
  const pki = (f: string) => path.join(s.pki, f)
  const issuer = 'https://kubernetes.default.svc.cluster.local'
  startDaemon(s, 'kube-apiserver', bin(s, 'kube-apiserver'), [
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${API_PORT}`,
    '--insecure-port=0',
    '--etcd-servers=http://127.0.0.1:2379',
    `--service-cluster-ip-range=${s.serviceCidr}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--client-ca-file=${pki('ca.crt')}`,
    `--tls-cert-file=${pki('apiserver.crt')}`,
    `--tls-private-key-file=${pki('apiserver.key')}`,
    `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
    '--kubelet-preferred-address-types=Hostname,InternalIP',
    `--service-account-key-file=${pki('sa.pub')}`,
    `--service-account-signing-key-file=${pki('sa.key')}`,
    `--service-account-issuer=${issuer}`,
    `--api-audiences=${issuer}`,
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=1',
  ])
  const ready = async () =>
    (await kubectl(s, ['get', '--raw=/readyz'], { allowFailure: true, timeoutMs: 10_000 })).code === 0
  await awaitComponent(s, 'kube-apiserver', 90, ready, 'kube-apiserver did not become ready')
}

export function startControllers(s: ClusterSettings): void {
  const common = [
    `--kubeconfig=${s.kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--port=0',
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ]
  startDaemon(s, 'kube-controller-manager', bin(s, 'kube-controller-manager'), [
    ...common,
    `--service-account-private-key-file=${path.join(s.pki, 'sa.key')}`,
    `--root-ca-file=${path.join(s.pki, 'ca.crt')}`,
    `--cluster-signing-cert-file=${path.join(s.pki, 'ca.crt')}`,
    `--cluster-signing-key-file=${path.join(s.pki, 'ca.key')}`,
    `--flex-volume-plugin-dir=${path.join(s.stateDir, 'kubelet-plugins')}`,
  ])
  startDaemon(s, 'kube-scheduler', bin(s, 'kube-scheduler'), common)
}

export async function startContainerd(s: ClusterSettings): Promise<void> {
  const runc = findExecutable('runc')
  if (!runc) throw new EnsureK8sError('runc is not on PATH: apt-get install runc.')
  const config = writeRuntimeConfig(s, runc)
  startDaemon(s, 'containerd', '/usr/bin/containerd', ['--config', config, '--log-level', 'warn'])
  const answers = async () =>
    (await run(['ctr', '--address', s.containerdSocket, 'version'], { allowFailure: true, timeoutMs: 10_000 })).code ===
    0
  await awaitComponent(s, 'containerd', 60, answers, 'containerd did not start')
}

export function startKubelet(s: ClusterSettings): void {
  const plugins = path.join(s.stateDir, 'kubelet-plugins')
  for (const dir of [s.kubeletDir, plugins, path.join(s.stateDir, 'example-logs')]) mkdirSync(dir, { recursive: true })
  startDaemon(s, 'kubelet', bin(s, 'kubelet'), [
    `--config=${writeKubeletConfig(s)}`,
    `--kubeconfig=${path.join(s.stateDir, 'kubelet.kubeconfig')}`,
    `--root-dir=${s.kubeletDir}`,
    `--cert-dir=${path.join(s.kubeletDir, 'pki')}`,
    `--volume-plugin-dir=${plugins}`,
    `--seccomp-profile-root=${path.join(s.kubeletDir, 'seccomp')}`,
    `--hostname-override=${NODE_NAME}`,
    '--container-runtime=remote',
    `--container-runtime-endpoint=unix://${s.containerdSocket}`,
    '--v=1',
  ])
}

export function startKubeProxy(s: ClusterSettings): void {
  startDaemon(s, 'kube-proxy', bin(s, 'kube-proxy'), [
    `--kubeconfig=${s.kubeconfig}`,
    `--hostname-override=${NODE_NAME}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${s.podCidr}`,
    '--metrics-bind-address=127.0.0.1:10249',
    '--healthz-bind-address=127.0.0.1:10256',
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--profiling=false',
    '--v=1',
  ])
}

/** Waits for a component to answer; on timeout the end of its log, then the failure. */
async function awaitComponent(
  s: ClusterSettings,
  name: string,
  timeoutS: number,
  ready: () => Promise<boolean>,
  failure: string,
): Promise<void> {
  if (await waitUntil({ what: name, timeoutS, ready })) return
  showLogTail(logOf(s, name), 20)
  throw new EnsureK8sError(
    `${failure} within ${timeoutS} s (log: ${logOf(s, name)}); fix what its log says, then rerun up.`,
  )
}

/** Refuses a port another program listens on (a component of ours may hold it). */
async function portFreeOrOurs(s: ClusterSettings, port: number, name: string): Promise<void> {
  if (pidOf(s, name)) return
  const listening = await run(['ss', '-Hltnp', `sport = :${port}`], { allowFailure: true, timeoutMs: 10_000 })
  const line = listening.stdout.trim().split('\n')[0]
  if (line)
    throw new EnsureK8sError(`port ${port} (for ${name}) is taken by another program: ${line}. Stop it, then rerun up.`)
}
