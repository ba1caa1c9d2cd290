#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// truncate-logs: empty the shared log file in place — the file the plan names, symlinks resolved —
// keeping its inode so the containers that hold it open keep writing to it.
import { definePhase } from '../lib/run/cli.ts'
import { out } from '../lib/util/output.ts'

export default definePhase(import.meta, 'truncate-logs', {
  title: 'truncate the shared log file',
  purpose: 'Empty the shared log file (LOG_FILE) in place; create it and its directory when missing.',
  settings: ['LOG_FILE'],
  async run({ target, dryRun, plan, record }) {
    const where = await target.log.where()
    if (plan?.log && plan.log.where !== where)
      throw new Error(
        `the log file is now ${where}, not ${plan.log.where} as planned (a symlink changed?); nothing was truncated`,
      )
    const bytes = await target.log.size()
    if (dryRun) {
      out.info(`[dry-run] would truncate ${where} (${bytes === null ? 'missing: would create it' : `${bytes} bytes`})`)
      return { bytes: bytes ?? 0 }
    }
    await target.log.truncate()
    record.changed('emptied the log')
    out.ok(`${where}: ${bytes === null ? 'created' : `${bytes} bytes`} -> 0 bytes, same inode`)
    return { bytes: bytes ?? 0 }
  },
})
