#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// check-consistency: the plan's consistency checks on jobs, campaigns and leads (read-only SQL); exit 7 on any finding.
import { withDatabase } from '../lib/access/database.ts'
import { findInconsistencies, formatViolation, invariants } from '../lib/app/consistency.ts'
import { definePhase } from '../lib/run/cli.ts'
import { CheckFailed } from '../lib/util/errors.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'check-consistency', {
  title: 'check jobs, campaigns and leads are consistent',
  purpose:
    'Check the invariants of the circuit-breaker plan (lib/app/consistency.ts) and name the rows that break each. ' +
    'Exit 7 on any finding.',
  settings: ['PROCESSING_LIMIT'],
  async run(ctx) {
    const list = invariants(ctx.config.recovery.processingLimitMinutes)
    const findings = await withDatabase(ctx, (db) => findInconsistencies(db, list))
    for (const inv of list) {
      const found = findings.find((f) => f.invariant === inv)
      if (!found) out.ok(`${inv.name}: ${inv.says}`)
      else {
        const [head, ...rows] = formatViolation(found)
        out.warn(head)
        for (const r of rows) out.info(r)
      }
    }
    if (findings.length)
      throw new CheckFailed(
        `${findings.length} of ${list.length} invariants broken: ` +
          `${findings.map((f) => `${f.invariant.name} (${f.total})`).join(', ')}`,
      )
    return { invariants: list.length, findings: 0 }
  },
})
