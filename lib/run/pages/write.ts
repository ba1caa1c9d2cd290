// The files of the pages: a folder per run under REPORT_DIR (report.json and index.html), the
// oldest folders beyond REPORT_KEEP deleted, and the history page (index.html) written again from
// the folders that remain. Only folders named like a run id with a report.json are ever touched.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { PHASE_NAMES } from '../registry.ts'
import { historyHtml, historyRun, RUN_ID, runIdOf, toPrune, type HistoryRun } from './history.ts'
import { runPageHtml, type RunReport } from './run-page.ts'

/** A new folder for a run that started at `startedMs`, named by that time (made here, so no two runs share it). */
export function claimRunDir(dir: string, startedMs: number): { id: string; dir: string } {
  mkdirSync(dir, { recursive: true })
  const base = runIdOf(startedMs)
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`
    try {
      mkdirSync(path.join(dir, id))
      return { id, dir: path.join(dir, id) }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
  }
}

/** Written beside, then renamed: a browser reading the file never sees half of it. */
function writeWhole(file: string, text: string) {
  writeFileSync(`${file}.tmp-${process.pid}`, text)
  renameSync(`${file}.tmp-${process.pid}`, file)
}

/** The runs under `dir` (each folder's report.json), oldest first; a folder without a readable one is skipped. */
export function readHistory(dir: string): HistoryRun[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((id) => RUN_ID.test(id) && existsSync(path.join(dir, id, 'report.json')))
    .sort()
    .flatMap((id) => {
      try {
        return [historyRun(JSON.parse(readFileSync(path.join(dir, id, 'report.json'), 'utf8')) as RunReport)]
      } catch {
        return []
      }
    })
}

/**
 * The run's folder gets its report (`json`, the masked text of `report`) and its page; then the
 * history is pruned to `keep` runs and written again. Returns the two pages.
 */
export function writePages(dir: string, keep: number, runDir: string, json: string): { page: string; history: string } {
  const report = JSON.parse(json) as RunReport
  writeFileSync(path.join(runDir, 'report.json'), json)
  const page = path.join(runDir, 'index.html')
  writeWhole(page, runPageHtml(report, runDir))
  const withReports = readdirSync(dir).filter((id) => existsSync(path.join(dir, id, 'report.json')))
  for (const id of toPrune(withReports, keep)) rmSync(path.join(dir, id), { recursive: true, force: true })
  const history = path.join(dir, 'index.html')
  writeWhole(history, historyHtml(readHistory(dir), PHASE_NAMES, keep))
  return { page, history }
}
