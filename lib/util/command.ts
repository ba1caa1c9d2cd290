// Runs commands from argument arrays (never strings pasted into a shell), each with a deadline,
// and fails loudly with the command's output, passwords masked. In a dry run, commands that
// change something are printed instead of run. A command whose input or output is data (a table's
// rows) streams it instead, never holding it in memory.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { Readable, Writable } from 'node:stream'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { $ } from 'zx/core'
import { mask, type Secrets } from './mask.ts'

export interface RunOptions {
  /** The command changes state: a dry run prints it instead. */
  mutates?: boolean
  /** Milliseconds before the command and its children are killed. */
  timeoutMs?: number
  input?: string
  /** Extra environment for the command (values are not printed). */
  env?: Record<string, string>
  /** Return a failed result instead of throwing. */
  allowFailure?: boolean
  /** Called with output as it arrives (stdout and stderr). */
  onOutput?: (chunk: string) => void
  signal?: AbortSignal
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface Runner {
  (argv: string[], options?: RunOptions): Promise<RunResult>
  /** Commands that change something are printed, not run. */
  readonly dryRun: boolean
}

export class CommandError extends Error {
  constructor(
    public argv: string[],
    public result: RunResult,
    secrets: Secrets,
  ) {
    const why = result.timedOut ? 'did not finish before its deadline' : `exited with code ${result.code}`
    const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n')
    super(mask(`command ${showCommand(argv)} ${why}${output ? `:\n${indent(output)}` : ''}`, secrets))
  }
}

export function showCommand(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
}

export function indent(text: string, by = '    '): string {
  return text
    .split('\n')
    .map((l) => by + l)
    .join('\n')
}

export interface RunnerSettings {
  dryRun: boolean
  secrets: Secrets
  defaultTimeoutMs: number
  /** Where dry-run lines go. */
  print?: (line: string) => void
}

export function createRunner({ dryRun, secrets, defaultTimeoutMs, print = console.log }: RunnerSettings): Runner {
  const runner = async (argv: string[], options: RunOptions = {}): Promise<RunResult> => {
    if (dryRun && options.mutates) {
      print(mask(`  [dry-run] would run: ${showCommand(argv)}`, secrets))
      return { code: 0, stdout: '', stderr: '', timedOut: false }
    }
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs
    const child = $({
      quiet: true,
      nothrow: true,
      input: options.input,
      env: { ...process.env, ...options.env },
      signal: options.signal,
    })`${argv}`
    // Our own deadline, so that "timed out" does not depend on which process of the tree died first.
    let timedOut = false
    const deadline = setTimeout(() => {
      timedOut = true
      void child.kill('SIGKILL').catch(() => {})
    }, timeoutMs)
    if (options.onOutput) {
      child.stdout.on('data', (d: Buffer) => options.onOutput!(d.toString()))
      child.stderr.on('data', (d: Buffer) => options.onOutput!(d.toString()))
    }
    const out = await child.finally(() => clearTimeout(deadline))
    const result: RunResult = {
      code: out.exitCode ?? 128 + (out.signal === 'SIGKILL' ? 9 : 15),
      stdout: out.stdout,
      stderr: out.stderr,
      timedOut,
    }
    if (result.code !== 0 && !options.allowFailure) throw new CommandError(argv, result, secrets)
    return result
  }
  return Object.assign(runner, { dryRun })
}

export interface StreamOptions {
  /** Fed to the command's stdin with backpressure, after `prelude`; stdin is closed at its end (at once without). */
  stdin?: Readable
  /** Written to stdin first: what cannot go on the command line (the environment, for kubectl exec). */
  prelude?: string
  /** Where stdout goes, with backpressure, and is ended; without one it is read and dropped. */
  stdout?: Writable
  /** Extra environment for the command (values are not printed). */
  env?: Record<string, string>
  /** Milliseconds before the command and its children are killed. */
  timeoutMs: number
  signal?: AbortSignal
}

/**
 * A command whose input and output are streams: its stdout is never collected (only the end of its
 * stderr is kept, for the error), so a table of any size passes through in bounded memory. Returns
 * its result like the runner's, stdout empty. A failure of the stdout stream (a full disk, output
 * not of the expected shape) kills the command and is thrown, unless the command failed on its own
 * first: then its result, with its stderr, says more.
 */
export async function streamCommand(argv: string[], options: StreamOptions): Promise<RunResult> {
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  let timedOut = false
  const kill = () => child.kill('SIGKILL')
  const deadline = setTimeout(() => ((timedOut = true), kill()), options.timeoutMs)
  options.signal?.addEventListener('abort', kill, { once: true })
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)))
  child.stdin.on('error', () => {}) // a command that ends before reading all of it says why by its exit code
  const feed = (async () => {
    if (options.prelude) child.stdin.write(options.prelude)
    if (options.stdin) await pipeline(options.stdin, child.stdin).catch(() => child.stdin.destroy())
    else child.stdin.end()
  })()
  const drain = options.stdout
    ? pipeline(child.stdout, options.stdout).then(
        () => null,
        (e: Error) => (kill(), e),
      )
    : (child.stdout.resume(), Promise.resolve(null))
  try {
    const [[code, signal], failed] = await Promise.all([
      once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>,
      drain,
      feed,
    ])
    if (failed && !timedOut && !options.signal?.aborted && (code === 0 || code === null)) throw failed
    return { code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout: '', stderr, timedOut }
  } finally {
    clearTimeout(deadline)
    options.signal?.removeEventListener('abort', kill)
  }
}

/**
 * The lines of a command's output (stdout and stderr alike) that match the pattern, the first
 * `max` of them, read line by line: a log of any length passes in bounded memory. Throws with the
 * end of its stderr when the command fails or outlives its deadline.
 */
export async function matchingLines(argv: string[], pattern: RegExp, timeoutMs: number, max = 5): Promise<string[]> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  const found: string[] = []
  let tail = ''
  let timedOut = false
  const deadline = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), timeoutMs)
  const scan = (stream: Readable, keep: boolean) =>
    (async () => {
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        if (keep) tail = `${tail}${line}\n`.slice(-2000)
        if (found.length < max && pattern.test(line)) found.push(line)
      }
    })()
  try {
    const [[code]] = await Promise.all([
      once(child, 'close') as Promise<[number | null]>,
      scan(child.stdout, false),
      scan(child.stderr, true),
    ])
    if (timedOut) throw new Error(`${showCommand(argv)} did not finish within ${timeoutMs / 1000} s`)
    if (code !== 0) throw new Error(`${showCommand(argv)} failed (exit ${code}):\n${indent(tail.trim())}`)
    return found
  } finally {
    clearTimeout(deadline)
  }
}
