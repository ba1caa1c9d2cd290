// What ensure-k8s says: `==> ensure-k8s: ...` steps on stdout, warnings and failures on stderr.
import { existsSync, readFileSync } from 'node:fs'

/** A failure the message explains (what went wrong, what to do): printed as is, exit code 1. */
export class EnsureK8sError extends Error {}

export function say(text: string): void {
  console.log(`==> ensure-k8s: ${text}`)
}

export function warn(text: string): void {
  console.error(`ensure-k8s: warning: ${text}`)
}

/** 95_000 -> "1m35s" */
export function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000)
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

export function indent(text: string, by = '    '): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => by + l)
    .join('\n')
}

/** The last lines of a file, blank lines left out. */
export function lastLines(file: string, n: number): string {
  if (!existsSync(file)) return ''
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
  return lines.slice(-n).join('\n')
}

/** Prints the end of a component's log to stderr, for a failure that it explains. */
export function showLogTail(file: string, n: number): void {
  const tail = lastLines(file, n)
  if (tail) console.error(`--- last lines of ${file}\n${tail}`)
}
