// The page of one run, reports/<run id>/index.html, from the run's report: the verdict and what
// chose the run (target, restart mode, the settings that differ from their defaults), the phases
// on a time line with the steps their ✓ lines mark, the app's work (its jobs as bars grouped and
// coloured as the checks file's timeline says, the jobs finished per second, the queue's length),
// the checks, the errors logged, and links to the saved output and the diagnostics. Everything but
// the writing of the file is pure: the unit tests build pages from a report.
import path from 'node:path'
import type { FindingsSummary } from '../../app/log-findings.ts'
import type { JobBar, Work } from '../../app/work.ts'
import { KEYS, type Config, type Key } from '../../config/config.ts'
import type { DestructionPlan } from '../../safety/plan.ts'
import { EXIT_MEANINGS, type ExitCode } from '../../util/exits.ts'
import type { PhaseReport } from '../loop.ts'
import { drawingScript, esc, htmlTable, linkTo, page } from './html.ts'

/** Runs of one --repeat share a series: its first run's id, this run's number, how many were asked for. */
export interface Series {
  id: string
  run: number
  /** null with --until-fail alone. */
  of: number | null
}

export interface ChangedSetting {
  key: string
  value: string
  /** Where it came from: a flag, an RT_ variable, the suite's .env. */
  from: string
}

/** What a run leaves: the JSON report (--json, and reports/<run id>/report.json) and the page's data. */
export interface RunReport {
  script: string
  dryRun: boolean
  exitCode: number
  startedAt: string
  durationMs: number
  target: string
  plan: DestructionPlan | null
  phases: PhaseReport[]
  diagnostics?: string
  /** What a person must see whatever the verdict (a container that stopped during the test). */
  notes?: string[]
  runId: string
  series?: Series
  restartMode: string
  /** The phase that failed or was interrupted. */
  stopped?: string
  settings: ChangedSetting[]
  testLog?: string
  findings?: FindingsSummary
  work?: Work
}

/** Settings whose values are secrets: the page says they are set, never what they are. */
const SECRET_KEY = /PASSWORD/

/** The settings whose value is not the default, with where each came from. */
export function changedSettings(config: Pick<Config, 'values' | 'sources'>): ChangedSetting[] {
  return (Object.keys(KEYS) as Key[])
    .filter((k) => config.values[k] !== undefined && config.values[k] !== KEYS[k][0].trim())
    .map((k) => ({
      key: k,
      value: SECRET_KEY.test(k) ? '(set, not shown)' : config.values[k],
      from: config.sources[k] ?? 'unknown',
    }))
}

export const verdictOf = (r: Pick<RunReport, 'exitCode' | 'stopped'>): string =>
  r.exitCode === 0
    ? 'passed'
    : `failed: exit ${r.exitCode} (${EXIT_MEANINGS[r.exitCode as ExitCode] ?? 'unknown'})` +
      `${r.stopped ? `, in ${r.stopped}` : ''}`

export interface PhaseBar {
  label: string
  status: PhaseReport['status']
  /** Seconds since the run started. */
  start: number
  end: number
}

export interface StepBar {
  phase: string
  start: number
  end: number
  text: string
  /** Its place in the phase, for alternating colours. */
  index: number
}

export const phaseLabel = (p: Pick<PhaseReport, 'number' | 'name'>) => (p.number ? `${p.number} ${p.name}` : p.name)

/** The phases that ran as bars from start to end, and the steps their ✓ lines mark (each ends at its mark). */
export function phaseBars(report: Pick<RunReport, 'startedAt' | 'phases'>): { bars: PhaseBar[]; steps: StepBar[] } {
  const t0 = Date.parse(report.startedAt)
  const s = (ms: number) => (ms - t0) / 1000
  const bars: PhaseBar[] = []
  const steps: StepBar[] = []
  for (const p of report.phases) {
    if (p.startedAt === undefined || p.status === 'not run') continue
    const label = phaseLabel(p)
    bars.push({ label, status: p.status, start: s(p.startedAt), end: s(p.startedAt + p.durationMs) })
    let from = p.startedAt
    for (const [index, mark] of (p.steps ?? []).entries()) {
      steps.push({ phase: label, start: s(from), end: s(mark.at), text: mark.text, index })
      from = mark.at
    }
  }
  return { bars, steps }
}

/** A job on the page: seconds since the run started, its row, its colour's name. */
export interface JobMark {
  start: number
  end: number
  row: number
  kind: string
  title: string
}

export interface WorkView {
  jobs: JobMark[]
  /** Each group's band of rows, for the axis: its label at `mid`. */
  groups: { label: string; title: string; first: number; rows: number; mid: number }[]
  rows: number
  /** Jobs that ended in each second (those with an end). */
  finished: { at: number; n: number }[]
  queue: { at: number; length: number }[] | null
  /** The seconds the three charts share. */
  domain: [number, number]
  test: [number, number]
}

/**
 * Each job into the first row of its group that is free when it starts (rows sorted by start): a
 * group is as many rows high as it ran jobs at once. Returns each bar's row within its group.
 */
export function packRows(bars: Pick<JobBar, 'start' | 'end'>[]): { rows: number[]; height: number } {
  const order = bars.map((_, i) => i).sort((a, b) => bars[a].start - bars[b].start || a - b)
  const ends: number[] = []
  const rows = new Array<number>(bars.length)
  for (const i of order) {
    let row = ends.findIndex((end) => end <= bars[i].start)
    if (row < 0) row = ends.push(0) - 1
    ends[row] = Math.max(bars[i].end, bars[i].start)
    rows[i] = row
  }
  return { rows, height: ends.length }
}

/** A group's value as an axis label: long ids (a UUID) cut to their first 8 characters. */
export const groupLabel = (value: string) => (value.length > 12 ? `${value.slice(0, 8)}…` : value || '(none)')

/** Jobs that ended, counted per whole second since the run started. */
export function finishedPerSecond(jobs: { end: number; done: boolean }[], t0: number): { at: number; n: number }[] {
  const bins = new Map<number, number>()
  for (const j of jobs.filter((x) => x.done)) {
    const second = Math.floor((j.end - t0) / 1000)
    bins.set(second, (bins.get(second) ?? 0) + 1)
  }
  return [...bins].sort(([a], [b]) => a - b).map(([at, n]) => ({ at, n }))
}

/** The work as the charts draw it: groups in the order they started, each job in a row of its group. */
export function workView(work: Work, startedAt: string): WorkView {
  const t0 = Date.parse(startedAt)
  const s = (ms: number) => (ms - t0) / 1000
  const byGroup = new Map<string, JobBar[]>()
  for (const j of work.jobs) byGroup.get(j.group)?.push(j) ?? byGroup.set(j.group, [j])
  const firstStart = (list: JobBar[]) => Math.min(...list.map((j) => j.start))
  const groups: WorkView['groups'] = []
  const jobs: JobMark[] = []
  let next = 0
  for (const [value, list] of [...byGroup].sort(([, a], [, b]) => firstStart(a) - firstStart(b))) {
    const { rows, height } = packRows(list)
    groups.push({
      label: groupLabel(value),
      title: `${value}: ${list.length} jobs`,
      first: next,
      rows: height,
      mid: next + height / 2,
    })
    for (const [i, j] of list.entries())
      jobs.push({
        start: s(j.start),
        end: s(j.end),
        row: next + rows[i],
        kind: `${j.type} ${j.status}`,
        title:
          `${j.type} ${j.status}${j.done ? '' : ' (no end: to its last update)'}\n${value}\n` +
          `${new Date(j.start).toISOString()} → ${((j.end - j.start) / 1000).toFixed(2)} s`,
      })
    next += height
  }
  const queue = work.queue ? work.queue.samples.map((q) => ({ at: s(q.at), length: q.value })) : null
  const times = [s(work.test.startedAt), s(work.test.endedAt), ...jobs.flatMap((j) => [j.start, j.end])]
  return {
    jobs,
    groups,
    rows: next,
    finished: finishedPerSecond(work.jobs, t0),
    queue,
    domain: [Math.min(...times), Math.max(...times)],
    test: [s(work.test.startedAt), s(work.test.endedAt)],
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** The run's facts, the settings that chose it, and the links to what it saved. */
function headerHtml(r: RunReport, pageDir: string): string {
  const passed = r.exitCode === 0
  const facts: [string, string][] = [
    ['exit code', esc(r.exitCode)],
    ['target', esc(r.target)],
    ['restart mode', esc(r.restartMode)],
    ['started', `${esc(r.startedAt)}, took ${seconds(r.durationMs)}`],
    ['script', esc(r.script)],
  ]
  if (r.series) facts.push(['--repeat', `run ${r.series.run} of ${r.series.of ?? '(until one fails)'}`])
  const links = [
    r.testLog && linkTo(pageDir, r.testLog, `the test's output (${r.testLog.split(/[\\/]/).pop()})`),
    r.findings && linkTo(pageDir, r.findings.saved, 'every error the log holds (JSON)'),
    r.diagnostics && linkTo(pageDir, r.diagnostics, `the diagnostics folder (${r.diagnostics.split(/[\\/]/).pop()})`),
    r.diagnostics && linkTo(pageDir, path.join(r.diagnostics, 'error.txt'), 'its error.txt'),
    '<a href="report.json">this run\'s JSON report</a>',
    '<a href="../index.html">the history of runs</a>',
  ].filter(Boolean)
  const settings = r.settings.length
    ? htmlTable(
        ['setting', 'value', 'from'],
        r.settings.map((s) => [`<code>${esc(s.key)}</code>`, `<code>${esc(s.value)}</code>`, esc(s.from)]),
      )
    : '<p class="note">every setting has its default value</p>'
  return [
    `<h1>reset-and-test run ${esc(r.runId)}</h1>`,
    `<p class="verdict ${passed ? 'passed' : 'failed'}" id="verdict">${passed ? '✓' : '✗'} ${esc(verdictOf(r))}` +
      '</p>',
    ...r.phases.filter((p) => p.error).map((p) => `<p class="failed error">${esc(phaseLabel(p))}: ${esc(p.error)}</p>`),
    ...(r.notes ?? []).map((n) => `<p class="failed note">${esc(n)}</p>`),
    htmlTable([], facts, 'facts'),
    `<p>${links.join(' · ')}</p>`,
    '<h2>Settings that differ from their defaults</h2>',
    settings,
  ].join('\n')
}

/** The checks as validate printed them, then the errors logged: the test's, then the reset's. */
function resultsHtml(r: RunReport): string {
  const checks = r.phases.flatMap(
    (p) => p.checks as (PhaseReport['checks'][number] & { relation?: string; values?: string })[],
  )
  const parts = ['<h2>Checks</h2>']
  parts.push(
    checks.length
      ? htmlTable(
          ['check', 'relation', 'values', 'result'],
          checks.map((c) => [
            esc(c.name),
            esc(c.relation ?? ''),
            esc(c.values ?? c.detail),
            c.ok ? '<span class="passed">ok</span>' : '<span class="failed">FAILED</span>',
          ]),
          'checks',
        )
      : '<p class="note">no check ran (validate did not run, or stopped before its checks)</p>',
  )
  parts.push('<h2>Errors the app logged</h2>')
  const f = r.findings
  if (!f) parts.push('<p class="note">the log was not read (validate did not run)</p>')
  else {
    const group = (title: string, g: FindingsSummary['test'], judged: string) =>
      `<h3>${esc(title)}: ${g.count}</h3>` +
      (g.count ? `<p class="note">${judged}</p><pre>${esc(g.lines.join('\n'))}</pre>` : '<p class="note">none</p>')
    parts.push(group(`Logged ${f.label}`, f.test, 'judged with STRICT_LOGS'))
    parts.push(group('Logged during the reset', f.reset, 'not judged: restarted workers log them'))
  }
  return parts.join('\n')
}

/** The chart areas the drawing script fills; what is missing says why. */
function chartsHtml(r: RunReport): string {
  const w = r.work
  const test = r.phases.find((p) => p.name === 'run-test')
  const why =
    !test || test.status === 'not run' ? 'the test did not run' : 'run-test saw no timeline in the checks file'
  const parts = [
    '<h2>Phases</h2>',
    '<p class="note">Each phase from its start to its end; the thin bars under a phase are its steps, each ending at ' +
      'one of its ✓ lines (hover for the line).</p>',
    '<div class="chart" id="phases"></div>',
    "<h2>The app's work</h2>",
  ]
  if (!w) return [...parts, `<p class="note">nothing to show: ${esc(why)}</p>`].join('\n')
  const drawn = w.jobs.length < w.total ? `the first ${w.jobs.length} of ${w.total} rows by start` : `${w.total} rows`
  parts.push(
    `<p class="note" id="work-note">${esc(w.table)}: ${esc(drawn)}, each a bar from its start to its end ` +
      "(to its last update when it has none), grouped and coloured as the checks file's timeline says; " +
      `read after the test.${w.note ? ` ${esc(w.note)}` : ''}</p>`,
    '<div class="chart" id="jobs"></div>',
    '<h3>Jobs finished per second</h3><div class="chart" id="finished"></div>',
    `<h3>Queue length${w.queue ? ` (<code>${esc(w.queue.key)}</code>, read every second during the test)` : ''}</h3>`,
    w.queue
      ? `<div class="chart" id="queue"></div>${w.queue.note ? `<p class="note">${esc(w.queue.note)}</p>` : ''}`
      : '<p class="note">not sampled: the timeline names no queue</p>',
  )
  return parts.join('\n')
}

/** The whole page of a run whose folder is `pageDir`. */
export function runPageHtml(r: RunReport, pageDir: string): string {
  const { bars, steps } = phaseBars(r)
  const data = {
    phases: bars,
    steps,
    phaseOrder: r.phases.map(phaseLabel),
    work: r.work ? workView(r.work, r.startedAt) : null,
  }
  const body = [headerHtml(r, pageDir), chartsHtml(r), resultsHtml(r)].join('\n')
  return page(`run ${r.runId}: ${verdictOf(r)}`, body, data, drawingScript('draw-run.js'))
}
