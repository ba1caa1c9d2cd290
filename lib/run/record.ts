// One run at a time, and what --resume reads: the run lock and the record of the last run, one of
// each per target (the Compose example and the Kubernetes example share a project name, not a
// stack). Both are written atomically, so a run killed at any moment leaves them readable.
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stateKey, type Config } from '../config/config.ts'
import { RefusedError } from '../util/errors.ts'
import { writeAtomically } from '../util/files.ts'

/** What the last run did: the file --resume reads. */
export interface RunRecordData {
  selected: string[]
  completed: string[]
  /** The phase that was interrupted, or failed; absent when the run ended well. */
  stopped?: { phase: string; how: 'interrupted' | 'failed' }
  /** Services held while the database and Redis are emptied; let go by flush-redis (how: the restart mode says). */
  held?: string[]
  /** Size of the app's log when the test started: errors before it came from the reset. */
  testLogOffset?: number
  /** What this run changed, in order, as the steps that did it said: every failure message tells it. */
  changes?: string[]
  at?: string
}

/**
 * The record of this run, saved after every change when `file` is set (dry runs and tasks keep
 * none). The phases say what happened through its methods; nothing else writes it.
 */
export class RunRecord {
  private data: RunRecordData

  constructor(
    private file: string | null,
    selected: string[],
    previous: RunRecordData | null,
  ) {
    this.data = { selected, completed: [], held: previous?.held, testLogOffset: previous?.testLogOffset }
  }

  static read(file: string): RunRecordData | null {
    if (!existsSync(file)) return null
    try {
      const rec = JSON.parse(readFileSync(file, 'utf8')) as RunRecordData
      return Array.isArray(rec.completed) && Array.isArray(rec.selected) ? rec : null
    } catch {
      return null
    }
  }

  get held(): string[] {
    return this.data.held ?? []
  }
  get testLogOffset(): number | undefined {
    return this.data.testLogOffset
  }
  get changes(): string[] {
    return this.data.changes ?? []
  }
  get snapshot(): RunRecordData {
    return structuredClone(this.data)
  }

  completed(phase: string) {
    this.data.completed.push(phase)
    this.save()
  }
  /** Synchronous, so that a signal handler can call it right before the process exits. */
  stopped(phase: string, how: 'interrupted' | 'failed') {
    this.data.stopped = { phase, how }
    this.save()
  }
  hold(services: string[]) {
    this.data.held = services
    this.save()
  }
  released() {
    this.data.held = undefined
    this.save()
  }
  /** A step changed something (a dry run changes nothing and says nothing here). */
  changed(what: string) {
    this.data.changes = [...this.changes, what]
    this.save()
  }
  testStarted(offset: number) {
    this.data.testLogOffset = offset
    this.save()
  }

  private save() {
    if (this.file)
      writeAtomically(this.file, JSON.stringify({ ...this.data, at: new Date().toISOString() }, null, 2) + '\n')
  }
}

interface LockInfo {
  pid: number
  script: string
  startedAt: string
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const readLock = (file: string): LockInfo | null => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo
  } catch {
    return null
  }
}

/**
 * Takes the run lock or refuses naming the holder. The lock appears with its content at once (a
 * complete file linked into place), so a second run never reads it half-written and takes it too.
 * A lock whose process is dead is moved aside, checked and only then replaced. Returns the release.
 */
export function acquireLock(file: string, script: string): () => void {
  mkdirSync(path.dirname(file), { recursive: true })
  const mine: LockInfo = { pid: process.pid, script, startedAt: new Date().toISOString() }
  const tmp = `${file}.${process.pid}.new`
  writeFileSync(tmp, JSON.stringify(mine))
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, file)
        const release = () => {
          process.off('exit', release)
          if (readLock(file)?.pid === process.pid) rmSync(file, { force: true })
        }
        process.once('exit', release)
        return release
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        const held = readLock(file)
        if (!held || alive(held.pid)) {
          const who = held ? `${held.script} (pid ${held.pid}, started ${held.startedAt})` : 'its lock is being written'
          throw new RefusedError(`another run is in progress: ${who}. Wait for it, or stop it; its lock is ${file}.`)
        }
        takeOverStale(file, held)
      }
    }
  } finally {
    rmSync(tmp, { force: true })
  }
  throw new RefusedError(`could not take the run lock ${file}`)
}

/** Moves a dead run's lock aside; if what was moved turns out to be a live run's (it took over first), puts it back. */
function takeOverStale(file: string, stale: LockInfo) {
  const aside = `${file}.${process.pid}.stale`
  try {
    renameSync(file, aside)
  } catch {
    return // another run moved it first
  }
  const moved = readLock(aside)
  if (moved && moved.pid !== stale.pid && alive(moved.pid)) {
    try {
      linkSync(aside, file)
    } catch {}
  }
  rmSync(aside, { force: true })
}
