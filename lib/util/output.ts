// Plain output: a status mark per step, counts and durations; colour only on the marks, and none
// when NO_COLOR is set (chalk itself ignores it). Every line goes through the masking, so no
// password reaches the terminal or a CI log. With `--json -` the report owns stdout and the rest
// goes to stderr.
import chalk from 'chalk'
import { mask, type Secrets } from './mask.ts'

if (process.env.NO_COLOR) chalk.level = 0

let stream: NodeJS.WriteStream = process.stdout
/** Sends the human output to stderr: stdout is a machine's (--json -). */
export function humanOutputToStderr() {
  stream = process.stderr
}

let secrets: Secrets = { values: [], words: [] }
export function setSecrets(s: Secrets) {
  secrets = s
}
/** The masking every line of output gets; for files the suite writes too. */
export const masked = (text: string): string => mask(text, secrets)

const write = (line: string): void => void stream.write(masked(line) + '\n')

let onMark: ((text: string) => void) | null = null
/**
 * Hands every ✓ line to `listener` (masked) until the returned function is called: the steps of a phase, each
 * ending at its mark, for the run page.
 */
export function listenForMarks(listener: (text: string) => void): () => void {
  onMark = listener
  return () => void (onMark === listener && (onMark = null))
}

export const out = {
  phase: (n: number, total: number, name: string, title: string) => write(`==> [${n}/${total}] ${name}: ${title}`),
  ok: (text: string) => (onMark?.(masked(text)), write(`  ${chalk.green('✓')} ${text}`)),
  info: (text: string) => write(`    ${text}`),
  warn: (text: string) => write(`  ${chalk.yellow('!')} ${text}`),
  fail: (text: string): void => void process.stderr.write(masked(`  ${chalk.red('✗')} ${text}`) + '\n'),
  line: (text: string) => write(text),
  /** Raw output of a command the user watches (the test), masked. */
  raw: (chunk: string): void => void stream.write(masked(chunk)),
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  return [fmt(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)].join('\n')
}

/** Throttled progress for long waits: a line at most every `everyMs`. */
export function progress(label: string, everyMs = 5000) {
  let last = -Infinity
  return (detail: string, waitedMs: number) => {
    if (waitedMs - last < everyMs) return
    last = waitedMs
    write(`    ... ${label}${Number.isFinite(waitedMs) ? ` (${seconds(waitedMs)})` : ''}: ${detail}`)
  }
}

/**
 * A status line every few seconds while a long command runs (image builds, `up`): what it is
 * doing, for how long, and the last line it printed. The same on a terminal and in a CI log.
 */
export function ticker(label: string, everyMs = 5000) {
  const started = Date.now()
  let last = ''
  write(`    ... ${label}`)
  const timer = setInterval(
    () => write(`    ... ${label} (${seconds(Date.now() - started)})${last ? `: ${last}` : ''}`),
    everyMs,
  )
  timer.unref()
  return {
    output(chunk: string) {
      const lines = chunk
        .split(/\r?\n|\r/)
        .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim())
        .filter(Boolean)
      if (lines.length) last = lines[lines.length - 1].slice(0, 160)
    },
    stop() {
      clearInterval(timer)
    },
  }
}

/** Masks a stream line by line, so that no password split across two chunks escapes the masking. */
export function maskedLines(write: (text: string) => void) {
  let pending = ''
  return {
    push(chunk: string) {
      pending += chunk
      const end = pending.lastIndexOf('\n')
      if (end >= 0 || pending.length > 65_536) {
        const cut = end >= 0 ? end + 1 : pending.length
        write(masked(pending.slice(0, cut)))
        pending = pending.slice(cut)
      }
    },
    end() {
      if (pending) write(masked(pending))
      pending = ''
    },
  }
}
