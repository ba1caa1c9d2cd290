#!/usr/bin/env -S node --import tsx
// docker-test: the app's own pytest suite in a one-off api container, as the app's `make docker-test` does.
import { definePhase } from '../lib/main.ts'

export default definePhase(import.meta, {
  name: 'docker-test',
  title: "run the app's pytest suite in a one-off api container",
  exitCode: 6,
  purpose: "Run `compose run --rm api pytest tests/ -v` and pass pytest's exit code on.",
  destroys: null,
  async run(ctx) {
    const compose = await ctx.compose()
    const res = await compose.compose(['run', '--rm', '-T', ctx.config.services.api, 'pytest', 'tests/', '-v'], {
      allowFailure: true,
      timeoutMs: ctx.config.testTimeoutMs,
      signal: ctx.signal,
      onOutput: (c) => process.stdout.write(c),
    })
    if (res.code !== 0) throw new Error(`pytest exited with code ${res.code}`)
    return {}
  },
})
