#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// restart: bring the containers to a clean start as the restart mode says (lib/modes/): in-place
// (default: only what changed under its process restarts, stray processes stop, the workers pause
// untouched), restart (the api and the workers), recreate or rebuild; then wait until ready. When
// the run goes on to clear Redis, the workers are held (stopped, or paused in place) until it is empty.
import { definePhase } from '../lib/run/cli.ts'

export default definePhase(import.meta, 'restart', {
  title: 'restart the containers and wait until ready',
  purpose:
    'Bring the containers to a clean start as RESTART_MODE says: in-place (the default: only what changed under ' +
    'its process restarts, stray processes stop, the workers pause untouched), restart (the api and the workers), ' +
    'recreate or rebuild; then wait until every service is ready.',
  settings: ['RESTART_MODE', 'SERVICES', 'READY_TIMEOUT', 'DRIFT_IGNORE'],
  run: (ctx) => ctx.mode.restart(ctx),
})
