#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// ensure-k8s: a single-node Kubernetes cluster on loopback for the Kubernetes target, built from Debian bookworm once
// per machine.
import { spawnSync } from 'node:child_process'
import { loadConfig } from '../lib/config/config.ts'
import { parseArgs } from '../lib/run/args.ts'
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { installPackages, resolveVersion } from './k8s/apt.ts'
import { ensureBinaries } from './k8s/build.ts'
import {
  startApiserver,
  startContainerd,
  startControllers,
  startEtcd,
  startKubelet,
  startKubeProxy,
} from './k8s/components.ts'
import { stopDaemons } from './k8s/daemons.ts'
import { runExample } from './k8s/example.ts'
import { kubectl, run } from './k8s/exec.ts'
import { forgetHostState, recordHostState, removeCreatedPaths, restoreSysctls } from './k8s/host.ts'
import { loadImages } from './k8s/images.ts'
import { cleanupIptables, setupForwardRules } from './k8s/iptables.ts'
import {
  killLeftoverProcesses,
  removeBridge,
  removeCgroups,
  removeContainers,
  removeNetns,
  removePodVolumes,
  unmountState,
} from './k8s/leftovers.ts'
import { elapsed, EnsureK8sError, say } from './k8s/log.ts'
import { importPauseImage } from './k8s/pause-image.ts'
import { generatePki, writeKubeconfigs } from './k8s/pki.ts'
import { requireRootDebian, takeLock } from './k8s/preflight.ts'
import {
  CONTEXT,
  EXAMPLE_NAMESPACE,
  NODE_NAME,
  RUNTIME_PACKAGES,
  selfCommand,
  settingsFrom,
  type ClusterSettings,
} from './k8s/settings.ts'
import { clusterStatus, waitNodeReady } from './k8s/status.ts'

const USAGE = `usage: ${selfCommand()} COMMAND

A single-node Kubernetes 1.20 cluster on loopback for the Kubernetes target of reset-and-test, built
only from Debian bookworm (no registry, no prebuilt binaries). It runs its own containerd, never Docker's.

  up                  build (once per machine: 8-35 min on 2 cores) and start the cluster; idempotent
  down                stop it and put the host back as it was before \`up\`
  purge               down, then delete the cluster's state (certs, etcd, images)
  load-images IMG...  copy images from Docker into the cluster's containerd
  example             the bundled example on the cluster: images built by Compose, loaded,
                      example/k8s applied, every pod Ready in ${EXAMPLE_NAMESPACE} (idempotent)
  for-target [--key-name VALUE...]
                      up and example, when the suite's configuration for TARGET=kubernetes names the
                      bundled cluster (no KUBE_CONTEXT of your own); nothing otherwise (make's TARGET=kubernetes)
  status              exit 0 when the apiserver answers and the node is Ready
  env                 print \`export KUBECONFIG=...\` (eval "$(${selfCommand()} env)")
  kubectl ARGS...     run the cluster's kubectl with its kubeconfig

Environment: K8S_STATE_DIR (/var/lib/reset-and-test-k8s), K8S_CACHE_DIR (/var/cache/reset-and-test/k8s),
K8S_POD_CIDR (10.88.0.0/24), K8S_SERVICE_CIDR (10.96.0.0/24), K8S_READY_TIMEOUT (180 seconds),
K8S_DEB_VERSION (the kubernetes source package version to build; default: bookworm's).
Exit codes: 0 ok, 1 failed or (status) not up, 2 bad usage.`

const EXAMPLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'example')

async function up(s: ClusterSettings): Promise<void> {
  const started = Date.now()
  requireRootDebian()
  await takeLock()
  for (const dir of [s.stateDir, s.run, s.logs]) mkdirSync(dir, { recursive: true })
  // Binaries: Debian's packages, Kubernetes built from source once per version.
  await installPackages(RUNTIME_PACKAGES)
  const version = await resolveVersion(s)
  await ensureBinaries(s, version)
  // Before the first start: what `down` puts back; then certificates, control plane, node.
  recordHostState(s)
  await generatePki(s)
  writeKubeconfigs(s)
  await startEtcd(s)
  await startApiserver(s)
  startControllers(s)
  await startContainerd(s)
  await importPauseImage(s, version)
  await setupForwardRules(s)
  startKubelet(s)
  startKubeProxy(s)
  await waitNodeReady(s)
  const client = await kubectl(s, ['version', '--client', '--short'], { allowFailure: true })
  say(
    `ready in ${elapsed(Date.now() - started)}: Kubernetes ${client.stdout.trim().split(' ').pop()}, node ` +
      `${NODE_NAME} Ready`,
  )
  say(`kubeconfig ${s.kubeconfig} (context ${CONTEXT}); eval "$(${selfCommand()} env)" to use it`)
}

async function down(s: ClusterSettings): Promise<void> {
  const started = Date.now()
  requireRootDebian()
  await takeLock()
  if (!existsSync(s.stateDir)) return say(`nothing to stop (${s.stateDir} absent)`)
  // The kubelet first (it would restart what goes), the containers while containerd still runs.
  await stopDaemons(s, ['kubelet'])
  await removeContainers(s)
  await stopDaemons(s, ['kube-proxy', 'containerd'])
  await killLeftoverProcesses(s)
  await stopDaemons(s, ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver'])
  await stopDaemons(s, ['etcd'])
  // Then the host as it was: rules, mounts, namespaces, cgroups, bridge, sysctls, paths.
  await cleanupIptables(s)
  await unmountState(s)
  await removeNetns(s)
  removeCgroups()
  await removeBridge()
  restoreSysctls(s)
  await removeCreatedPaths(s)
  await removePodVolumes(s)
  forgetHostState(s)
  say(`down in ${elapsed(Date.now() - started)} (binaries stay in ${s.cacheRoot})`)
}

async function purge(s: ClusterSettings): Promise<void> {
  await down(s)
  await run(['rm', '-rf', '--one-file-system', s.stateDir], { timeoutMs: 600_000 })
  say(`removed ${s.stateDir}`)
}

async function status(s: ClusterSettings): Promise<number> {
  const { ok, line } = await clusterStatus(s)
  console.log(line)
  return ok ? 0 : 1
}

function env(s: ClusterSettings): void {
  console.log(`export KUBECONFIG=${s.kubeconfig}`)
  console.log(`# kubectl of the cluster version: ${s.binLink}/kubectl`)
}

/** The cluster's kubectl, attached to this terminal; its exit code is ours. */
function passKubectl(s: ClusterSettings, args: string[]): number {
  const res = spawnSync(path.join(s.binLink, 'kubectl'), ['--kubeconfig', s.kubeconfig, ...args], { stdio: 'inherit' })
  if (res.error)
    throw new EnsureK8sError(
      `the cluster's kubectl could not run (${res.error.message}): run '${selfCommand()} up' first.`,
    )
  return res.status ?? 128 + 15
}

/** The bundled cluster and example, when the suite would act on them (the suite's configuration says). */
async function forTarget(s: ClusterSettings, args: string[]): Promise<void> {
  const config = loadConfig({ flags: { ...parseArgs(args, []).settings, TARGET: 'kubernetes' } })
  if (config.kube.context !== CONTEXT || config.kube.kubeconfig !== s.kubeconfig) {
    return say(
      `the suite acts in context ${config.kube.context} (${config.sources.KUBE_CONTEXT}): not the bundled cluster, ` +
        `nothing to prepare`,
    )
  }
  await up(s)
  await runExample(s, EXAMPLE_DIR)
}

type Command = (s: ClusterSettings, args: string[]) => Promise<number | void> | number | void
const COMMANDS: Record<string, { run: Command; takesArgs?: boolean }> = {
  up: { run: up },
  down: { run: down },
  purge: { run: purge },
  'load-images': { run: loadImages, takesArgs: true },
  example: { run: (s) => runExample(s, EXAMPLE_DIR) },
  'for-target': { run: forTarget, takesArgs: true },
  status: { run: status },
  env: { run: env },
  kubectl: { run: passKubectl, takesArgs: true },
}

async function main([name = '', ...args]: string[]): Promise<number> {
  if (['-h', '--help', 'help'].includes(name)) {
    console.log(USAGE)
    return 0
  }
  const command = COMMANDS[name]
  if (!command || (args.length && !command.takesArgs)) {
    console.error(command ? `ensure-k8s: ${name} takes no arguments\n\n${USAGE}` : USAGE)
    return 2
  }
  try {
    return (await command.run(settingsFrom(process.env), args)) ?? 0
  } catch (e) {
    console.error(`ensure-k8s: ${e instanceof Error ? e.message : String(e)}`)
    return 1
  }
}

process.exit(await main(process.argv.slice(2)))
