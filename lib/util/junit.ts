// JUnit XML, the report CI systems read: one writer for the scripts' --junit and the test tiers.

export interface JunitCase {
  name: string
  classname: string
  timeMs: number
  /** A failure: its one-line message, its kind, and the full text (stack, output). */
  failure?: { message: string; type?: string; body?: string }
  /** Not run on purpose (a phase after a failure). */
  skipped?: string
}

export interface JunitSuite {
  name: string
  /** The source file, for CI systems that link to it. */
  file?: string
  cases: JunitCase[]
}

/**
 * Text for XML 1.0: colour codes dropped, characters XML cannot carry at all (most C0 controls,
 * lone surrogates, U+FFFE/F) written as \uXXXX, the entities escaped; in an attribute, quotes and
 * line breaks too.
 */
/** What XML 1.0 cannot carry: control characters, U+FFFE/U+FFFF, and surrogates without their pair. */
const NOT_XML = new RegExp(
  String.raw`[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]` +
    String.raw`|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]`,
  'g',
)

export function xmlEscape(text: string, attribute = true): string {
  let s = text
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
  if (attribute)
    s = s
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
      .replace(/\n/g, '&#10;')
      .replace(/\r/g, '&#13;')
      .replace(/\t/g, '&#9;')
  return s
}

const secs = (ms: number) => (ms / 1000).toFixed(3)

/** The report; `name` and `totalMs` describe the whole (a tier, a run). */
export function junitXml(suites: JunitSuite[], whole: { name?: string; totalMs?: number } = {}): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>']
  const count = (pick: (c: JunitCase) => boolean) => suites.reduce((n, s) => n + s.cases.filter(pick).length, 0)
  const total = whole.totalMs ?? suites.reduce((n, s) => n + s.cases.reduce((t, c) => t + c.timeMs, 0), 0)
  const name = whole.name ? ` name="${xmlEscape(whole.name)}"` : ''
  lines.push(
    `<testsuites${name} tests="${count(() => true)}" failures="${count((c) => !!c.failure)}" errors="0" ` +
      `skipped="${count((c) => !!c.skipped)}" time="${secs(total)}">`,
  )
  for (const s of suites) {
    const time = s.cases.reduce((t, c) => t + c.timeMs, 0)
    const file = s.file ? ` file="${xmlEscape(s.file)}"` : ''
    lines.push(
      `  <testsuite name="${xmlEscape(s.name)}" tests="${s.cases.length}" ` +
        `failures="${s.cases.filter((c) => c.failure).length}" errors="0" ` +
        `skipped="${s.cases.filter((c) => c.skipped).length}" time="${secs(time)}"${file}>`,
    )
    for (const c of s.cases) {
      const head =
        `    <testcase classname="${xmlEscape(c.classname)}" name="${xmlEscape(c.name)}" ` +
        `time="${secs(c.timeMs)}"${file}`
      if (c.failure) {
        const type = c.failure.type ? ` type="${xmlEscape(c.failure.type)}"` : ''
        const message = xmlEscape(c.failure.message.split('\n')[0].slice(0, 500))
        const body = xmlEscape(c.failure.body ?? c.failure.message, false)
        lines.push(`${head}>`, `      <failure message="${message}"${type}>${body}</failure>`, '    </testcase>')
      } else if (c.skipped) {
        lines.push(`${head}>`, `      <skipped message="${xmlEscape(c.skipped)}"/>`, '    </testcase>')
      } else lines.push(`${head}/>`)
    }
    lines.push('  </testsuite>')
  }
  lines.push('</testsuites>')
  return lines.join('\n') + '\n'
}

/** A script's run as JUnit: a testcase per phase, and per check a phase made (validation). */
export function writeJunit(
  script: string,
  reports: {
    name: string
    number: number
    status: string
    durationMs: number
    error?: string
    checks: { name: string; ok: boolean; detail: string }[]
  }[],
): string {
  const cases: JunitCase[] = []
  for (const r of reports) {
    const name = r.number ? `${r.number} ${r.name}` : r.name
    cases.push({
      name,
      classname: script,
      timeMs: r.durationMs,
      failure:
        r.status === 'failed' || r.status === 'interrupted'
          ? { message: `${r.status}: ${r.error ?? ''}`, body: r.error }
          : undefined,
      skipped: r.status === 'not run' ? 'not run: an earlier phase stopped the run, or it was not selected' : undefined,
    })
    for (const c of r.checks)
      cases.push({
        name: `${r.name}: ${c.name}`,
        classname: `${script}.${r.name}`,
        timeMs: 0,
        failure: c.ok ? undefined : { message: `${c.name}: ${c.detail}` },
      })
  }
  return junitXml([{ name: script, cases }])
}
