// What holds after every good run of the smoke test is data, not code: a checks file the user
// owns (CHECKS_FILE, --checks-file), each check a relation between a count and another count, a
// number or a setting. Read and checked before anything runs (a mistake is exit 9 with its line);
// every count is computed in one query, in a READ ONLY transaction (a check that writes is refused
// by PostgreSQL and named by its line), and both sides are shown. Beside the checks, the file may
// say where the app keeps its work (`timeline:`, for the run page): then its top level is a mapping
// with `checks:` and `timeline:`; a file that is a list of checks alone still reads.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml'
import { DbError, type Database } from '../access/database.ts'
import { READ_ONLY_TRANSACTION } from '../access/sql.ts'
import { KEYS, TABLE_NAME } from '../config/settings.ts'
import type { Timeline } from './work.ts'

/** One check of a phase (validation's relations), for the table and the JUnit report. */
export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

export interface Side {
  label: string
  /** A query returning one count, or a fixed number. */
  sql?: string
  value?: number
  /** Where a query is written (its label's line): file:line. */
  at?: string
}

export const RELATIONS = ['=', '!=', '>=', '<=', '>', '<'] as const
export type Op = (typeof RELATIONS)[number]

export interface Relation {
  name: string
  left: Side
  op: Op
  right: Side
  /** Where it is written: file:line. */
  at: string
}

export interface Checks {
  file: string
  relations: Relation[]
  /** Checks whose setting is empty, so they are off: "leads = EXPECT_LEADS (EXPECT_LEADS is empty)". */
  off: string[]
  /** Where the app keeps its work, for the run page; null when the file has no `timeline:`. */
  timeline: Timeline | null
}

/** A setting's value as the suite resolved it; undefined for a name that is not a setting. */
export type SettingLookup = (key: string) => string | undefined

const FIELDS = ['name', 'count', 'relation', 'other']
const SECTIONS = ['checks', 'timeline']
/** The timeline's fields: required, then optional; each names a column, but `table` and `queue`. */
const TIMELINE_NEEDS = ['table', 'group', 'type', 'status', 'start', 'end'] as const
const TIMELINE_MAY = ['updated', 'queue'] as const
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]*$/
const SETTING = /\$\{([A-Z][A-Z0-9_]*)\}/g
const WHOLE = /^\d+$/

/**
 * A setting's value inside SQL: a whole number as it is, anything else as quoted literals, one per comma-separated
 * item.
 */
export function sqlValue(value: string): string {
  if (WHOLE.test(value.trim())) return value.trim()
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return items.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ') || 'NULL'
}

/**
 * Reads a checks file. Every mistake is reported with its line, all at once; the caller turns
 * them into exit 9 before anything is touched.
 */
export function loadChecks(file: string, settings: SettingLookup): { checks: Checks; problems: string[] } {
  const reader = new ChecksReader(file, settings)
  if (!existsSync(file))
    return {
      checks: reader.checks,
      problems: [`CHECKS_FILE ${file} does not exist (copy the default, ${KEYS.CHECKS_FILE[0]}, and edit it)`],
    }
  reader.read(readFileSync(file, 'utf8'))
  const { checks, problems } = reader
  if (!problems.length && checks.relations.length === 0)
    problems.push(`${file}: no check is on (each one's setting is empty); validate would prove nothing`)
  return { checks, problems }
}

/** The checks file's timeline alone, for the run page; null (and why) when there is none or it is wrong. */
export function readTimeline(file: string): { timeline: Timeline | null; problem?: string } {
  if (!existsSync(file)) return { timeline: null, problem: `${file} does not exist` }
  const reader = new ChecksReader(file, () => undefined)
  reader.read(readFileSync(file, 'utf8'), 'timeline')
  const { timeline } = reader.checks
  return reader.problems.length || !timeline
    ? { timeline: null, problem: reader.problems.join('; ') || `${file} has no timeline: section` }
    : { timeline }
}

class ChecksReader {
  readonly problems: string[] = []
  readonly checks: Checks
  private lines = new LineCounter()

  constructor(
    private file: string,
    private settings: SettingLookup,
  ) {
    this.checks = { file, relations: [], off: [], timeline: null }
  }

  private at(node: Node | null | undefined): string {
    return `${this.file}:${node?.range ? this.lines.linePos(node.range[0]).line : 1}`
  }

  /** The whole file; with `only: 'timeline'`, its timeline alone (the checks are not looked at). */
  read(text: string, only?: 'timeline') {
    const doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false })
    for (const e of doc.errors)
      this.problems.push(`${this.file}:${e.linePos?.[0].line ?? 1}: not valid YAML: ${e.message.split('\n')[0]}`)
    if (this.problems.length) return
    const top = doc.contents as Node | null
    const sections = isMap(top) && SECTIONS.some((s) => top.has(s)) ? top : null
    if (sections) {
      for (const pair of sections.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?'
        if (!SECTIONS.includes(key))
          this.problems.push(`${this.at(pair.key as Node)}: unknown section "${key}" (the file has ${SECTIONS})`)
      }
      if (sections.has('timeline')) this.timeline(sections.get('timeline', true) as Node)
    }
    if (only) return
    const list = sections ? (sections.get('checks', true) as Node | undefined) : top
    if (!isSeq(list))
      return void this.problems.push(
        `${this.at(list ?? top)}: the file must be a list of checks (each item starting with "- name:"), alone or ` +
          `under "checks:" beside "timeline:"`,
      )
    for (const item of list.items) {
      if (isMap(item)) this.check(item)
      else this.problems.push(`${this.at(item as Node)}: a check is a mapping with ${FIELDS.join(', ')}`)
    }
  }

  /** `timeline:`: the table, its columns and the queue, each a plain name. */
  private timeline(node: Node) {
    if (!isMap(node))
      return void this.problems.push(`${this.at(node)}: timeline is a mapping of ${TIMELINE_NEEDS.join(', ')}`)
    const before = this.problems.length
    const found: Record<string, string> = {}
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?'
      const value = isScalar(pair.value) ? String(pair.value.value ?? '').trim() : ''
      const where = this.at(pair.key as Node)
      const fields: string[] = [...TIMELINE_NEEDS, ...TIMELINE_MAY]
      const must = key === 'queue' ? 'a Redis key' : 'a plain name'
      if (!fields.includes(key)) this.problems.push(`${where}: unknown timeline field "${key}" (it has ${fields})`)
      else if (key === 'queue' ? !value : !(key === 'table' ? TABLE_NAME : COLUMN).test(value))
        this.problems.push(`${where}: timeline ${key} ${JSON.stringify(value)} must be ${must}`)
      else found[key] = value
    }
    for (const f of TIMELINE_NEEDS) if (!node.has(f)) this.problems.push(`${this.at(node)}: the timeline has no "${f}"`)
    if (this.problems.length === before) this.checks.timeline = found as unknown as Timeline
  }

  /** One check: its four fields, each checked; a check whose ${SETTING} is empty is off. */
  private check(item: YAMLMap) {
    const before = this.problems.length
    const field = (name: string) => item.get(name, true) as Node | undefined
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?'
      if (!FIELDS.includes(key))
        this.problems.push(`${this.at(pair.key as Node)}: unknown field "${key}" (a check has ${FIELDS.join(', ')})`)
    }
    for (const f of FIELDS) if (field(f) === undefined) this.problems.push(`${this.at(item)}: the check has no "${f}"`)
    if (this.problems.length > before) return
    const nameNode = field('name')!
    const name = isScalar(nameNode) ? String(nameNode.value ?? '').trim() : ''
    if (!name) this.problems.push(`${this.at(nameNode)}: "name" must be a sentence saying what holds`)
    const relNode = field('relation')!
    const op = isScalar(relNode) ? String(relNode.value) : ''
    if (!(RELATIONS as readonly string[]).includes(op))
      this.problems.push(
        `${this.at(relNode)}: relation ${JSON.stringify(op)} is not one of ${RELATIONS.join(' ')} (quote it: ` +
          `relation: "=")`,
      )
    const left = this.side(field('count')!, 'count', name)
    const right = this.side(field('other')!, 'other', name)
    if (left === 'off' || right === 'off') this.checks.off.push(`${name} (${this.offBy} is empty)`)
    else if (left && right && name && this.problems.length === before) {
      this.checks.relations.push({
        name: substitute(
          name,
          this.settings,
          () => {},
          (v) => v,
        ),
        left,
        op: op as Op,
        right,
        at: this.at(item),
      })
    }
  }

  private offBy = ''

  /** A side: "label: SELECT ..." (both sides), or a whole number or ${SETTING} (other only). */
  private side(node: Node, which: 'count' | 'other', name: string): Side | 'off' | null {
    if (isMap(node)) return this.query(node, which)
    if (which === 'other' && isScalar(node)) {
      const raw = String(node.value ?? '').trim()
      const whole = /^\$\{([A-Z][A-Z0-9_]*)\}$/.exec(raw)
      if (whole) return this.settingSide(node, whole[1])
      if (WHOLE.test(raw)) return { label: raw, value: Number(raw) }
    }
    this.problems.push(
      `${this.at(node)}: ${which} must be ${which === 'other' ? 'a whole number, ${SETTING} or ' : ''}a mapping ` +
        `"label: SELECT count(*) ..."`,
    )
    return null
  }

  private query(node: YAMLMap, which: string): Side | null {
    if (node.items.length !== 1)
      return (void this.problems.push(`${this.at(node)}: ${which} is one "label: SELECT ..." pair`), null)
    const [pair] = node.items
    const label = isScalar(pair.key) ? String(pair.key.value) : ''
    const sql = isScalar(pair.value) ? String(pair.value.value ?? '') : ''
    const bad = sqlProblem(sql)
    if (bad) return (void this.problems.push(`${this.at(pair.value as Node)}: ${which}: ${bad}`), null)
    const text = substitute(
      sql,
      this.settings,
      (k) =>
        this.problems.push(`${this.at(pair.value as Node)}: \${${k}} is not a setting of the suite (see .env.example)`),
      sqlValue,
    )
    return {
      label: substitute(
        label,
        this.settings,
        () => {},
        (v) => v,
      ),
      sql: text,
      at: this.at(pair.key as Node),
    }
  }

  /** ${SETTING} as the whole of `other`: compared as a number; empty turns the check off. */
  private settingSide(node: Node, key: string): Side | 'off' | null {
    const value = this.settings(key)
    if (value === undefined)
      this.problems.push(`${this.at(node)}: \${${key}} is not a setting of the suite (see .env.example)`)
    else if (value.trim() === '') return ((this.offBy = key), 'off')
    else if (!WHOLE.test(value.trim()))
      this.problems.push(`${this.at(node)}: ${key}=${JSON.stringify(value)} must be a whole number to be compared`)
    else return { label: key, value: Number(value) }
    return null
  }
}

/** Why a count's SQL cannot be used: it must be one read-only SELECT (or WITH) returning one number. */
function sqlProblem(sql: string): string | null {
  const text = sql.trim()
  if (!/^(select|with)\b/i.test(text)) return 'the SQL must be one SELECT (or WITH ... SELECT) returning one number'
  if (text.replace(/'(?:[^']|'')*'/g, "''").includes(';')) return 'the SQL must be one statement, without ";"'
  return null
}

function substitute(
  text: string,
  settings: SettingLookup,
  unknown: (key: string) => void,
  render: (value: string) => string,
): string {
  return text.replace(SETTING, (_, key: string) => {
    const value = settings(key)
    if (value === undefined) {
      unknown(key)
      return ''
    }
    return render(value)
  })
}

/** One read-only query for every count: SELECT (q0)::int AS l0, ... */
export function relationsSql(list: Relation[]): { sql: string; columns: string[] } {
  const columns: string[] = []
  const parts: string[] = []
  for (const [i, r] of list.entries()) {
    for (const [side, s] of [
      ['l', r.left],
      ['r', r.right],
    ] as const) {
      if (s.sql === undefined) continue
      const col = `${side}${i}`
      columns.push(col)
      parts.push(`(${s.sql})::bigint AS ${col}`)
    }
  }
  return { sql: `SELECT ${parts.join(', ')}`, columns }
}

export interface Checked extends CheckResult {
  relation: string
  values: string
}

const HOLDS: Record<Op, (l: number, r: number) => boolean> = {
  '=': (l, r) => l === r,
  '!=': (l, r) => l !== r,
  '>=': (l, r) => l >= r,
  '<=': (l, r) => l <= r,
  '>': (l, r) => l > r,
  '<': (l, r) => l < r,
}
const BROKEN: Record<Op, string> = { '=': '≠', '!=': '=', '>=': '<', '<=': '>', '>': '≤', '<': '≥' }

/** Each relation with both sides' values and whether it holds. */
export function judge(list: Relation[], row: Record<string, number | string>): Checked[] {
  return list.map((r, i) => {
    const l = r.left.sql !== undefined ? Number(row[`l${i}`]) : r.left.value!
    const v = r.right.sql !== undefined ? Number(row[`r${i}`]) : r.right.value!
    const ok = HOLDS[r.op](l, v)
    const relation = `${r.left.label} ${r.op} ${r.right.label}`
    const values = `${l} ${ok ? r.op : BROKEN[r.op]} ${v}`
    return { name: r.name, ok, relation, values, detail: `${relation}: ${values}` }
  })
}

/** A check's place for a person: the file as seen from here, and the line. */
const shownAt = (at: string) => {
  const [, file, line] = /^(.*):(\d+)$/.exec(at) ?? [at, at, '']
  return `${path.relative(process.cwd(), file) || file}${line ? `:${line}` : ''}`
}

const refusedWrite = (e: unknown): e is DbError => e instanceof DbError && e.code === READ_ONLY_TRANSACTION

/** Checks that tried to write: PostgreSQL refused them in a READ ONLY transaction; nothing was written. */
export class ChecksWrite extends Error {
  constructor(readonly found: string[]) {
    super(found.join('\n'))
  }
}

/**
 * Which sides tried to write: each query run alone in its own READ ONLY transaction (so running it
 * changes nothing), those PostgreSQL refused named by their line: "checks/x.yaml:12: count 'n'
 * tried to write (PostgreSQL refused: cannot execute setval() in a read-only transaction); a check
 * must only read".
 */
export async function writingChecks(db: Pick<Database, 'rows'>, list: Relation[]): Promise<string[]> {
  const found: string[] = []
  for (const r of list)
    for (const [which, side] of [
      ['count', r.left],
      ['other', r.right],
    ] as const) {
      if (side.sql === undefined) continue
      const refused = await db.rows(`SELECT (${side.sql})::bigint AS n`).then(
        () => null,
        (e: unknown) => (refusedWrite(e) ? e : null),
      )
      if (refused)
        found.push(
          `${shownAt(side.at ?? r.at)}: ${which} '${side.label}' tried to write (PostgreSQL refused: ` +
            `${refused.said}); a check must only read`,
        )
    }
  return found
}

/**
 * Every count in one query, which the database runs read-only (Database.rows). A check that tries
 * to write is refused there: the error names each such check by its line (ChecksWrite).
 */
export async function countChecks(db: Pick<Database, 'rows'>, list: Relation[]): Promise<Record<string, number>> {
  try {
    const [row] = await db.rows<Record<string, number>>(relationsSql(list).sql)
    return row
  } catch (e) {
    if (!refusedWrite(e)) throw e
    const found = await writingChecks(db, list)
    throw new ChecksWrite(
      found.length ? found : [`a check tried to write (PostgreSQL refused: ${e.said}); a check must only read`],
    )
  }
}
