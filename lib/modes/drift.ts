// Code that changed under a running process: a file under one of the instance's bind mounts (the
// app's source, mounted into the api and every worker) written after its PID 1 started. Such a
// process still runs the old code, so the in-place mode restarts its service. The log file's
// directory, the test file (run anew by run-test) and DRIFT_IGNORE never count.
import path from 'node:path'
import type { Config } from '../config/config.ts'
import type { ProcessTable } from '../targets/target.ts'
import { newestFile, type NewestFile } from '../util/files.ts'

export interface CodeChange {
  service: string
  why: string
}

/** The file the test command runs, as written in it (app/.../test_flow.py). */
const testFileOf = (command: string) => command.split(/\s+/).find((w) => /\.(py|sh|js|ts)$/.test(w)) ?? null

/** Is the mount the log file's directory (or inside it, or holding nothing but it)? */
const holdsLog = (source: string, logFile: string) => {
  const dir = path.dirname(logFile)
  return source === dir || source === logFile || source.startsWith(`${dir}${path.sep}`)
}

/** "app/workers/tasks.py" when inside the app directory, else the whole path. */
const shown = (appDir: string, file: string) =>
  file.startsWith(`${appDir}${path.sep}`) ? path.relative(appDir, file) : file

/** Services whose instance runs code older than a file under its mounts; one reason each, the newest file. */
export function codeChanges(config: Config, tables: ProcessTable[]): CodeChange[] {
  const cache = new Map<string, NewestFile | null>()
  const test = testFileOf(config.test.command)
  const isTest = (file: string) => test !== null && file.endsWith(`${path.sep}${test}`)
  const newest = (source: string) => {
    if (!cache.has(source)) cache.set(source, newestFile(source, config.restart.driftIgnore, isTest))
    return cache.get(source) ?? null
  }
  const found = new Map<string, { file: string; after: number }>()
  for (const t of tables) {
    const started = t.procs.find((p) => p.pid === 1)?.startedAt
    if (started === undefined) continue
    for (const m of t.instance.mounts ?? []) {
      if (holdsLog(m.source, config.logFile)) continue
      const file = newest(m.source)
      const after = file ? file.mtimeMs - started : 0
      if (file && after > 0 && after > (found.get(t.instance.service)?.after ?? 0))
        found.set(t.instance.service, { file: file.file, after })
    }
  }
  return [...found].map(([service, f]) => ({
    service,
    why: `${shown(config.appDir, f.file)} changed ${(f.after / 1000).toFixed(0)} s after its process started`,
  }))
}
