#!/usr/bin/env -S node --import tsx
// reset_and_run: put the stack back into a clean, known state and run its smoke test:
// assess, truncate-logs, restart, truncate-db, flush-redis, run-test, validate.
import { runScript } from '../lib/run/cli.ts'
import { resumePhases, selectPhases, type Selection } from '../lib/run/registry.ts'
import assess from './assess.mts'
import truncateLogs from './truncate-logs.mts'
import restart from './restart.mts'
import truncateDb from './truncate-db.mts'
import flushRedis from './flush-redis.mts'
import runTest from './run-test.mts'
import validate from './validate.mts'

await runScript({
  script: 'reset_and_run.mts',
  purpose: 'Reset the stack (logs, containers, database, Redis), run the smoke test and validate its results.',
  flags: [
    ['--from PHASE', 'start at this phase (name or number)'],
    ['--to PHASE', 'stop after this phase'],
    ['--only LIST', 'run only these phases (comma-separated)'],
    ['--skip LIST', 'skip these phases'],
    ['--resume', 'continue the previous run: its phases not completed; from the first destructive one when the test or validation stopped'],
    ['--restart-mode MODE', 'restart | recreate | rebuild'],
    ['--strict-logs', 'log errors fail validation'],
  ],
  selectable: true,
  phases: [assess, truncateLogs, restart, truncateDb, flushRedis, runTest, validate],
  select: (flags, previous) => (flags.resume ? resumePhases(previous) : { phases: selectPhases(flags as Selection) }),
})
