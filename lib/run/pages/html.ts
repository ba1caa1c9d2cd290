// What the run page and the history page share: one self-contained HTML file each, readable from
// file:// with no network and no server. The charting library (Observable Plot, on d3) is inlined
// from its npm packages; a Content-Security-Policy forbids the page any request; the data is one
// JSON block the page's own drawing script reads.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The browser bundle a package names for <script> use (its `unpkg` field), with its name and version. */
function bundleOf(name: string): { code: string; about: string } {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)))
  for (;;) {
    const file = path.join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; version: string; unpkg?: string }
      if (pkg.name === name && pkg.unpkg)
        return { code: readFileSync(path.join(dir, pkg.unpkg), 'utf8'), about: `${name} ${pkg.version}` }
    }
    if (path.dirname(dir) === dir) throw new Error(`no browser bundle (unpkg) found for the package ${name}`)
    dir = path.dirname(dir)
  }
}

let libraries: { code: string; about: string }[] | undefined
/** d3, then Observable Plot (its UMD bundle takes d3 from the page), read once per process. */
const chartLibraries = () => (libraries ??= [bundleOf('d3'), bundleOf('@observablehq/plot')])

/** The page's own drawing script: what both pages share, then its own (plain browser scripts beside this file). */
export const drawingScript = (name: 'draw-run.js' | 'draw-history.js') =>
  ['draw-common.js', name]
    .map((f) => readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), f), 'utf8'))
    .join('\n')

/** Text for HTML, in an element or an attribute. */
export function esc(text: unknown): string {
  return String(text ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** A table from a header row (none when empty) and body rows of HTML cells (already escaped). */
export function htmlTable(head: string[], rows: string[][], className = ''): string {
  const tr = (cells: string[], tag: string) => `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`
  return (
    `<table${className ? ` class="${className}"` : ''}>${head.length ? `<thead>${tr(head, 'th')}</thead>` : ''}` +
    `<tbody>${rows.map((r) => tr(r, 'td')).join('')}</tbody></table>`
  )
}

/** A link from a page in `fromDir` to a file or folder, relative (the folder can move with what it links to). */
export function linkTo(fromDir: string, target: string, text: string): string {
  const rel = path.relative(fromDir, target).split(path.sep).map(encodeURIComponent).join('/')
  return `<a href="${esc(rel)}">${esc(text)}</a>`
}

/** JSON inside <script type="application/json">: no "<" can close the element. */
const scriptJson = (data: unknown) => JSON.stringify(data).replace(/</g, '\\u003c')

const STYLE = `
:root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; }
body { margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; }
.note { color: #57606a; } .passed { color: #1a7f37; } .failed { color: #cf222e; }
.verdict { font-size: 18px; font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0; }
td, th { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { border-bottom: 1px solid #d0d7de; font-weight: 600; } tr + tr td { border-top: 1px solid #eaeef2; }
.facts td:first-child { color: #57606a; } code, pre { font: 12.5px ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
.chart { margin: 4px 0 12px; } .chart svg { overflow: visible; } footer { margin-top: 32px; color: #57606a; }
`

/**
 * A whole page: the body's HTML, the data for the drawing script, the script itself. No request of
 * any kind is allowed to the page (CSP): what it shows is in the file.
 */
export function page(title: string, body: string, data: unknown, script: string): string {
  const libs = chartLibraries()
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; ` +
      `style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title><style>${STYLE}</style></head><body>`,
    body,
    `<footer>Written by reset-and-test; charts by ${libs.map((l) => esc(l.about)).join(' and ')}, inlined.</footer>`,
    ...libs.map((l) => `<script>/* ${l.about} */\n${l.code}\n</script>`),
    `<script type="application/json" id="data">${scriptJson(data)}</script>`,
    `<script>\n${script}\n</script>`,
    '</body></html>',
    '',
  ].join('\n')
}
