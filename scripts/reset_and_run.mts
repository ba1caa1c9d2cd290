#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// reset_and_run: put the stack back into a clean, known state and run its smoke test: the seven
// phases in the registry's order (assess, truncate-logs, restart, truncate-db, flush-redis,
// run-test, validate), or a selection of them; --repeat runs the whole cycle again.
import { runScript } from '../lib/run/cli.ts'
import { inOrder, PHASE_NAMES } from '../lib/run/registry.ts'
import { resumePhases, selectPhases } from '../lib/run/select.ts'
import assess from './assess.mts'
import truncateLogs from './truncate-logs.mts'
import restart from './restart.mts'
import truncateDb from './truncate-db.mts'
import flushRedis from './flush-redis.mts'
import runTest from './run-test.mts'
import validate from './validate.mts'

// The Makefile asks for the phases' names, in order, to make a target of each.
if (process.argv.slice(2).join(' ') === '--list-phases') {
  console.log(PHASE_NAMES.join('\n'))
  process.exit(0)
}

await runScript({
  script: 'reset_and_run.mts',
  purpose: 'Reset the stack (logs, containers, database, Redis), run the smoke test and validate its results.',
  flags: [
    ['--from PHASE', 'start at this phase (name or number)'],
    ['--to PHASE', 'stop after this phase'],
    ['--only LIST', 'run only these phases (comma-separated)'],
    ['--skip LIST', 'skip these phases'],
    [
      '--resume',
      'continue the previous run: its phases not completed; from the first destructive one when the test or ' +
        'validation stopped',
    ],
    ['--repeat N', 'the whole cycle N times: a row per run, the pass rate and the time per run at the end'],
    ['--until-fail', "the whole cycle until a run fails (up to --repeat N when given); exits with that run's code"],
    ['--list-phases', 'print the phases in order, one a line, and exit'],
  ],
  phases: inOrder([assess, truncateLogs, restart, truncateDb, flushRedis, runTest, validate]),
  select: (flags, previous) => (flags.resume ? resumePhases(previous) : { phases: selectPhases(flags) }),
})
