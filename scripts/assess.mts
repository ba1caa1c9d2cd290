#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// assess: is everything the reset needs there? The engine or cluster, the project's containers
// (from whatever state they were left in: the required ones started, other stopped ones left
// alone; refused when another checkout made them), PostgreSQL, Redis, the test file and a
// writable log.
import { withDatabase } from '../lib/access/database.ts'
import { withRedis } from '../lib/access/redis.ts'
import { definePhase } from '../lib/run/cli.ts'
import { countByService, describe } from '../lib/targets/instances.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'assess', {
  title: 'assess the environment',
  purpose:
    'Check the Docker engine (or cluster), the containers, PostgreSQL, Redis, the test file and the log; ' +
    'start the required services that are not running.',
  settings: ['REQUIRED_SERVICES', 'READY_TIMEOUT', 'TEST_COMMAND', 'LOG_FILE'],
  async run(ctx) {
    const { config, target } = ctx

    // The engine, and the project's containers by their labels (asked side by side)
    const [engine, listing] = await Promise.all([target.ping(), target.instances()])
    out.ok(engine)
    out.ok(
      `${await target.tool()}: ` +
        `${target.describe()}${config.compose ? `, files ${config.composeFiles.join(', ')}` : ''}`,
    )

    // Required services that are not all running are started; other stopped containers stay as
    // they are and are not waited for. Only one that fails again after the start fails the phase.
    // So are the worker services an interrupted run held stopped.
    const since = Date.now()
    const notRunning = [...new Set([...config.requiredServices, ...ctx.record.held])].filter((s) => {
      const mine = listing.filter((c) => c.service === s)
      return mine.length === 0 || mine.some((c) => c.state !== 'running')
    })
    const leftAlone = listing.filter((c) => c.readiness === 'stopped')
    if (leftAlone.length) out.info(`left stopped (not required): ${leftAlone.map(describe).join(', ')}`)
    if (notRunning.length) {
      const states = notRunning.map(
        (s) =>
          `${s} (${
            listing
              .filter((c) => c.service === s)
              .map((c) => c.state)
              .join(', ') || 'no container'
          })`,
      )
      out.warn(`not running: ${states.join(', ')}; starting ${notRunning.length > 1 ? 'them' : 'it'}`)
      await target.start(notRunning)
      if (!ctx.dryRun) ctx.record.changed(`started ${notRunning.join(', ')}`)
      if (ctx.dryRun) return { containers: listing.length }
    }
    if (ctx.record.held.length) ctx.record.released()
    const instances = await target.waitReady({ initial: notRunning.length ? undefined : listing, since })
    const started = notRunning.length ? ` (started: ${notRunning.join(', ')})` : ''
    out.ok(`containers ready: ${countByService(instances)}${started}`)

    // PostgreSQL, Redis, the test file and the log (checked side by side)
    const testFile = config.test.command.split(/\s+/).find((w) => /\.(py|sh|js|ts)$/.test(w))
    const [postgres, redis, testFound, logProblem] = await Promise.all([
      withDatabase(ctx, async (db) => ({
        version: (await db.rows<{ v: string }>("SELECT current_setting('server_version') AS v"))[0].v,
        via: db.via,
      })),
      withRedis(ctx, async (kv) => (await kv.ping(), { version: (await kv.info()).version, via: kv.via })),
      testFile
        ? target.exec(config.services.api, ['test', '-f', testFile], { allowFailure: true }).then((r) => r.code === 0)
        : true,
      target.log.problem(),
    ])
    out.ok(`PostgreSQL ${postgres.version} via ${postgres.via}`)
    out.ok(`Redis ${redis.version} via ${redis.via}`)
    if (!testFound)
      throw new Error(
        `test file ${testFile} not found in the ${config.services.api} container. Check TEST_COMMAND and the ` +
          `container's mounts.`,
      )
    if (testFile) out.ok(`test file ${testFile} present in ${config.services.api}`)
    if (logProblem) throw new Error(logProblem)
    out.ok(`log ${await target.log.where()} writable`)
    return { containers: instances.length, postgres: postgres.version, redis: redis.version }
  },
})
