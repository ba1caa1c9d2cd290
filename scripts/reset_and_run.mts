#!/usr/bin/env -S node --import tsx
// reset_and_run: put the stack back into a clean, known state and run its smoke test:
// assess, truncate-logs, restart, truncate-db, flush-redis, run-test, validate.
import { runScript } from '../lib/run/cli.ts'
import { RESET_AND_RUN } from '../lib/run/registry.ts'
import { resumePhases, selectPhases } from '../lib/run/select.ts'
import assess from './assess.mts'
import truncateLogs from './truncate-logs.mts'
import restart from './restart.mts'
import truncateDb from './truncate-db.mts'
import flushRedis from './flush-redis.mts'
import runTest from './run-test.mts'
import validate from './validate.mts'

await runScript({
  script: `${RESET_AND_RUN.name}.mts`,
  purpose: RESET_AND_RUN.purpose,
  flags: RESET_AND_RUN.flags,
  phases: [assess, truncateLogs, restart, truncateDb, flushRedis, runTest, validate],
  select: (flags, previous) => (flags.resume ? resumePhases(previous) : { phases: selectPhases(flags) }),
})
