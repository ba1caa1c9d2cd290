// Plain output: a status mark per step, counts and durations; colour only on the marks.
import chalk from 'chalk'
import { mask } from './config.ts'

let secrets: string[] = []
export function setSecrets(list: string[]) {
  secrets = list
}

const write = (line: string): void => void process.stdout.write(mask(line, secrets) + "\n")

export const out = {
  phase: (n: number, total: number, name: string, title: string) => write(`==> [${n}/${total}] ${name}: ${title}`),
  ok: (text: string) => write(`  ${chalk.green('✓')} ${text}`),
  info: (text: string) => write(`    ${text}`),
  warn: (text: string) => write(`  ${chalk.yellow('!')} ${text}`),
  fail: (text: string): void => void process.stderr.write(mask(`  ${chalk.red('✗')} ${text}`, secrets) + '\n'),
  line: (text: string) => write(text),
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()
  return [fmt(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)].join('\n')
}

/** Throttled progress for long waits: a line at most every `everyMs`. */
export function progress(label: string, everyMs = 5000) {
  let last = -Infinity
  return (detail: string, waitedMs: number) => {
    if (waitedMs - last < everyMs) return
    last = waitedMs
    write(`    ... ${label} (${seconds(waitedMs)}): ${detail}`)
  }
}
