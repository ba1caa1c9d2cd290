#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// docker-test: the app's own pytest suite in a one-off api container, as the app's `make docker-test` does.
import { definePhase } from '../lib/run/cli.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'docker-test', {
  title: "run the app's pytest suite in a one-off api container",
  purpose:
    'Run `pytest tests/ -v` in a one-off api container (compose run --rm; an api pod on Kubernetes) and pass its ' +
    'exit code on.',
  async run(ctx) {
    const res = await ctx.target.runOneOff(ctx.config.services.api, ['pytest', 'tests/', '-v'], {
      allowFailure: true,
      timeoutMs: ctx.config.test.timeoutMs,
      onOutput: (c) => out.raw(c),
    })
    if (res.code !== 0) throw new Error(`pytest exited with code ${res.code}`)
    return {}
  },
})
