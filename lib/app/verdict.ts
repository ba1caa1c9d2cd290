// The smoke test's verdict: the real app's test exits 0 whether it passes or fails and prints its
// verdict as a line, so the line decides as much as the exit code. Pure, for the unit tests.

export interface Verdict {
  passed: boolean
  /** What decided: 'fail pattern', 'exit code', 'no pass verdict', 'pass pattern' or 'exit code 0'. */
  decided: string
  /** A sentence for the user, with the line that decided when there is one. */
  reason: string
}

/** The whole line a match is on, trimmed (an emoji and all). */
function lineOf(text: string, match: RegExpExecArray): string {
  const start = text.lastIndexOf('\n', match.index) + 1
  const end = text.indexOf('\n', match.index)
  return text
    .slice(start, end < 0 ? undefined : end)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .trim()
}

/**
 * Fails when the fail pattern appears (whatever the exit code), when the exit code is not 0, or
 * when a pass pattern is set and absent; passes otherwise.
 */
export function verdict(output: string, code: number, pass: RegExp | null, fail: RegExp | null): Verdict {
  const failed = fail?.exec(output)
  if (failed)
    return {
      passed: false,
      decided: 'fail pattern',
      reason: `the test printed its failure verdict "${lineOf(output, failed)}" (TEST_FAIL_PATTERN; exit code ${code})`,
    }
  if (code !== 0) return { passed: false, decided: 'exit code', reason: `the test exited with code ${code}` }
  if (pass) {
    const passed = pass.exec(output)
    if (!passed)
      return {
        passed: false,
        decided: 'no pass verdict',
        reason:
          `the test exited 0 but printed no line matching TEST_PASS_PATTERN /${pass.source}/ (set ` +
          `TEST_PASS_PATTERN= to let the exit code alone decide)`,
      }
    return { passed: true, decided: 'pass pattern', reason: `verdict "${lineOf(output, passed)}" and exit code 0` }
  }
  return { passed: true, decided: 'exit code 0', reason: 'exit code 0 (no TEST_PASS_PATTERN to match)' }
}
