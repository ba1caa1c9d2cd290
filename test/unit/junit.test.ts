// JUnit XML for CI: escaping, counts, a testcase per phase and per check.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { junitXml, writeJunit, xmlEscape } from '../../lib/util/junit.ts'

test('text is escaped; characters XML cannot carry are written as \\uXXXX; colour codes dropped', () => {
  assert.is(xmlEscape(`a<b>&"c'\u0001d\x1b[31m!`), 'a&lt;b&gt;&amp;&quot;c&apos;\\u0001d!')
  assert.is(xmlEscape('line\nnext', true), 'line&#10;next')
  assert.is(xmlEscape('line\nnext', false), 'line\nnext')
})

test('a run: a testcase per phase and per validation check, failures with their messages', () => {
  const xml = writeJunit('reset_and_run', [
    { name: 'assess', number: 1, status: 'ok', durationMs: 1200, checks: [] },
    { name: 'validate', number: 7, status: 'failed', durationMs: 300, error: '1 check failed', checks: [{ name: 'every campaign COMPLETED', ok: false, detail: 'campaigns COMPLETED = campaigns: 9 ≠ 10' }, { name: 'no duplicate lead email', ok: true, detail: 'x' }] },
    { name: 'restart', number: 3, status: 'not run', durationMs: 0, checks: [] },
  ])
  assert.match(xml, /<testsuites tests="5" failures="2" errors="0" skipped="1"/)
  assert.match(xml, /<testcase classname="reset_and_run" name="1 assess" time="1.200"\/>/)
  assert.match(xml, /<failure message="failed: 1 check failed">/)
  assert.match(xml, /name="validate: every campaign COMPLETED"[^]*<failure message="every campaign COMPLETED: campaigns COMPLETED = campaigns: 9 ≠ 10">/)
  assert.match(xml, /<skipped message="not run/)
})

test('suites sum their times', () => {
  assert.match(junitXml([{ name: 's', cases: [{ name: 'a', classname: 'c', timeMs: 500 }, { name: 'b', classname: 'c', timeMs: 250 }] }]), /<testsuite name="s" tests="2" failures="0" errors="0" skipped="0" time="0.750">/)
})

test.run()
