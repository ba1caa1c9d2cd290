// The bundled example on the cluster: its images built by Compose (the same images the Compose
// stack runs), loaded into the cluster, example/k8s applied, every pod Ready. Idempotent: the
// deployments restart only when an image changed.
import path from 'node:path'
import { startedAt } from './daemons.ts'
import { inDir, indentedOutput, kubectl, run } from './exec.ts'
import { dockerImageId, loadImages } from './images.ts'
import { elapsed, EnsureK8sError, indent, say } from './log.ts'
import { EXAMPLE_IMAGES, EXAMPLE_NAMESPACE as NS, selfCommand, type ClusterSettings } from './settings.ts'
import { clusterStatus } from './status.ts'
import { waitUntil } from './wait.ts'

export async function runExample(s: ClusterSettings, exampleDir: string): Promise<void> {
  const started = Date.now()
  if (!(await clusterStatus(s)).ok) throw new EnsureK8sError(`the cluster is not up: run '${selfCommand()} up' first.`)
  const before = await imageIds()
  await buildImages(exampleDir)
  const changed = (await imageIds()) !== before
  await loadImages(s, EXAMPLE_IMAGES)
  say(`applying ${path.join(exampleDir, 'k8s')} to namespace ${NS}`)
  console.log(
    indent((await kubectl(s, ['apply', '-f', `${path.join(exampleDir, 'k8s')}/`], { timeoutMs: 120_000 })).stdout),
  )
  if (changed) {
    say("images changed: restarting the example's deployments")
    console.log(indent((await kubectl(s, ['rollout', 'restart', '-n', NS, 'deployment'])).stdout))
  }
  await waitRollouts(s)
  await waitPodsReady(s)
  say(`example ready in namespace ${NS} (${elapsed(Date.now() - started)})`)
}

/** The example's image ids as Docker has them, one string to compare before and after a build. */
async function imageIds(): Promise<string> {
  const ids = await Promise.all(EXAMPLE_IMAGES.map(async (image) => (await dockerImageId(image)) ?? 'none'))
  return ids.join(' ')
}

async function buildImages(exampleDir: string): Promise<void> {
  const plugin = await run(['docker', 'compose', 'version'], { allowFailure: true, timeoutMs: 30_000 })
  const compose = plugin.code === 0 ? ['docker', 'compose'] : ['docker-compose']
  say(`building the example's images with ${compose.join(' ')} (the same images the Compose stack runs)`)
  const output = indentedOutput()
  const res = await run(inDir(exampleDir, [...compose, 'build']), {
    timeoutMs: 1_800_000,
    allowFailure: true,
    onOutput: output.write,
  }).finally(output.end)
  if (res.code !== 0)
    throw new EnsureK8sError(
      `building the example's images failed (${res.timedOut ? 'not done in 30 min' : `exit code ${res.code}`}, see ` +
        `above): fix the build in ${exampleDir}, then rerun example.`,
    )
}

async function waitRollouts(s: ClusterSettings): Promise<void> {
  const deployments = (await kubectl(s, ['get', 'deployments', '-n', NS, '-o', 'name'])).stdout
    .split('\n')
    .filter(Boolean)
  for (const deployment of deployments) {
    const args = ['rollout', 'status', '-n', NS, deployment, `--timeout=${s.readyTimeoutS}s`]
    const res = await kubectl(s, args, { allowFailure: true, timeoutMs: (s.readyTimeoutS + 30) * 1000 })
    const last = res.stdout.trim().split('\n').pop()
    if (last) console.log(indent(last))
    if (res.code !== 0)
      throw new EnsureK8sError(
        `${deployment} did not roll out within ${s.readyTimeoutS} s: kubectl describe -n ${NS} ${deployment}`,
      )
  }
}

async function waitPodsReady(s: ClusterSettings): Promise<void> {
  const what = "the example's pods to be Ready"
  if (
    await waitUntil({
      what,
      timeoutS: s.readyTimeoutS,
      ready: () => examplePodsReady(s),
      intervalMs: 2000,
      reportEveryS: 10,
    })
  )
    return
  const pods = await kubectl(s, ['get', 'pods', '-n', NS, '-o', 'wide'], { allowFailure: true })
  console.error(pods.stdout + pods.stderr)
  throw new EnsureK8sError(
    `the example's pods were not all Ready within ${s.readyTimeoutS} s (above); kubectl describe pod -n ${NS} NAME ` +
      `tells why`,
  )
}

interface Pod {
  metadata: { deletionTimestamp?: string }
  status: {
    conditions?: { type: string; status: string }[]
    containerStatuses?: { state: { running?: { startedAt?: string } } }[]
  }
}

/** Every pod of the example Ready, its containers started after this kubelet was (right after an
 * `up`, pods still show the Ready status they had before the `down` for a few seconds). */
async function examplePodsReady(s: ClusterSettings): Promise<boolean> {
  const since = startedAt(s, 'kubelet') * 1000
  const pods = (JSON.parse((await kubectl(s, ['get', 'pods', '-n', NS, '-o', 'json'])).stdout).items as Pod[]).filter(
    (p) => !p.metadata.deletionTimestamp,
  )
  const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  const fresh = (p: Pod) =>
    (p.status.containerStatuses ?? []).every(
      (c) => Date.parse(c.state.running?.startedAt ?? '1970-01-01T00:00:00Z') >= since,
    )
  return pods.length > 0 && pods.every((p) => ready(p) && fresh(p))
}
