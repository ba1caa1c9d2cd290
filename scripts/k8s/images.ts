// Images copied from Docker into the cluster's containerd (docker save | ctr import), skipping
// those whose id (config digest) is already there.
import { pidOf } from './daemons.ts'
import { ctr, ctrCommand, pipeline, run } from './exec.ts'
import { EnsureK8sError, say } from './log.ts'
import { takeLock } from './preflight.ts'
import { selfCommand, type ClusterSettings } from './settings.ts'

/** The name containerd gives an image Docker calls NAME (docker.io/library/NAME:latest, ...). */
export function containerdRef(name: string): string {
  const first = name.split('/')[0]
  let ref = name
  if (!name.includes('/')) ref = `docker.io/library/${name}`
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') ref = `docker.io/${name}`
  const last = ref.split('/').pop() ?? ''
  return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`
}

/** Docker's id of an image (sha256:...), or undefined when Docker has no such image. */
export async function dockerImageId(image: string): Promise<string | undefined> {
  const res = await run(['docker', 'image', 'inspect', '-f', '{{.Id}}', image], { allowFailure: true })
  return res.code === 0 ? res.stdout.trim() : undefined
}

/** The config digest (= Docker's image id) of the image containerd has under ref. */
async function loadedId(s: ClusterSettings, ref: string): Promise<string | undefined> {
  const listed = await ctr(s, ['images', 'ls', `name==${ref}`], { allowFailure: true })
  const digest = listed.stdout.split('\n')[1]?.split(/\s+/)[2]
  if (!digest) return undefined
  const manifest = await ctr(s, ['content', 'get', digest], { allowFailure: true })
  try {
    return JSON.parse(manifest.stdout).config?.digest
  } catch {
    return undefined // an index, not a manifest: load again
  }
}

export async function loadImages(s: ClusterSettings, images: string[]): Promise<void> {
  if (!images.length) throw new EnsureK8sError(`usage: ${selfCommand()} load-images IMAGE...`)
  if (!pidOf(s, 'containerd'))
    throw new EnsureK8sError(`the cluster's containerd is not running: run '${selfCommand()} up' first.`)
  await takeLock()
  for (const image of images) {
    const id = await dockerImageId(image)
    if (!id) throw new EnsureK8sError(`docker has no image ${image}: build or pull it first.`)
    const short = id.slice(7, 19)
    if ((await loadedId(s, containerdRef(image))) === id) {
      say(`${image} already loaded (${short})`)
      continue
    }
    say(`loading ${image} (${short}) into the cluster's containerd`)
    await pipeline(['docker', 'save', image], ctrCommand(s, ['images', 'import', '-']), 900_000)
  }
}
