#!/usr/bin/env -S node --import tsx
// assess: is everything the reset needs there? Docker, Compose, the project's containers
// (started when missing), PostgreSQL, Redis, the test file and a writable log directory.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/main.ts'
import { waitUntilReady } from '../lib/compose.ts'
import { withDatabase } from '../lib/db.ts'
import { withRedis } from '../lib/redis.ts'
import { out } from '../lib/output.ts'

export default definePhase(import.meta, {
  name: 'assess',
  purpose: 'Check Docker, Compose, the containers, PostgreSQL, Redis, the test file and the log directory; start missing services.',
  destroys: null,
  async run(ctx) {
    const { config, run } = ctx

    // Docker and Compose; the project's containers, found by label (asked side by side)
    const compose = await ctx.compose()
    const [engine, listing] = await Promise.all([
      run(['docker', 'info', '--format', '{{.ServerVersion}}'], { allowFailure: true, timeoutMs: 15_000 }),
      compose.containers().catch(() => null),
    ])
    if (engine.code !== 0 || !listing) {
      throw new Error(`the Docker engine does not answer (${(engine.stderr || engine.stdout).trim().split('\n')[0]}). Start it (Docker Desktop, or \`sudo systemctl start docker\`; on a Debian CI host: sudo scripts/ensure-docker.sh).`)
    }
    out.ok(`Docker engine ${engine.stdout.trim()}`)
    const composeCmd = await compose.command()
    if (!existsSync(config.composeFile)) throw new Error(`compose file ${config.composeFile} not found. Set APP_DIR (or COMPOSE_FILE) to your app's directory.`)
    out.ok(`compose: ${composeCmd.join(' ')}, file ${config.composeFile}, project ${config.project}`)

    // The project's containers, found by label; start what is missing
    let containers = listing
    const notRunning = config.requiredServices.filter((s) => {
      const mine = containers.filter((c) => c.service === s)
      return mine.length === 0 || mine.some((c) => c.state !== 'running')
    })
    if (notRunning.length) {
      out.warn(`not running: ${notRunning.join(', ')}; starting them`)
      await compose.compose(['up', '-d', ...notRunning], { mutates: true, timeoutMs: config.readyTimeoutMs + 600_000 })
    }
    // Running is not ready: healthchecks pass and the api migrates before it answers
    if (!ctx.options.dryRun || !notRunning.length) containers = await waitUntilReady(ctx, config.readyTimeoutMs, notRunning.length ? undefined : listing)
    const byService = new Map<string, number>()
    for (const c of containers) if (c.state === 'running') byService.set(c.service, (byService.get(c.service) ?? 0) + 1)
    out.ok(`containers ready: ${[...byService].map(([s, n]) => `${s}×${n}`).join(', ')}`)
    if (ctx.options.dryRun && notRunning.length) return { containers: containers.length }

    // PostgreSQL and Redis answer, and the test file is in the api container (checked side by side)
    const testFile = config.testCommand.split(/\s+/).find((w) => /\.(py|sh|js|ts)$/.test(w))
    const [postgres, redis, testFound] = await Promise.all([
      withDatabase(ctx, async (db) => {
        const [row] = await db.rows<{ v: string }>("SELECT current_setting('server_version') AS v")
        return { version: row.v, via: db.via }
      }),
      withRedis(ctx, async (kv) => {
        await kv.ping()
        return { version: (await kv.server()).version, via: kv.via }
      }),
      testFile ? compose.exec(config.services.api, ['test', '-f', testFile], { allowFailure: true }).then((r) => r.code === 0) : true,
    ])
    out.ok(`PostgreSQL ${postgres.version} via ${postgres.via}`)
    out.ok(`Redis ${redis.version} via ${redis.via}`)
    if (!testFound) throw new Error(`test file ${testFile} not found in the ${config.services.api} container. Check TEST_COMMAND and the container's mounts.`)
    if (testFile) out.ok(`test file ${testFile} present in ${config.services.api}`)

    // The log directory
    const dir = path.dirname(config.logFile)
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true })
    try {
      accessSync(dir, constants.W_OK)
    } catch {
      throw new Error(`log directory ${dir} is not writable by this user. Fix its ownership (e.g. sudo chown -R $USER ${dir}).`)
    }
    out.ok(`log directory ${dir} writable`)
    return { containers: containers.length, postgres: postgres.version, redis: redis.version }
  },
})
