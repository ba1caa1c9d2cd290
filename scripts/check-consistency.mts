#!/usr/bin/env -S node --import tsx
// check-consistency: the plan's consistency checks on jobs, campaigns and leads (read-only SQL); exit 7 on any finding.
import { withDatabase } from '../lib/access/database.ts'
import { findInconsistencies, formatFinding, invariants } from '../lib/app/consistency.ts'
import { definePhase } from '../lib/run/cli.ts'
import { CheckFailed } from '../lib/util/errors.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'check-consistency', {
  async run(ctx) {
    const list = invariants(ctx.config.recovery.processingLimitMinutes)
    const findings = await withDatabase(ctx, (db) => findInconsistencies(db, list))
    for (const inv of list) {
      const found = findings.find((f) => f.invariant === inv)
      if (!found) out.ok(`${inv.name}: ${inv.says}`)
      else {
        const [head, ...rows] = formatFinding(found)
        out.warn(head)
        for (const r of rows) out.info(r)
      }
    }
    if (findings.length) throw new CheckFailed(`${findings.length} of ${list.length} invariants broken: ${findings.map((f) => `${f.invariant.name} (${f.total})`).join(', ')}`)
    return { invariants: list.length, findings: 0 }
  },
})
