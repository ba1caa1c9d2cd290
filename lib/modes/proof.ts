// After an in-place reset nothing vouches for the state the way a restart does, so it is proven
// from the servers themselves, each claim read at proof time: every table of the plan empty; in
// the broker's own database every queue the workers consume empty (priority sub-queues, messages
// set aside and unacknowledged ones included) and bound to its exchange; each paused worker
// consuming exactly what it consumed before the pause (a restarted one consuming something); no
// task running or waiting; the api answering a real request.
import type { BrokerState, Consumed } from '../app/celery.ts'

export interface ProofInput {
  /** The paused workers' queues, read before the pause. */
  before: Consumed
  /** What the broker and the workers say now; null when the run holds no worker. */
  state: BrokerState | null
  rows: Record<string, number>
  api: { ok: boolean; detail: string } | null
}

const names = (qs: { name: string }[] = []) => [...new Set(qs.map((q) => q.name))].sort().join(', ')
const counted = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, n]) => `${k.replace(/\x06\x16/g, ':')}=${n}`)
    .join(', ')

/** What does not hold, in words; none when the state is clean. */
export function problemsOf(p: ProofInput): string[] {
  const problems: string[] = []
  const full = Object.entries(p.rows).filter(([, n]) => n > 0)
  if (full.length) problems.push(`rows written after the truncation: ${full.map(([t, n]) => `${t}=${n}`).join(', ')}`)
  const s = p.state
  if (s) {
    for (const [w, qs] of Object.entries(p.before)) {
      if (!(w in s.consumed)) problems.push(`${w} no longer answers`)
      else if (names(s.consumed[w]) !== names(qs))
        problems.push(`${w} consumes ${names(s.consumed[w]) || 'nothing'} (before the pause: ${names(qs)})`)
    }
    const already = (w: string) => (p.before[w]?.length ?? 0) > 0 // then the comparison above says it
    for (const [w, qs] of Object.entries(s.consumed))
      if (!qs.length && !already(w)) problems.push(`${w} consumes nothing`)
    if (Object.keys(s.queues).length) problems.push(`messages waiting before the test: ${counted(s.queues)}`)
    if (Object.keys(s.held).length) problems.push(`messages still set aside: ${counted(s.held)}`)
    if (s.unacked) problems.push(`${s.unacked} messages delivered and not acknowledged`)
    const unbound = [
      ...new Set(
        Object.values(s.consumed)
          .flat()
          .map((q) => q.name),
      ),
    ].filter((q) => !s.bound.includes(q))
    if (unbound.length) problems.push(`no exchange routes to ${unbound.join(', ')}: a task sent there would be dropped`)
    if (s.busy || s.reserved)
      problems.push(`${s.busy} tasks running and ${s.reserved} waiting in the workers before the test`)
  }
  if (p.api && !p.api.ok) problems.push(`the api does not answer: ${p.api.detail}`)
  return problems
}

/** The proof's line; throws naming every claim that does not hold. */
export function proofOf(p: ProofInput): string {
  const problems = problemsOf(p)
  if (problems.length) throw new Error(`the state after the in-place reset is not clean: ${problems.join('; ')}`)
  const tables = Object.keys(p.rows).length
  const lines = tables ? [`${tables} tables empty`] : []
  if (p.state) {
    const queues = [
      ...new Set(
        Object.values(p.state.consumed)
          .flat()
          .map((q) => q.name),
      ),
    ].sort()
    const workers = Object.keys(p.state.consumed).length
    lines.push(`queues ${queues.join(', ')} empty and bound (priority sub-queues and unacknowledged messages included)`)
    lines.push(`${workers} workers consume what they consumed before, none busy`)
  }
  if (p.api) lines.push(`api: ${p.api.detail}`)
  return `clean: ${lines.join('; ')}`
}
