// The history of the runs on this machine, reports/index.html: each run's phases as stacked bars
// of seconds, passed or failed, the runs of one --repeat together, and the trend of the slowest
// phase; a table links each run's page. Built from the runs' report.json files; the view is pure.
import { drawingScript, esc, htmlTable, page } from './html.ts'
import { verdictOf, type RunReport, type Series } from './run-page.ts'

/** What the history keeps of a run. */
export interface HistoryRun {
  id: string
  startedAt: string
  exitCode: number
  verdict: string
  durationMs: number
  /** The phases that ran (of the seven), in order, with their seconds. */
  phases: { name: string; seconds: number }[]
  series?: Series
}

/** A run's id: the time it started, as a folder name (2026-12-04T21-33-05-123Z); -2, -3 ... if taken. */
export const RUN_ID = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z(-\d+)?$/
export const runIdOf = (ms: number) => new Date(ms).toISOString().replace(/[:.]/g, '-')

export function historyRun(r: RunReport): HistoryRun {
  return {
    id: r.runId,
    startedAt: r.startedAt,
    exitCode: r.exitCode,
    verdict: verdictOf(r),
    durationMs: r.durationMs,
    phases: r.phases
      .filter((p) => p.number > 0 && p.status !== 'not run')
      .map((p) => ({ name: p.name, seconds: p.durationMs / 1000 })),
    ...(r.series ? { series: r.series } : {}),
  }
}

/** The run folders to delete so that `keep` remain: the oldest (ids sort by time). */
export function toPrune(ids: string[], keep: number): string[] {
  const runs = ids.filter((id) => RUN_ID.test(id)).sort()
  return runs.slice(0, Math.max(0, runs.length - keep))
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export interface HistoryView {
  runs: { i: number; id: string; label: string; passed: boolean; total: number; verdict: string }[]
  /** The stacked bars: each phase of each run from y1 to y2 seconds. */
  segments: { i: number; phase: string; y1: number; y2: number }[]
  phaseOrder: string[]
  /** The runs of each --repeat: from the first to the last index. */
  series: { first: number; last: number; label: string }[]
  /** The phase with the highest median, run by run. */
  slowest: { phase: string; points: { i: number; seconds: number; passed: boolean }[] } | null
}

/** "12-04 21:33:05" from a run id. */
const labelOf = (id: string) => id.replace(/^\d{4}-(\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d).*$/, '$1 $2:$3:$4')

export function historyView(history: HistoryRun[], phaseOrder: string[]): HistoryView {
  const runs = [...history].sort((a, b) => (a.id < b.id ? -1 : 1))
  const view: HistoryView = { runs: [], segments: [], phaseOrder, series: [], slowest: null }
  for (const [i, r] of runs.entries()) {
    let y = 0
    for (const name of phaseOrder) {
      const p = r.phases.find((x) => x.name === name)
      if (p) view.segments.push({ i, phase: name, y1: y, y2: (y += p.seconds) })
    }
    view.runs.push({ i, id: r.id, label: labelOf(r.id), passed: r.exitCode === 0, total: y, verdict: r.verdict })
    const s = r.series
    const last = view.series[view.series.length - 1]
    if (s && last && runs[last.first].series?.id === s.id) last.last = i
    else if (s) view.series.push({ first: i, last: i, label: `--repeat ${s.of ?? '--until-fail'}` })
  }
  const medians = phaseOrder
    .map((phase) => ({ phase, values: view.segments.filter((x) => x.phase === phase).map((x) => x.y2 - x.y1) }))
    .filter((m) => m.values.length)
    .map((m) => ({ ...m, median: median(m.values) }))
    .sort((a, b) => b.median - a.median)
  if (medians.length) {
    const phase = medians[0].phase
    view.slowest = {
      phase,
      points: view.segments
        .filter((x) => x.phase === phase)
        .map((x) => ({ i: x.i, seconds: x.y2 - x.y1, passed: view.runs[x.i].passed })),
    }
  }
  return view
}

/** The history page: the charts, then a row per run (newest first) with a link to its page. */
export function historyHtml(history: HistoryRun[], phaseOrder: string[], keep: number): string {
  const view = historyView(history, phaseOrder)
  const passed = view.runs.filter((r) => r.passed).length
  const rows = [...history]
    .sort((a, b) => (a.id < b.id ? 1 : -1))
    .map((r) => [
      `<a href="${esc(r.id)}/index.html">${esc(r.id)}</a>`,
      `<span class="${r.exitCode === 0 ? 'passed' : 'failed'}">${esc(r.verdict)}</span>`,
      r.series ? esc(`${r.series.run} of ${r.series.of ?? '…'}`) : '',
      ...phaseOrder.map((name) => {
        const p = r.phases.find((x) => x.name === name)
        return p ? p.seconds.toFixed(2) : ''
      }),
      (r.durationMs / 1000).toFixed(1),
    ])
  const body = [
    '<h1>reset-and-test: the runs on this machine</h1>',
    `<p id="summary">${view.runs.length} runs, ${passed} passed, ${view.runs.length - passed} failed ` +
      `<span class="note">(the last ${keep} are kept: REPORT_KEEP)</span></p>`,
    '<h2>Seconds per phase, run by run</h2>',
    '<p class="note">A bar per run, a segment per phase; the mark above it says passed (green) or failed (red); ' +
      'a grey band holds the runs of one <code>--repeat</code>.</p>',
    '<div class="chart" id="runs"></div>',
    view.slowest
      ? `<h2>The slowest phase, ${esc(view.slowest.phase)}, run by run</h2><div class="chart" id="slowest"></div>`
      : '',
    '<h2>Every run</h2>',
    htmlTable(['run', 'verdict', '--repeat', ...phaseOrder.map(esc), 'total s'], rows, 'runs'),
  ].join('\n')
  return page(`reset-and-test: ${view.runs.length} runs`, body, view, drawingScript('draw-history.js'))
}
