// Commands as argument arrays, each with a deadline; a failure throws an error naming the command
// and showing its output. The cluster's kubectl and containerd client are run through here too.
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import { $ } from 'zx/core'
import { createRunner, showCommand, type RunOptions, type RunResult } from '../../lib/util/command.ts'
import { EnsureK8sError } from './log.ts'
import type { ClusterSettings } from './settings.ts'

export type { RunOptions, RunResult }

/** Throws on a non-zero exit unless allowFailure; 60 s unless timeoutMs says otherwise. */
export const run = createRunner({ dryRun: false, secrets: { values: [], words: [] }, defaultTimeoutMs: 60_000 })

/** argv run in another directory (coreutils `env --chdir`): the runner takes no working directory. */
export function inDir(dir: string, argv: string[]): string[] {
  return ['env', '--chdir', dir, ...argv]
}

/** The cluster's own kubectl with the admin kubeconfig. */
export function kubectl(s: ClusterSettings, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run([path.join(s.binLink, 'kubectl'), '--kubeconfig', s.kubeconfig, ...args], {
    timeoutMs: 30_000,
    ...options,
  })
}

/** ctr on the cluster's own containerd (never Docker's), in the namespace the kubelet uses. */
export function ctrCommand(s: ClusterSettings, args: string[]): string[] {
  return ['ctr', '--address', s.containerdSocket, '-n', 'k8s.io', ...args]
}

export function ctr(s: ClusterSettings, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(ctrCommand(s, args), { timeoutMs: 30_000, ...options })
}

/** `from | to`: both must succeed within the deadline. */
export async function pipeline(from: string[], to: string[], timeoutMs: number): Promise<void> {
  const options = { quiet: true, nothrow: true, timeout: timeoutMs }
  const left = $(options)`${from}`
  const right = await left.pipe($(options)`${to}`)
  const source = await left
  for (const [argv, res] of [
    [from, source],
    [to, right],
  ] as const) {
    if (res.exitCode === 0) continue
    const output = (res.stderr.trim() || res.stdout.trim()).split('\n').slice(-15).join('\n')
    throw new EnsureK8sError(
      `${showCommand(from)} | ${showCommand(to)}: ${argv[0]} exited with ` +
        `${res.exitCode ?? res.signal}${output ? `:\n${output}` : ''}`,
    )
  }
}

/** The full path of a program found on PATH, or undefined (what `command -v` finds). */
export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

/** Streams a command's output to stdout, each line indented (builds a person watches). */
export function indentedOutput(): { write: (chunk: string) => void; end: () => void } {
  let pending = ''
  const flush = (lines: string[]) => lines.forEach((l) => process.stdout.write(l.trim() ? `    ${l}\n` : '\n'))
  return {
    write(chunk) {
      const lines = (pending + chunk).split(/\r?\n/)
      pending = lines.pop() ?? ''
      flush(lines)
    },
    end: () => flush(pending ? [pending] : []),
  }
}
