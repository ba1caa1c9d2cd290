// Expectations about the database after the test, compared with what is there.
import type { Expectation } from './config.ts'

export interface Check extends Expectation {
  actual: number
  ok: boolean
}

export function compare(expectations: Expectation[], actual: Record<string, number>): Check[] {
  return expectations.map((e) => {
    const value = actual[e.key]
    if (value === undefined) throw new Error(`no query measures ${e.key}`)
    return { ...e, actual: value, ok: e.op === '=' ? value === e.value : value >= e.value }
  })
}

/** Lines a person should look at in a log: errors, critical messages and tracebacks. */
export const LOG_PROBLEM = /\b(ERROR|CRITICAL)\b|Traceback \(most recent call last\)/

export function logProblems(text: string): string[] {
  return text.split('\n').filter((l) => LOG_PROBLEM.test(l))
}
