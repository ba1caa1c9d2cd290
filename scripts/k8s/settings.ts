// The cluster's settings: fixed names and ports, the paths it uses, the environment overrides.
//
// Where things live:
//   $K8S_CACHE_DIR/<version>/bin   binaries (kept by `down`; delete to rebuild)
//   $K8S_STATE_DIR/                pki/, etcd/, containerd/, kubelet/, logs/<component>.log,
//                                  run/<component>.pid, host-state/ (what `down` restores)
//   $K8S_STATE_DIR/kubeconfig      admin kubeconfig, context reset-and-test-local
// Networks: pods on bridge rat-k8s0, services through kube-proxy (iptables mode), apiserver on
// https://127.0.0.1:6443. No CoreDNS: pods find services through <NAME>_SERVICE_HOST variables.
import path from 'node:path'
import { EnsureK8sError } from './log.ts'

export { LOCAL_CONTEXT as CONTEXT, LOCAL_NAMESPACE as EXAMPLE_NAMESPACE } from '../../lib/config/local-cluster.ts'
import { localKubeconfig, localStateDir } from '../../lib/config/local-cluster.ts'
export const NODE_NAME = 'localhost'
export const API_PORT = 6443
export const BRIDGE = 'rat-k8s0'
export const FORWARD_CHAIN = 'RESET-AND-TEST-K8S'
export const PAUSE_IMAGE = 'reset-and-test.local/pause:3.4'
export const SRC_LIST = '/etc/apt/sources.list.d/reset-and-test-k8s-src.sources'
export const LOCK_FILE = '/run/lock/reset-and-test-k8s.lock'
export const EXAMPLE_IMAGES = [
  'reset-and-test-example-api:latest',
  'reset-and-test-example-worker:latest',
  'reset-and-test-example-postgres:latest',
  'reset-and-test-example-redis:latest',
]
export const RUNTIME_PACKAGES = [
  'etcd-server',
  'containerd',
  'runc',
  'containernetworking-plugins',
  'conntrack',
  'iptables',
  'openssl',
  'curl',
  'jq',
]

export interface ClusterSettings {
  stateDir: string
  cacheRoot: string
  podCidr: string
  serviceCidr: string
  /** The bridge's address: .1 of the pod network. */
  podGateway: string
  /** The `kubernetes` service: .1 of the service network (a name in the apiserver's certificate). */
  apiServiceIp: string
  readyTimeoutS: number
  pki: string
  run: string
  logs: string
  hostRecord: string
  containerdDir: string
  containerdSocket: string
  kubeletDir: string
  cniDir: string
  kubeconfig: string
  /** -> the cached bin dir of the version in use */
  binLink: string
  /** A Debian version of the kubernetes source package to build instead of bookworm's. */
  debVersion?: string
}

/** ClusterSettings from the environment (an empty variable counts as unset); bad values are refused. */
export function settingsFrom(env: NodeJS.ProcessEnv): ClusterSettings {
  const stateDir = localStateDir(env)
  const podCidr = cidr('K8S_POD_CIDR', env.K8S_POD_CIDR || '10.88.0.0/24')
  const serviceCidr = cidr('K8S_SERVICE_CIDR', env.K8S_SERVICE_CIDR || '10.96.0.0/24')
  const timeout = env.K8S_READY_TIMEOUT || '180'
  if (!/^[1-9]\d*$/.test(timeout))
    throw new EnsureK8sError(`K8S_READY_TIMEOUT must be a whole number of seconds, not '${timeout}'.`)
  const containerdDir = path.join(stateDir, 'containerd')
  return {
    stateDir,
    cacheRoot: env.K8S_CACHE_DIR || '/var/cache/reset-and-test/k8s',
    podCidr,
    serviceCidr,
    podGateway: firstAddress(podCidr),
    apiServiceIp: firstAddress(serviceCidr),
    readyTimeoutS: Number(timeout),
    pki: path.join(stateDir, 'pki'),
    run: path.join(stateDir, 'run'),
    logs: path.join(stateDir, 'logs'),
    hostRecord: path.join(stateDir, 'host-state'),
    containerdDir,
    containerdSocket: path.join(containerdDir, 'containerd.sock'),
    kubeletDir: path.join(stateDir, 'kubelet'),
    cniDir: path.join(stateDir, 'cni'),
    kubeconfig: localKubeconfig(env),
    binLink: path.join(stateDir, 'bin'),
    debVersion: env.K8S_DEB_VERSION || undefined,
  }
}

function cidr(name: string, value: string): string {
  if (!/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(value))
    throw new EnsureK8sError(`${name} must be an IPv4 network like 10.88.0.0/24, not '${value}'.`)
  return value
}

/** 10.88.0.0/24 -> 10.88.0.1 */
function firstAddress(network: string): string {
  return network.split('/')[0].replace(/\.\d+$/, '.1')
}

/** How a person runs this script again, for the messages that tell them to. */
export function selfCommand(): string {
  const script = process.argv[1] ?? 'scripts/ensure-k8s.mts'
  const relative = path.relative(process.cwd(), script)
  return relative.startsWith('..') || path.isAbsolute(relative) ? script : relative
}
