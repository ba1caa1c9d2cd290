#!/usr/bin/env -S node --import tsx
// run-test: run the smoke test inside the api container, streaming its output live and saving it
// under logs/; on timeout or Ctrl-C the process inside the container is stopped too.
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/main.ts'
import { SUITE_ROOT } from '../lib/config.ts'
import { execTracked } from '../lib/compose.ts'
import { out, seconds } from '../lib/output.ts'

export default definePhase(import.meta, {
  name: 'run-test',
  purpose: 'Run TEST_COMMAND in the api container (TEST_TIMEOUT), stream and save its output, pass its exit code on.',
  destroys: null,
  async run(ctx) {
    const { config, options } = ctx
    const compose = await ctx.compose()
    const api = await compose.container(config.services.api)
    if (options.dryRun) {
      out.info(`[dry-run] would run in ${api.name}: ${config.testCommand} (timeout ${seconds(config.testTimeoutMs)})`)
      return {}
    }

    const logFile = path.join(SUITE_ROOT, 'logs', `run-test-${new Date().toISOString().replace(/[:.]/g, '-')}.log`)
    mkdirSync(path.dirname(logFile), { recursive: true })
    const saved = createWriteStream(logFile)
    out.info(`running in ${api.name}: ${config.testCommand}`)
    const t0 = Date.now()
    const result = await execTracked(ctx, config.services.api, config.testCommand, {
      tty: Boolean(process.stdout.isTTY),
      timeoutMs: config.testTimeoutMs,
      onOutput: (chunk) => {
        process.stdout.write(chunk)
        saved.write(chunk)
      },
    }).finally(() => new Promise((resolve) => saved.end(resolve)))
    const tookMs = Date.now() - t0

    if (result.stopped !== undefined) throw new Error(`the test did not finish within TEST_TIMEOUT=${config.testTimeoutMs / 1000} s; ${result.stopped}. Output: ${logFile}`)
    if (result.code !== 0) throw new Error(`the test exited with code ${result.code} after ${seconds(tookMs)}; its output is above and in ${logFile}`)
    out.ok(`test passed in ${seconds(tookMs)}; output saved to ${path.relative(process.cwd(), logFile)}`)
    return { seconds: Number((tookMs / 1000).toFixed(1)) }
  },
})
