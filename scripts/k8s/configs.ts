// The files the components read: the cluster's own containerd (own root, state and socket; Docker's
// is left alone), the CNI bridge network of the pods, the kubelet's configuration.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BRIDGE, PAUSE_IMAGE, type ClusterSettings } from './settings.ts'

export function writeRuntimeConfig(s: ClusterSettings, runc: string): string {
  mkdirSync(s.containerdDir, { recursive: true })
  mkdirSync(path.join(s.cniDir, 'net.d'), { recursive: true })
  mkdirSync(path.join(s.cniDir, 'ipam'), { recursive: true })
  const config = path.join(s.containerdDir, 'config.toml')
  writeFileSync(config, containerdConfig(s, runc))
  writeFileSync(
    path.join(s.cniDir, 'net.d', '10-reset-and-test.conflist'),
    JSON.stringify(cniNetwork(s), null, 2) + '\n',
  )
  return config
}

function containerdConfig(s: ClusterSettings, runc: string): string {
  const dir = s.containerdDir
  const cri = 'plugins."io.containerd.grpc.v1.cri"'
  return `# Written by ensure-k8s: the cluster's own containerd (Docker's is left alone).
version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${s.containerdSocket}"
[ttrpc]
  address = "${s.containerdSocket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  # Without it runc fails with "can't get final child's PID from pipe: EOF" (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        BinaryName = "${runc}"
        Root = "${dir}/runc"
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${s.cniDir}/net.d"
    max_conf_num = 1
`
}

function cniNetwork(s: ClusterSettings) {
  const bridge = {
    type: 'bridge',
    bridge: BRIDGE,
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      dataDir: path.join(s.cniDir, 'ipam'),
      ranges: [[{ subnet: s.podCidr, gateway: s.podGateway }]],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  }
  return { cniVersion: '0.4.0', name: 'reset-and-test', plugins: [bridge] }
}

export function writeKubeletConfig(s: ClusterSettings): string {
  const file = path.join(s.stateDir, 'kubelet-config.yaml')
  writeFileSync(
    file,
    `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "${path.join(s.pki, 'ca.crt')}"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
`,
  )
  return file
}
