// Kubernetes 1.20 compiled from Debian bookworm's source package `kubernetes` with bookworm's
// golang-go, offline (the source ships vendor/): control plane, kubelet, kube-proxy, kubectl and
// the pause binary, cached per version in $K8S_CACHE_DIR/<version>/bin. Cold: 8-35 min on 2 cores.
// One fix: the vendored reflect2 1.0.1 crashes every Go >= 1.18 binary that JSON-encodes a map (the
// apiserver dies on the first such request; Debian's own kubernetes-client 1.20 panics in `kubectl
// config`), so the build swaps in Debian's reflect2 1.0.2 and builds kubectl from the same tree.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import { aptGet, ensureDebSrc, installPackages } from './apt.ts'
import { inDir, run } from './exec.ts'
import { elapsed, EnsureK8sError, say, showLogTail } from './log.ts'
import type { ClusterSettings } from './settings.ts'

const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl']
/** Bump to rebuild cached binaries when the build steps change. */
const BUILD_RECIPE = 2
const BUILD_PACKAGES = [
  'golang-go',
  'rsync',
  'make',
  'gcc',
  'libc6-dev',
  'dpkg-dev',
  'golang-github-modern-go-reflect2-dev',
]
const REFLECT2_SRC = '/usr/share/gocode/src/github.com/modern-go/reflect2'
const BUILD_TIMEOUT_MS = 3 * 3600_000

/** The binaries of this version, built when the cache lacks them; $K8S_STATE_DIR/bin points at them. */
export async function ensureBinaries(s: ClusterSettings, version: string): Promise<void> {
  const bin = path.join(s.cacheRoot, version, 'bin')
  const complete = path.join(bin, '.complete')
  if (existsSync(complete) && readFileSync(complete, 'utf8').trim() === `recipe ${BUILD_RECIPE}`)
    say(`Kubernetes binaries cached: ${bin} (build skipped)`)
  else await buildBinaries(path.join(s.cacheRoot, version), version)
  rmSync(`${s.binLink}.new`, { force: true })
  symlinkSync(bin, `${s.binLink}.new`)
  renameSync(`${s.binLink}.new`, s.binLink)
}

async function buildBinaries(versionDir: string, version: string): Promise<void> {
  await installPackages(BUILD_PACKAGES)
  const [bin, work, log] = ['bin', 'build', 'build.log'].map((p) => path.join(versionDir, p))
  say(
    `building Kubernetes ${version} from Debian's source package (cold: 8-35 min on 2 cores; once per machine; log: ` +
      `${log})`,
  )
  const started = Date.now()
  rmSync(`${bin}.tmp`, { recursive: true, force: true })
  mkdirSync(`${bin}.tmp`, { recursive: true })
  // A tree left by an interrupted build is resumed: its Go cache is in it.
  if (!existsSync(path.join(work, 'src', 'Makefile'))) await fetchSource(work, version)
  await patchReflect2(path.join(work, 'src', 'vendor', 'github.com', 'modern-go', 'reflect2'))
  await compile(path.join(work, 'src'), path.join(work, 'home'), log)
  for (const name of BINARIES) {
    copyFileSync(path.join(work, 'src', '_output', 'bin', name), path.join(`${bin}.tmp`, name))
    chmodSync(path.join(`${bin}.tmp`, name), 0o755)
  }
  const pauseSource = path.join(work, 'src', 'build', 'pause', 'linux', 'pause.c')
  await run(
    [
      'gcc',
      '-Os',
      '-Wall',
      '-static',
      '-DVERSION=v3.4-reset-and-test',
      '-o',
      path.join(`${bin}.tmp`, 'pause'),
      pauseSource,
    ],
    { timeoutMs: 300_000 },
  )
  writeFileSync(path.join(`${bin}.tmp`, '.complete'), `recipe ${BUILD_RECIPE}\n`)
  rmSync(bin, { recursive: true, force: true })
  renameSync(`${bin}.tmp`, bin)
  rmSync(work, { recursive: true, force: true }) // the tree and its 2.6 GB Go cache: not needed any more
  say(`built Kubernetes ${version} in ${elapsed(Date.now() - started)} -> ${bin} (${megabytes(bin)})`)
}

/** apt-get source into work/, unpacked (Debian's patches applied) into work/src. */
async function fetchSource(work: string, version: string): Promise<void> {
  rmSync(work, { recursive: true, force: true })
  mkdirSync(path.join(work, 'home'), { recursive: true })
  chmodSync(work, 0o755) // lets apt's _apt user write the download
  const download = ['source', '--download-only', '-qq', `kubernetes=${version}`]
  await aptGet(download, work).catch(async () => {
    await ensureDebSrc()
    await aptGet(download, work)
  })
  // apt checked the files against the signed Release; gpgv would only lack the uploader's key.
  const dsc = readdirSync(work).find((f) => f.startsWith('kubernetes_') && f.endsWith('.dsc'))
  if (!dsc) throw new EnsureK8sError(`apt-get source left no kubernetes_*.dsc in ${work}`)
  await run(inDir(work, ['dpkg-source', '-x', dsc, 'src']), { timeoutMs: 900_000 }).catch((e: Error) => {
    throw new EnsureK8sError(`could not unpack the source: ${e.message}`)
  })
}

/** reflect2 1.0.1 (vendored) calls reflect.mapiterinit with its pre-Go-1.18 signature: any JSON
 * encoding of a map then segfaults. Debian's reflect2 1.0.2 (same API) is the fix. */
async function patchReflect2(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'go_above_118.go'))) return
  if (!existsSync(path.join(REFLECT2_SRC, 'go_above_118.go')))
    throw new EnsureK8sError(
      `${REFLECT2_SRC} has no Go 1.18 support (golang-github-modern-go-reflect2-dev >= 1.0.2 needed).`,
    )
  const sources = (d: string) => readdirSync(d).filter((f) => /\.(go|s)$/.test(f))
  for (const f of sources(dir)) rmSync(path.join(dir, f))
  for (const f of sources(REFLECT2_SRC)) copyFileSync(path.join(REFLECT2_SRC, f), path.join(dir, f))
  const version = await run(['dpkg-query', '-W', '-f=${Version}', 'golang-github-modern-go-reflect2-dev'])
  say(`vendored reflect2 replaced by Debian's ${version.stdout.trim()} (Go 1.18+ map iteration)`)
}

/** make WHAT=... in GOPATH mode with vendor/ (hack/lib/golang.sh keeps GOPATH and GOCACHE under
 * _output/); output to the log, a progress line every 30 s. */
async function compile(src: string, home: string, log: string): Promise<void> {
  const fd = openSync(log, 'w')
  const started = Date.now()
  let last = ''
  const timer = setInterval(() => say(`  building... ${elapsed(Date.now() - started)} (${last.slice(0, 90)})`), 30_000)
  const what = `WHAT=${BINARIES.map((b) => `cmd/${b}`).join(' ')}`
  const res = await run(inDir(src, ['make', what]), {
    timeoutMs: BUILD_TIMEOUT_MS,
    env: { GOPROXY: 'off', CGO_ENABLED: '0', HOME: home, PWD: src },
    allowFailure: true,
    onOutput: (chunk) => {
      writeSync(fd, chunk)
      last =
        chunk
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .pop() ?? last
    },
  }).finally(() => {
    clearInterval(timer)
    closeSync(fd)
  })
  if (res.code === 0) return
  showLogTail(log, 30)
  const why = res.timedOut ? `did not finish in ${elapsed(BUILD_TIMEOUT_MS)}` : 'failed'
  throw new EnsureK8sError(`the Kubernetes build ${why} (log: ${log}); rerun resumes with the Go cache.`)
}

function megabytes(dir: string): string {
  const bytes = readdirSync(dir).reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0)
  return `${Math.round(bytes / 1048576)}M`
}
