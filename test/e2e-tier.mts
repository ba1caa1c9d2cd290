// The e2e tier on two stacks at once. Most of its time is spent waiting on containers, not on the
// two cores, so the files in BESIDE run in a copy of the suite (.state/e2e-beside) whose example has
// a project name, ports and images of its own, while the rest run on the example; the files in LAST
// (the Docker engine restart, and the bystander's final check, which reads every file both wrote)
// run after both, alone. Each run prints its own summary and writes its own JUnit file; a last line
// adds them up. Exit 1 when any run failed.
//   usage: node --import tsx test/e2e-tier.mts [--serial]   (--serial: every file in one run, on the example)
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { BESIDE_ROOT, run } from './e2e/stack.ts'

/** The heaviest files that need no more than a stack of their own (about half the tier's time). */
const BESIDE = 'test/e2e/(03-verdict|06-interrupt|07-config|11-in-place)\\.'
/** Files that must see the whole machine quiet: the engine restart stops every container. */
const LAST = 'test/e2e/(zz-bystander|zzz-engine-restart)\\.'
/** The copy's example: its own project (and so its own image names) and host ports, below the ephemeral range. */
const BESIDE_ENV = {
  COMPOSE_PROJECT_NAME: 'reset-and-test-example-beside',
  POSTGRES_HOST_PORT: '25433',
  REDIS_HOST_PORT: '26380',
  API_HOST_PORT: '28001',
  FLOWER_HOST_PORT: '25556',
}
const REPORTS = path.join(SUITE_ROOT, 'reports')

/**
 * The suite copied as it is on disk (edits included), without what runs leave; node_modules shared.
 * Timestamps are kept: a newer package.json would make make run `npm ci` in the shared node_modules.
 */
function copySuite(): void {
  rmSync(BESIDE_ROOT, { recursive: true, force: true })
  mkdirSync(BESIDE_ROOT, { recursive: true })
  const left = new Set(['node_modules', '.git', '.state', 'logs', 'reports', 'diagnostics', 'backups'].map((d) => path.join(SUITE_ROOT, d)))
  const exampleLogs = path.join(SUITE_ROOT, 'example', 'logs')
  for (const name of readdirSync(SUITE_ROOT)) {
    const src = path.join(SUITE_ROOT, name)
    if (left.has(src)) continue
    cpSync(src, path.join(BESIDE_ROOT, name), { recursive: true, preserveTimestamps: true, filter: (f) => !f.startsWith(`${exampleLogs}${path.sep}`) || f.endsWith('.gitkeep') })
  }
  symlinkSync(path.join(SUITE_ROOT, 'node_modules'), path.join(BESIDE_ROOT, 'node_modules'))
  const envFile = path.join(BESIDE_ROOT, 'example', '.env')
  let text = readFileSync(envFile, 'utf8')
  for (const [k, v] of Object.entries(BESIDE_ENV)) {
    const line = new RegExp(`^${k}=.*$`, 'm')
    if (!line.test(text)) throw new Error(`example/.env has no ${k}= line to change for the copy`)
    text = text.replace(line, `${k}=${v}`)
  }
  writeFileSync(envFile, text)
}

/**
 * Containers of the copy's project that another checkout made (an earlier clone's copy) would make
 * the suite refuse, rightly, to touch them; the project is this tier's own, so they go (volumes stay).
 */
async function removeForeignCopies(): Promise<void> {
  const label = 'com.docker.compose.project'
  const ids = (await run(['docker', 'ps', '-aq', '--filter', `label=${label}=${BESIDE_ENV.COMPOSE_PROJECT_NAME}`])).stdout.split('\n').filter(Boolean)
  const mine = path.join(BESIDE_ROOT, 'example')
  for (const id of ids) {
    const dir = (await run(['docker', 'inspect', '-f', '{{index .Config.Labels "com.docker.compose.project.working_dir"}}', id])).stdout.trim()
    if (dir !== mine) await run(['docker', 'rm', '-f', id])
  }
}

/** One test/run.mts in a suite root; its lines prefixed when it runs beside another. */
function tier(root: string, name: string, filter: string[], prefix = ''): Promise<number> {
  const argv = ['--import', 'tsx', 'test/run.mts', '--require-harness', '--bail', '--tier', name, '--junit', path.join(REPORTS, `junit-${name}.xml`), ...filter, 'test/e2e']
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', prefix ? 'pipe' : 'inherit', prefix ? 'pipe' : 'inherit'] })
  if (prefix) {
    for (const [from, to] of [[child.stdout!, process.stdout], [child.stderr!, process.stderr]] as const) {
      let rest = ''
      from.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n')
        rest = lines.pop()!
        for (const l of lines) to.write(`${prefix}${l}\n`)
      })
      from.on('end', () => rest && to.write(`${prefix}${rest}\n`))
    }
  }
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)))
}

/** Tests and failures in a JUnit file the runner wrote. */
function junitCounts(name: string): { tests: number; failed: number } {
  const file = path.join(REPORTS, `junit-${name}.xml`)
  if (!existsSync(file)) return { tests: 0, failed: 0 }
  const xml = readFileSync(file, 'utf8')
  return { tests: (xml.match(/<testcase\b/g) ?? []).length, failed: (xml.match(/<(failure|error)\b/g) ?? []).length }
}

const t0 = Date.now()
mkdirSync(REPORTS, { recursive: true })
// An earlier run's files would be counted below, and read for passwords by the bystander's check.
for (const name of ['e2e', 'e2e-beside', 'e2e-last']) rmSync(path.join(REPORTS, `junit-${name}.xml`), { force: true })
let runs: { name: string; code: number }[]
if (process.argv.includes('--serial')) {
  runs = [{ name: 'e2e', code: await tier(SUITE_ROOT, 'e2e', []) }]
} else {
  copySuite()
  await removeForeignCopies()
  console.log(`==> e2e: ${BESIDE} beside the rest, in ${path.relative(SUITE_ROOT, BESIDE_ROOT)} (project ${BESIDE_ENV.COMPOSE_PROJECT_NAME}); then ${LAST}`)
  const [main, beside] = await Promise.all([
    tier(SUITE_ROOT, 'e2e', ['--skip', `${BESIDE}|${LAST}`]),
    tier(BESIDE_ROOT, 'e2e-beside', ['--match', BESIDE], '[beside] '),
  ])
  // The copy's stack goes before the engine restart and the tiers after this one; its volume stays.
  await run(['docker', 'compose', '--project-directory', path.join(BESIDE_ROOT, 'example'), 'down', '--timeout', '1'], { allowFailure: true, timeoutMs: 300_000 })
  runs = [{ name: 'e2e', code: main }, { name: 'e2e-beside', code: beside }, { name: 'e2e-last', code: await tier(SUITE_ROOT, 'e2e-last', ['--match', LAST]) }]
}
const counted = runs.map((r) => ({ ...r, ...junitCounts(r.name) }))
const tests = counted.reduce((n, r) => n + r.tests, 0)
const bad = counted.filter((r) => r.code !== 0)
console.log(`==> e2e: ${tests} tests in ${counted.map((r) => `${r.name} ${r.tests}${r.failed ? ` (${r.failed} failed)` : ''}`).join(', ')}; ${Math.round((Date.now() - t0) / 1000)} s`)
if (bad.length) {
  console.log(`!!! e2e: ${bad.map((r) => `${r.name} exited ${r.code}`).join(', ')}`)
  process.exitCode = 1
}
