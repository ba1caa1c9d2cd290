// Which phases a run carries out: --from, --to, --only, --skip by name or number, and --resume
// after a recorded run.
import { UsageError } from '../util/errors.ts'
import { PHASES, PHASE_NAMES, type PhaseName } from './registry.ts'

const phaseInfo = (name: PhaseName) => PHASES.find((p) => p.name === name)!

export class SelectionError extends UsageError {}

function resolve(ref: string): PhaseName {
  const trimmed = ref.trim()
  const byNumber = PHASES.find((p) => String(p.number) === trimmed)
  const byName = PHASES.find((p) => p.name === trimmed)
  const found = byNumber ?? byName
  if (!found)
    throw new SelectionError(
      `unknown phase ${JSON.stringify(ref)}; phases are ${PHASES.map((p) => `${p.number} ${p.name}`).join(', ')}`,
    )
  return found.name
}

function refs(value: unknown): PhaseName[] {
  if (value === undefined || value === false) return []
  return String(value)
    .split(',')
    .filter((s) => s.trim())
    .map(resolve)
}

export interface Selection {
  from?: unknown
  to?: unknown
  only?: unknown
  skip?: unknown
}

/** The phases to run, in order. --only excludes --from/--to; --skip applies last. */
export function selectPhases(sel: Selection): PhaseName[] {
  const only = refs(sel.only)
  if (only.length && (sel.from !== undefined || sel.to !== undefined))
    throw new SelectionError('--only cannot be combined with --from or --to')
  const [from] = refs(sel.from)
  const [to] = refs(sel.to)
  const index = (n: PhaseName) => PHASE_NAMES.indexOf(n)
  if (from && to && index(from) > index(to)) throw new SelectionError(`--from ${from} comes after --to ${to}`)
  const skip = new Set(refs(sel.skip))
  const chosen = only.length
    ? PHASE_NAMES.filter((n) => only.includes(n))
    : PHASE_NAMES.filter((n) => (!from || index(n) >= index(from)) && (!to || index(n) <= index(to)))
  const result = chosen.filter((n) => !skip.has(n))
  if (result.length === 0) throw new SelectionError('that selection leaves no phase to run')
  return result
}

/**
 * Phases after the last destructive one (the test, the validation): a rerun of them on the test's leftovers cannot
 * validate.
 */
const lastDestructive = Math.max(...PHASES.filter((p) => p.destroys !== null).map((p) => p.number))
const AFTER_RESET: PhaseName[] = PHASES.filter((p) => p.number > lastDestructive).map((p) => p.name)

/**
 * What --resume runs after the run recorded: the selected phases not completed, in order. When
 * the test or the validation was interrupted or failed, the stack holds the test's leftovers, so
 * the run starts again at the first destructive phase and the test runs on a fresh reset.
 */
export function resumePhases(
  record: { selected: string[]; completed: string[]; stopped?: { phase: string; how: string } } | null,
): { phases: PhaseName[]; note: string } {
  if (!record) throw new SelectionError('nothing to resume: no previous run was recorded')
  const selected = PHASE_NAMES.filter((n) => record.selected.includes(n))
  const stopped = record.stopped?.phase as PhaseName | undefined
  if (stopped && AFTER_RESET.includes(stopped)) {
    const first = selected.find((n) => phaseInfo(n).destroys !== null)
    if (first) {
      const phases = selected.filter((n) => PHASE_NAMES.indexOf(n) >= PHASE_NAMES.indexOf(first))
      return {
        phases,
        note:
          `${stopped} was ${record.stopped!.how}: resuming from ${first}, so that the test runs on a freshly ` +
          `reset stack`,
      }
    }
  }
  const rest = selected.filter((n) => !record.completed.includes(n))
  if (rest.length === 0)
    throw new SelectionError(
      `nothing to resume: the previous run completed every phase it selected (${record.selected.join(', ')})`,
    )
  return {
    phases: rest,
    note:
      `resuming at ${rest[0]}${stopped ? ` (${stopped} was ${record.stopped!.how})` : ''}; completed before: ` +
      `${record.completed.join(', ') || 'none'}`,
  }
}
