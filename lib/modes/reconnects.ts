// Broker reconnects in the workers' logs: a worker that lost its broker connection may answer
// remote control and yet take no task (kombu < 5.4, celery#8030), so the in-place mode restarts it.
// A worker kept in place for days logs every task it runs, so each reset reads a worker's log only
// from where the last reset read it and found nothing (less a margin for the engine's clock), not
// from the worker's start: the record, one per target, lives beside the run record (STATE_DIR).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Reach } from '../access/reach.ts'
import { stateKey, type Config } from '../config/config.ts'
import type { Instance, ProcessTable } from '../targets/target.ts'
import { writeAtomically } from '../util/files.ts'

/** Lines up to this long before the last read are read again: the engine's clock may differ from this machine's. */
export const CLOCK_MARGIN_MS = 5 * 60_000

/** One lifetime of an instance: a restart makes another (and its log is read from its start again). */
const lifetime = (i: Instance) => (i.startedAt ? `${i.id}@${i.startedAt}@${i.restarts ?? 0}` : null)

export const logsReadFile = (config: Pick<Config, 'stateDir' | 'target' | 'project' | 'appDir' | 'kube'>) =>
  path.join(config.stateDir, `${stateKey(config)}.logs-read.json`)

function readPositions(file: string): Record<string, number> {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    return Object.fromEntries(Object.entries(data).filter((e): e is [string, number] => typeof e[1] === 'number'))
  } catch {
    return {} // none yet, or unreadable: every log is read from its start
  }
}

/**
 * The worker instances whose log since they started has a line of WORKER_RECONNECT_PATTERN, with
 * that line. A log with no such line is remembered as read up to now; one with a line is not (the
 * next reset finds it again, unless the worker restarted).
 */
export async function reconnects(r: Reach, tables: ProcessTable[]): Promise<Map<string, string>> {
  const pattern = r.config.restart.reconnectPattern
  if (!pattern) return new Map()
  const file = logsReadFile(r.config)
  const read = readPositions(file)
  const now = Date.now()
  const since = (i: Instance) => {
    const at = read[lifetime(i) ?? '']
    return at === undefined ? undefined : new Date(at - CLOCK_MARGIN_MS)
  }
  const lines = await Promise.all(tables.map((t) => r.target.logMatches(t.instance, pattern, since(t.instance))))
  const clean = tables.filter((t, i) => !lines[i].length && lifetime(t.instance))
  // Only the instances read now are kept: the others' lifetimes ended, or this run does not hold them.
  const positions = Object.fromEntries(clean.map((t) => [lifetime(t.instance)!, now]))
  try {
    // A dry run writes nothing, this file included; nor does a run with nothing to remember or forget.
    if (!r.dryRun && (Object.keys(positions).length || Object.keys(read).length))
      writeAtomically(file, JSON.stringify(positions, null, 2) + '\n')
  } catch {
    // Not written (a read-only STATE_DIR): the next reset reads every log from its start, as before.
  }
  return new Map(
    tables.flatMap((t, i) => (lines[i].length ? [[t.instance.name, shortLine(lines[i][0], pattern)] as const] : [])),
  )
}

/** The matched words and the rest of their line (no JSON framing, no URL's credentials), up to 160 characters. */
const shortLine = (line: string, pattern: RegExp) =>
  line
    .slice(Math.max(0, line.search(pattern)))
    .replace(line.trimStart().startsWith('{') ? /\\n.*$|(?<!\\)".*$/s : /\n.*$/s, '')
    .replace(/\/\/[^@\s/]*@/g, '//***@')
    .slice(0, 160)
    .trim()
