#!/usr/bin/env -S node --import tsx
// restart: restart the project's containers (restart, recreate or rebuild), all or the SERVICES
// named, and wait until every one is healthy or running, with one deadline. Never "continue anyway".
import { definePhase } from '../lib/main.ts'
import { waitUntilReady } from '../lib/compose.ts'
import { out, seconds } from '../lib/output.ts'

/** Compose subcommands per mode; `services` empty means the whole project. */
function commands(mode: string, services: string[]): string[][] {
  if (mode === 'restart') return [['restart', ...services]]
  if (mode === 'recreate') return [['up', '-d', '--force-recreate', ...services]]
  if (services.length) return [['up', '-d', '--build', '--force-recreate', ...services]] // rebuild a few: keep the volumes
  return [['down', '-v'], ['up', '--build', '-d']]
}

export default definePhase(import.meta, {
  name: 'restart',
  purpose: 'Restart the containers (RESTART_MODE restart | recreate | rebuild; SERVICES to limit) and wait until all are ready (READY_TIMEOUT).',
  flags: [['--services LIST', 'only these services or container names, e.g. api,worker or fastapi-k8-proto-api-1']],
  destroys: 'containers',
  async run(ctx) {
    const { config, options } = ctx
    const compose = await ctx.compose()
    const services = config.restartServices.length ? await compose.servicesFor(config.restartServices) : []
    const t0 = Date.now()
    const steps = commands(config.restartMode, services)
    for (const step of steps) {
      await compose.compose(step, { mutates: true, timeoutMs: config.restartMode === 'rebuild' ? 1_800_000 : config.readyTimeoutMs })
    }
    if (options.dryRun) return { mode: config.restartMode }
    out.ok(`${compose.args(...steps.at(-1)!).join(' ')}: ${seconds(Date.now() - t0)}`)
    const containers = await waitUntilReady(ctx)
    const readyMs = Date.now() - t0
    out.ok(`${containers.length} containers ready after ${seconds(readyMs)}`)
    return { mode: config.restartMode, services: services.join(',') || 'all', containers: containers.length, readySeconds: Number((readyMs / 1000).toFixed(1)) }
  },
})
