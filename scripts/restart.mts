#!/usr/bin/env -S node --import tsx
// restart: restart the project's containers (restart, recreate or rebuild) and wait until every
// one is healthy or running, with one deadline. Never "continue anyway".
import { definePhase } from '../lib/main.ts'
import { waitUntilReady } from '../lib/compose.ts'
import { out, seconds } from '../lib/output.ts'

const COMMANDS = {
  restart: [['restart']],
  recreate: [['up', '-d', '--force-recreate']],
  rebuild: [['down', '-v'], ['up', '--build', '-d']],
} as const

export default definePhase(import.meta, {
  name: 'restart',
  purpose: 'Restart the containers (RESTART_MODE restart | recreate | rebuild) and wait until all are ready (READY_TIMEOUT).',
  destroys: 'containers',
  async run(ctx) {
    const { config, options } = ctx
    const compose = await ctx.compose()
    const t0 = Date.now()
    for (const step of COMMANDS[config.restartMode]) {
      await compose.compose([...step], { mutates: true, timeoutMs: config.restartMode === 'rebuild' ? 1_800_000 : config.readyTimeoutMs })
    }
    const commandMs = Date.now() - t0
    if (options.dryRun) return { mode: config.restartMode }
    out.ok(`${config.restartMode}: ${compose.args(...COMMANDS[config.restartMode].at(-1)!).join(' ')} took ${seconds(commandMs)}`)
    const containers = await waitUntilReady(ctx)
    const readyMs = Date.now() - t0
    out.ok(`${containers.length} containers ready after ${seconds(readyMs)}`)
    return { mode: config.restartMode, containers: containers.length, readySeconds: Number((readyMs / 1000).toFixed(1)) }
  },
})
