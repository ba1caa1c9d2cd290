// The newest file under a directory, for telling whether code changed after a process started:
// paths matching ignore patterns are passed over (a name without / matches any part of a path:
// __pycache__, *.pyc; one with / matches the path from the directory: tests/*.py). Links are not
// followed; the walk stops at a bound so that a huge tree costs milliseconds, not seconds. And a
// file written so that a reader never sees half of it (the run record, the logs read).
import { lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface NewestFile {
  file: string
  mtimeMs: number
  /** Files looked at; the walk stopped at the bound when it equals it. */
  seen: number
}

const GLOB_PARTS: Record<string, string> = { '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' }

/** A glob as a regular expression: ** any path, * and ? within one part. */
export function globRegExp(glob: string): RegExp {
  const body = glob
    .split(/(\*\*\/?|\*|\?)/)
    .map((part) => GLOB_PARTS[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
    .join('')
  return new RegExp(`^${body}$`)
}

/** Does a path (relative, with /) match one of the patterns? */
export function ignored(relative: string, patterns: RegExp[], names: RegExp[]): boolean {
  return patterns.some((p) => p.test(relative)) || relative.split('/').some((part) => names.some((n) => n.test(part)))
}

/**
 * The newest file under `root` (or `root` itself when it is a file) but those `skip` names; null when there is none
 * here.
 */
export function newestFile(
  root: string,
  ignore: string[],
  skip: (file: string) => boolean = () => false,
  limit = 20_000,
): NewestFile | null {
  const names = ignore.filter((g) => !g.includes('/')).map(globRegExp)
  const patterns = ignore.filter((g) => g.includes('/')).map(globRegExp)
  let best: NewestFile | null = null
  let seen = 0
  const visit = (dir: string, relative: string) => {
    let entries
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (seen >= limit) return
      const rel = relative ? `${relative}/${e.name}` : e.name
      if (ignored(rel, patterns, names)) continue
      const full = path.join(dir, e.name)
      if (e.isDirectory()) visit(full, rel)
      else if (e.isFile() && !skip(full)) consider(full)
    }
  }
  const consider = (file: string) => {
    seen++
    const mtimeMs = lstatSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0
    if (!best || mtimeMs > best.mtimeMs) best = { file, mtimeMs, seen }
  }
  const top = lstatSync(root, { throwIfNoEntry: false })
  if (top?.isDirectory()) visit(root, '')
  else if (top?.isFile()) consider(root)
  return best ? { ...(best as NewestFile), seen } : null
}

/** Writes a file so that a reader sees the old content or the new one, never half of it. */
export function writeAtomically(file: string, text: string) {
  mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
