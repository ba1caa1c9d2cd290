#!/usr/bin/env -S node --import tsx
// truncate-logs: empty the shared log file in place, keeping its inode so the containers
// that hold it open keep writing to it.
import { closeSync, existsSync, mkdirSync, openSync, statSync, truncateSync } from 'node:fs'
import path from 'node:path'
import { definePhase } from '../lib/main.ts'
import { out } from '../lib/output.ts'

export default definePhase(import.meta, {
  name: 'truncate-logs',
  purpose: 'Empty the shared log file (LOG_FILE) in place; create it and its directory when missing.',
  destroys: 'logs',
  async run({ config, options }) {
    const file = config.logFile
    const before = existsSync(file) ? statSync(file) : null
    if (options.dryRun) {
      out.info(`[dry-run] would truncate ${file} (${before ? `${before.size} bytes` : 'missing: would create it'})`)
      return { bytes: before?.size ?? 0 }
    }
    mkdirSync(path.dirname(file), { recursive: true })
    if (before) truncateSync(file, 0)
    else closeSync(openSync(file, 'a'))
    const after = statSync(file)
    if (after.size !== 0) throw new Error(`${file} still holds ${after.size} bytes after truncation: something is writing to it faster than expected`)
    if (before && after.ino !== before.ino) throw new Error(`${file} was replaced (inode changed): containers holding the old file will not write to the new one`)
    out.ok(`${file}: ${before ? `${before.size} bytes` : 'created'} -> 0 bytes, same inode`)
    return { bytes: before?.size ?? 0 }
  },
})
