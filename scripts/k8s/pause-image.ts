// The sandbox ("pause") image every pod starts from: the static pause binary of the build in a
// one-layer docker-archive put together by hand (no registry), cached beside the binaries.
import { createHash } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ctr, run } from './exec.ts'
import { say } from './log.ts'
import { PAUSE_IMAGE, type ClusterSettings } from './settings.ts'

export async function importPauseImage(s: ClusterSettings, version: string): Promise<void> {
  const present = await ctr(s, ['images', 'ls', '-q', `name==${PAUSE_IMAGE}`])
  if (present.stdout.trim()) return
  const tarball = path.join(s.cacheRoot, version, 'pause-image.tar')
  if (!existsSync(tarball)) await buildPauseArchive(path.join(s.binLink, 'pause'), tarball)
  await ctr(s, ['images', 'import', tarball], { timeoutMs: 120_000 })
  say(`imported the sandbox image ${PAUSE_IMAGE}`)
}

async function buildPauseArchive(pause: string, tarball: string): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ensure-k8s-pause-'))
  try {
    mkdirSync(path.join(dir, 'rootfs'))
    copyFileSync(pause, path.join(dir, 'rootfs', 'pause'))
    const tar = (args: string[]) =>
      run(['tar', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', ...args], { timeoutMs: 60_000 })
    await tar(['--mode=0755', '-C', path.join(dir, 'rootfs'), '-cf', path.join(dir, 'layer.tar'), 'pause'])
    const diffId = sha256(readFileSync(path.join(dir, 'layer.tar')))
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created_by: 'ensure-k8s' }],
    })
    const configName = `${sha256(Buffer.from(config))}.json`
    writeFileSync(path.join(dir, configName), config)
    writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [PAUSE_IMAGE], Layers: ['layer.tar'] }]),
    )
    await tar(['-C', dir, '-cf', `${tarball}.tmp`, 'manifest.json', configName, 'layer.tar'])
    renameSync(`${tarball}.tmp`, tarball)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')
