#!/usr/bin/env -S node --import tsx
// assess: is everything the reset needs there? The engine or cluster, the project's containers
// (started when missing, refused when another checkout made them), PostgreSQL, Redis, the test
// file and a writable log.
import { definePhase } from '../lib/run/cli.ts'
import { countByService, describe } from '../lib/targets/instances.ts'
import { withDatabase } from '../lib/access/database.ts'
import { withRedis } from '../lib/access/redis.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, {
  name: 'assess',
  purpose: 'Check the Docker engine (or cluster), the containers, PostgreSQL, Redis, the test file and the log; start missing services.',
  destroys: null,
  async run(ctx) {
    const { config, target, options } = ctx

    // The engine, and the project's containers by their labels (asked side by side)
    const [engine, listing] = await Promise.all([target.ping(), target.instances()])
    out.ok(engine)
    out.ok(`${await target.tool()}: ${target.describe()}${config.compose ? `, files ${config.composeFiles.join(', ')}` : ''}`)

    // From whatever state the stack was left in (compose stop, an engine restart, a half-made up):
    // the required services that are not all running are started, and every other stopped
    // container is left alone and not waited for. Only one that fails again after the start fails.
    const since = Date.now()
    const notRunning = config.requiredServices.filter((s) => {
      const mine = listing.filter((c) => c.service === s)
      return mine.length === 0 || mine.some((c) => c.state !== 'running')
    })
    const leftAlone = listing.filter((c) => c.readiness === 'stopped')
    if (leftAlone.length) out.info(`left stopped (not required): ${leftAlone.map(describe).join(', ')}`)
    if (notRunning.length) {
      const states = notRunning.map((s) => `${s} (${listing.filter((c) => c.service === s).map((c) => c.state).join(', ') || 'no container'})`)
      out.warn(`not running: ${states.join(', ')}; starting ${notRunning.length > 1 ? 'them' : 'it'}`)
      await target.start(notRunning)
      if (options.dryRun) return { containers: listing.length }
    }
    if (ctx.record.held?.length) {
      ctx.record.held = undefined
      ctx.saveRecord()
    }
    const instances = await target.waitReady({ initial: notRunning.length ? undefined : listing, since })
    out.ok(`containers ready: ${countByService(instances)}${notRunning.length ? ` (started: ${notRunning.join(', ')})` : ''}`)

    // PostgreSQL, Redis, the test file and the log (checked side by side)
    const testFile = config.testCommand.split(/\s+/).find((w) => /\.(py|sh|js|ts)$/.test(w))
    const [postgres, redis, testFound, logProblem] = await Promise.all([
      withDatabase(ctx, async (db) => {
        const [row] = await db.rows<{ v: string }>("SELECT current_setting('server_version') AS v")
        return { version: row.v, via: db.via }
      }),
      withRedis(ctx, async (kv) => {
        await kv.ping()
        return { version: (await kv.info()).version, via: kv.via }
      }),
      testFile ? target.exec(config.services.api, ['test', '-f', testFile], { allowFailure: true }).then((r) => r.code === 0) : true,
      target.log.problem(),
    ])
    out.ok(`PostgreSQL ${postgres.version} via ${postgres.via}`)
    out.ok(`Redis ${redis.version} via ${redis.via}`)
    if (!testFound) throw new Error(`test file ${testFile} not found in the ${config.services.api} container. Check TEST_COMMAND and the container's mounts.`)
    if (testFile) out.ok(`test file ${testFile} present in ${config.services.api}`)
    if (logProblem) throw new Error(logProblem)
    out.ok(`log ${await target.log.where()} writable`)
    return { containers: instances.length, postgres: postgres.version, redis: redis.version }
  },
})
