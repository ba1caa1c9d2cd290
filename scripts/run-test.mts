#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// run-test: run the smoke test inside the api container, streaming its output and saving it under
// logs/ (passwords masked). The verdict comes from the test's own verdict line and its exit code:
// the real smoke test exits 0 whether it passes or fails. On timeout or Ctrl-C the process inside
// the container is stopped too.
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { definePhase } from '../lib/run/cli.ts'
import { maskedLines, out, seconds } from '../lib/util/output.ts'
import { verdict } from '../lib/app/verdict.ts'
import type { Ctx } from '../lib/run/context.ts'
import type { Instance } from '../lib/targets/target.ts'
import { changesBetween } from '../lib/targets/instances.ts'
import { readTimeline } from '../lib/app/checks.ts'
import { watchWork } from '../lib/app/work.ts'

export default definePhase(import.meta, 'run-test', {
  title: 'run the smoke test in the api container',
  purpose:
    'Run TEST_COMMAND in the api container (TEST_TIMEOUT); pass when the exit code is 0, ' +
    'TEST_PASS_PATTERN matches and TEST_FAIL_PATTERN does not.',
  settings: ['TEST_COMMAND', 'TEST_PASS_PATTERN', 'TEST_FAIL_PATTERN', 'TEST_TIMEOUT', 'QUEUE_STALL_WARN'],
  async run(ctx) {
    const { config, target } = ctx
    const api = await target.instance(config.services.api)
    if (ctx.dryRun) {
      out.info(`[dry-run] would run in ${api.name}: ${config.test.command} (timeout ${seconds(config.test.timeoutMs)})`)
      return {}
    }

    // Errors logged from here on happened during the test; those before it, during the reset.
    ctx.record.testStarted((await target.log.size()) ?? 0)
    const logFile = path.join(SUITE_ROOT, 'logs', `run-test-${new Date().toISOString().replace(/[:.]/g, '-')}.log`)
    mkdirSync(path.dirname(logFile), { recursive: true })
    const saved = createWriteStream(logFile)
    const toScreen = maskedLines((t) => void process.stdout.write(t))
    const toFile = maskedLines((t) => void saved.write(t))
    let output = ''
    // For the run page: the queue's length while the test runs, the jobs after it (the checks file's timeline).
    const { timeline, problem } = readTimeline(config.test.checksFile)
    if (problem) out.info(`the run page will show no work: ${problem}`)
    const watching = timeline && watchWork(ctx, timeline)
    ctx.observed.testLog = logFile
    out.info(`running in ${api.name}: ${config.test.command}`)
    const before = await target.instances()
    const t0 = Date.now()
    let tookMs = 0
    const result = await target
      .execTracked(config.services.api, config.test.command, {
        tty: Boolean(process.stdout.isTTY),
        timeoutMs: config.test.timeoutMs,
        onOutput: (chunk) => {
          output += chunk
          toScreen.push(chunk)
          toFile.push(chunk)
        },
      })
      .finally(async () => {
        tookMs = Date.now() - t0
        // Whatever its verdict, the test wrote to the database and Redis: a failure must not say "nothing was changed".
        ctx.record.changed(`ran the test in ${api.name} for ${seconds(tookMs)} (what it wrote stays)`)
        toScreen.end()
        toFile.end()
        await new Promise((resolve) => saved.end(resolve))
        await noteChanges(ctx, before)
        if (!watching) return
        const work = (ctx.observed.work = await watching.stop())
        for (const note of [work.note, work.queue?.note]) if (note) out.info(`the run page: ${note}`)
      })
    const where = path.relative(process.cwd(), logFile)

    if (result.stopped !== undefined)
      throw new Error(
        `the test did not finish within TEST_TIMEOUT=${config.test.timeoutMs / 1000} s; ${result.stopped}. Output: ` +
          `${where}`,
      )
    const v = verdict(output, result.code, config.test.passPattern, config.test.failPattern)
    if (!v.passed) throw new Error(`${v.reason} after ${seconds(tookMs)}; its output is above and in ${where}`)
    out.ok(`test passed in ${seconds(tookMs)}: ${v.reason}; output saved to ${where}`)
    return { seconds: Number((tookMs / 1000).toFixed(1)), decided: v.decided }
  },
})

/** Containers that stopped or restarted while the test ran: said now, and again under the summary. */
async function noteChanges(ctx: Ctx, before: Instance[]) {
  const changes = changesBetween(before, await ctx.target.instances().catch(() => before))
  for (const c of changes) out.warn(`during the test: ${c}`)
  ctx.notes.push(...changes.map((c) => `during the test: ${c}`))
}
