// Debian's packages and the kubernetes source package's version, through apt.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { EnsureK8sError, say } from './log.ts'
import { inDir, run, type RunResult } from './exec.ts'
import { SRC_LIST, type ClusterSettings } from './settings.ts'

/** apt-get (in dir when given), waiting for the locks other apt runs hold; five tries, 10 s apart. */
export async function aptGet(args: string[], dir?: string): Promise<RunResult> {
  const command = ['apt-get', '-o', 'DPkg::Lock::Timeout=600', ...args]
  const argv = dir ? inDir(dir, command) : command
  for (let attempt = 1; ; attempt++) {
    const res = await run(argv, {
      timeoutMs: 1_800_000,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      allowFailure: attempt < 5,
    })
    if (res.code === 0) return res
    await new Promise((resolve) => setTimeout(resolve, 10_000))
  }
}

async function installed(pkg: string): Promise<boolean> {
  const res = await run(['dpkg-query', '-W', '-f=${Status}', pkg], { allowFailure: true })
  return res.stdout.includes('install ok installed')
}

export async function installPackages(packages: string[]): Promise<void> {
  const missing: string[] = []
  for (const pkg of packages) if (!(await installed(pkg))) missing.push(pkg)
  if (!missing.length) return
  say(`installing from Debian: ${missing.join(' ')}`)
  await aptGet(['update', '-qq'])
  await aptGet(['install', '-y', '-qq', '--no-install-recommends', ...missing])
}

/** A deb-src entry for bookworm main, on the mirror the existing bookworm source uses. */
export async function ensureDebSrc(): Promise<void> {
  const uri = bookwormMirror()
  if (!uri)
    throw new EnsureK8sError(
      'no bookworm apt source found to derive a deb-src entry from: add a bookworm entry to ' +
        '/etc/apt/sources.list.d/debian.sources.',
    )
  say(`adding a deb-src entry for bookworm main (${SRC_LIST})`)
  writeFileSync(
    SRC_LIST,
    `Types: deb-src\nURIs: ${uri}\nSuites: bookworm\nComponents: main\nSigned-By: ` +
      `/usr/share/keyrings/debian-archive-keyring.gpg\n`,
  )
  await aptGet(['update', '-qq'])
}

function bookwormMirror(): string | undefined {
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '')
  const deb822 = [...read('/etc/apt/sources.list.d/debian.sources').matchAll(/^URIs:\s*(\S+)/gm)].map((m) => m[1])
  const fromDeb822 = deb822.find((u) => !u.includes('security'))
  if (fromDeb822) return fromDeb822
  const line = read('/etc/apt/sources.list')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[0] === 'deb' && f[2] === 'bookworm')
  return line?.[1]
}

/** The Debian version of the kubernetes source package: it keys the binary cache. */
export async function resolveVersion(s: ClusterSettings): Promise<string> {
  if (s.debVersion) return s.debVersion
  let dsc = await sourceDsc()
  if (!dsc) {
    const cached = cachedVersions(s.cacheRoot).pop()
    if (cached && existsSync(SRC_LIST)) return cached // apt's lists gone: keep using what was built
    await ensureDebSrc()
    dsc = await sourceDsc()
  }
  if (!dsc)
    throw new EnsureK8sError(
      "apt does not know bookworm's kubernetes source package: check the deb-src entry in " +
        SRC_LIST +
        ' and run apt-get update.',
    )
  return decodeURIComponent(dsc.replace(/^kubernetes_/, '').replace(/\.dsc$/, '')) // the URI is URL-encoded: %2b -> +
}

async function sourceDsc(): Promise<string | undefined> {
  const res = await run(['apt-get', 'source', '--print-uris', '-qq', 'kubernetes/bookworm'], { allowFailure: true })
  return res.stdout.match(/kubernetes_[^' ]*\.dsc/)?.[0]
}

/** Versions with a complete build in the cache, oldest first. */
function cachedVersions(cacheRoot: string): string[] {
  if (!existsSync(cacheRoot)) return []
  return readdirSync(cacheRoot)
    .filter((v) => existsSync(path.join(cacheRoot, v, 'bin', '.complete')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
}
