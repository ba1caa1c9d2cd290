// After an in-place reset nothing was restarted, so nothing is taken on trust: the state is proven
// clean from the servers themselves — every table of the plan empty, every queue empty, the queue
// bindings back, no task active or reserved (the workers' own replies), the api answering.
import { countRows } from '../access/catalog.ts'
import { withDatabase } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import { withRedis } from '../access/redis.ts'
import { apiAnswers } from '../targets/instances.ts'
import type { DestructionPlan } from './plan.ts'

export interface Proof {
  /** What was checked and held, in words. */
  lines: string[]
  /** What did not hold; empty when the state is clean. */
  problems: string[]
}

/** `kept`: how many keys the flush put back; `consuming`: workers consuming every queue again. */
export async function proveClean(r: Reach, plan: DestructionPlan, kept: number, consuming: number): Promise<Proof> {
  const proof: Proof = { lines: [], problems: [] }
  const tables = plan.database?.tables.filter((t) => t.kind !== 'f').map((t) => t.name) ?? []
  const [rows, queues] = await Promise.all([
    tables.length ? withDatabase(r, (db) => countRows(db, tables)) : Promise.resolve({} as Record<string, number>),
    withRedis(r, (kv) => kv.countByPatterns(r.config.celery.queues)),
  ])
  const full = Object.entries(rows).filter(([, n]) => n > 0)
  if (full.length) proof.problems.push(`rows written after the truncation: ${full.map(([t, n]) => `${t}=${n}`).join(', ')}`)
  else if (tables.length) proof.lines.push(`${tables.length} tables empty`)
  const waiting = Object.entries(queues).filter(([, n]) => n > 0)
  if (waiting.length) proof.problems.push(`messages in ${waiting.map(([q]) => q).join(', ')} before the test`)
  else proof.lines.push(`queue ${r.config.celery.queues.join(', ')} empty`)
  const planned = plan.redis?.keep.reduce((n, k) => n + k.keys, 0) ?? 0
  if (kept < planned) proof.problems.push(`${planned - kept} of the ${planned} kept keys (${plan.redis!.keep.map((k) => k.pattern).join(', ')}) are missing`)
  else if (planned) proof.lines.push(`${kept} queue binding${kept === 1 ? '' : 's'} back`)
  proof.lines.push(`no task active or reserved, ${consuming} workers consuming`)
  const { api, apiPort, apiHealthPath } = { api: r.config.services.api, apiPort: r.config.apiPort, apiHealthPath: r.config.apiHealthPath }
  if (apiHealthPath) {
    const answer = await apiAnswers(() => r.target.endpoint(api, apiPort), api, apiHealthPath).check()
    if (answer.ready) proof.lines.push(`${api} answering ${apiHealthPath}`)
    else proof.problems.push(`${api} does not answer ${apiHealthPath}: ${answer.detail}`)
  }
  return proof
}
