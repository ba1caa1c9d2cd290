#!/usr/bin/env -S node --max-semi-space-size=4 --import tsx
// bench: the reset in seconds — the in-place reset (nothing restarted) against the restart mode and
// the old script's reset; the restart phase against a bare `docker compose restart`; validate's
// memory on a 2 GB log; how the truncation and the pattern delete scale; --backup and restore of a
// million rows against pg_dump. Figures and the machine go to bench/results/<date>.json.
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import minimist from 'minimist'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { latestBackup } from '../lib/safety/backup.ts'
import { table } from '../lib/util/output.ts'
import { compose, config, container, db, logFile, redis, seedDirty, withRedisClient, writeStats } from '../support/example.ts'

const args = minimist(process.argv.slice(2), { boolean: ['help', 'quick'], string: ['only', 'runs', 'log-gb'] })
if (args.help) {
  console.log(`usage: ./bench/reset.mts [--runs N] [--only reset,restart,log,scale,backup] [--log-gb N] [--quick]

Runs on the example stack (it must be up: make assess). Interleaves the contenders, each run
starting from the same dirty state (reseeded, not timed), and prints min / median / max.
  reset    the in-place reset, the restart mode and the old script's reset (confirmation to ready)
  restart  the restart phase (restart mode) against a bare docker compose restart
  log      validate's peak memory and time on a 2 GB JSON-lines log (--log-gb)
  scale    the truncation of 1,000,000 rows and the pattern delete of 500,000 of 1,000,000 keys
  backup   --backup and restore of 1,000,000 rows (time, peak memory) against pg_dump --data-only of the
           same tables (pg_dump on this machine, to the published port: the way the suite's backup goes)
--quick: 2 runs, a 0.5 GB log and 100,000 rows and keys. Default: reset,restart,log.`)
  process.exit(0)
}
const RUNS = args.quick ? 2 : Number(args.runs ?? 3)
const SCALE = args.quick ? 100_000 : 1_000_000
const LOG_GB = Number(args['log-gb'] ?? (args.quick ? 0.5 : 2))
const only = new Set(String(args.only ?? 'reset,restart,log').split(','))
const results: Record<string, unknown> = { date: new Date().toISOString(), runs: RUNS, scale: SCALE, machine: machine() }
const TABLES = config.database.tables.join(', ')

function machine() {
  const docker = spawnSync('docker', ['info', '--format', '{{.ServerVersion}} {{.Driver}}']).stdout?.toString().trim()
  return { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, docker, load: os.loadavg().map((l) => l.toFixed(2)) }
}

/**
 * Wall time of a command in ms; it must succeed. Asynchronous, so that a measurement running in
 * this process meanwhile (the PING loop) is not frozen while the command runs.
 */
function timed(argv: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(argv[0], argv.slice(1), { cwd: SUITE_ROOT, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output = (output + d).slice(-3000)))
    child.stderr.on('data', (d) => (output = (output + d).slice(-3000)))
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = performance.now() - t0
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}:\n${output}`))
      else resolve(ms)
    })
  })
}

/** A script's JSON report: phase durations and figures, start-up excluded. */
async function report(argv: string[], env: Record<string, string> = {}) {
  const file = path.join(SUITE_ROOT, '.state', `bench-${process.pid}.json`)
  const wallMs = await timed([...argv, '--json', file], env)
  const r = JSON.parse(readFileSync(file, 'utf8'))
  rmSync(file)
  return { wallMs, phases: r.phases as { name: string; durationMs: number; figures: Record<string, number> }[] }
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b)
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  return { min: s[0], median, max: s[s.length - 1], samples: s.map((x) => Math.round(x)) }
}
const sec = (ms: number) => (ms / 1000).toFixed(2)
const row = (name: string, st: ReturnType<typeof stats>) => [name, sec(st.min), sec(st.median), sec(st.max)]
const node = (script: string, ...rest: string[]) => ['node', '--max-semi-space-size=4', '--import', 'tsx', `scripts/${script}.mts`, ...rest]

/** The span from the confirmation to ready for the test: the reset phases' own durations (the plan before them excluded). */
const RESET_PHASES = ['truncate-logs', 'restart', 'truncate-db', 'flush-redis']
const resetSpan = (r: Awaited<ReturnType<typeof report>>) => r.phases.filter((p) => RESET_PHASES.includes(p.name)).reduce((n, p) => n + p.durationMs, 0)

// ---- the reset: in place, restart mode, the old script ----
async function reset() {
  const spans: Record<string, number[]> = { 'in-place': [], 'restart mode': [], "old script's reset": [] }
  const walls: Record<string, number[]> = { 'in-place': [], 'restart mode': [] }
  const whole: number[] = [] // make reset-and-test (in place, the default) minus the test's own time
  for (let i = -1; i < RUNS; i++) {
    await seedDirty(50)
    const file = path.join(SUITE_ROOT, '.state', `bench-make-${process.pid}.json`)
    const wallMs = await timed(['make', '--no-print-directory', 'reset-and-test', 'YES=1', `ARGS=--json ${file}`])
    const made = JSON.parse(readFileSync(file, 'utf8')) as { phases: { name: string; durationMs: number }[] }
    rmSync(file)
    if (i >= 0) whole.push(wallMs - made.phases.find((p) => p.name === 'run-test')!.durationMs)
    for (const mode of ['in-place', 'restart']) {
      await seedDirty(50)
      const r = await report(node('reset_and_run', '--skip', 'run-test,validate', '--yes', '--restart-mode', mode))
      const name = mode === 'in-place' ? 'in-place' : 'restart mode'
      const did = r.phases.map((p) => `${p.name} ${sec(p.durationMs)} s ${JSON.stringify(p.figures)}`)
      process.stdout.write(`    ${name}: ${did.join('; ')}\n`) // what each reset did: a slow one is seen for what it is
      if (i >= 0) spans[name].push(resetSpan(r)), walls[name].push(r.wallMs) // run -1 is the warm-up
    }
    await seedDirty(50)
    const old = await timed(['bash', 'bench/old-way.sh', '--full'])
    if (i >= 0) spans["old script's reset"].push(old)
    await timed(node('assess'))
    process.stdout.write(`  reset: run ${i + 1}/${RUNS} done\n`)
  }
  const st = Object.fromEntries(Object.entries(spans).map(([n, s]) => [n, stats(s)]))
  const ratios = { restartOverInPlace: st['restart mode'].median / st['in-place'].median, oldOverInPlace: st["old script's reset"].median / st['in-place'].median }
  const makeMinusTest = stats(whole)
  const wall = Object.fromEntries(Object.entries(walls).map(([n, s]) => [n, stats(s)]))
  const targets = { inPlaceMaxSeconds: 1, makeMinusTestMaxSeconds: 2, restartOverInPlaceMin: 10 }
  results.reset = { ...st, wall, makeResetAndTestMinusTest: makeMinusTest, ...ratios, targets }
  console.log(table([['reset, confirmation to ready', 'min s', 'median s', 'max s'], ...Object.entries(st).map(([n, s]) => row(n, s))]))
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED')
  console.log(row('make reset-and-test minus the test', makeMinusTest).join('  '))
  console.log(
    `in-place median ${sec(st['in-place'].median)} s (target <= 1 s: ${met(st['in-place'].median <= 1000)}); ` +
      `make reset-and-test minus the test ${sec(makeMinusTest.median)} s (target <= 2 s: ` +
      `${met(makeMinusTest.median <= 2000)}); restart mode / in-place = ${ratios.restartOverInPlace.toFixed(1)}x ` +
      `(target >= 10x: ${met(ratios.restartOverInPlace >= 10)}); old script / in-place = ${ratios.oldOverInPlace.toFixed(0)}x\n`,
  )
}

// ---- the restart phase against a bare compose restart ----
async function restart() {
  const c = await compose()
  await c.command() // detected before args() builds a command line
  const modes: Record<string, number[]> = { 'restart phase, until ready': [], 'bare docker compose restart': [] }
  for (let i = 0; i < RUNS; i++) {
    const r = await report(node('restart', '--yes', '--restart-mode', 'restart'))
    modes['restart phase, until ready'].push(r.phases[0].durationMs)
    modes['bare docker compose restart'].push(await timed(c.args('restart')))
    await timed(node('assess')) // ready again before the next round
  }
  const st = Object.fromEntries(Object.entries(modes).map(([n, s]) => [n, stats(s)]))
  const ratio = st['restart phase, until ready'].median / st['bare docker compose restart'].median
  results.restart = { ...st, restartOverBare: ratio, target: 0.5 }
  console.log(table([['restart', 'min s', 'median s', 'max s'], ...Object.entries(st).map(([n, s]) => row(n, s))]))
  console.log(`restart phase until ready / bare compose restart = ${ratio.toFixed(2)}x (target <= 0.5x: ${ratio <= 0.5 ? 'met' : 'MISSED'})\n`)
}

// ---- validate's memory on a large log ----
async function log() {
  const line = JSON.stringify({ timestamp: '2026-12-03T10:00:00Z', level: 'ERROR', name: 'app.workers.campaign_tasks', message: 'enrich_lead job=123 failed', exc_info: ['Traceback (most recent call last):', '  File "x.py", line 1, in f', 'ValueError: bad'], pad: 'x'.repeat(1800) }) + '\n'
  const lines = Math.ceil((LOG_GB * 2 ** 30) / line.length)
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const w = createWriteStream(logFile)
    w.on('error', reject)
    let n = 0
    const more = () => {
      while (n < lines) if ((n++, !w.write(line))) return void w.once('drain', more)
      w.end(resolve)
    }
    more()
  })
  const checks = path.join(SUITE_ROOT, '.state', 'bench-checks.yaml')
  writeFileSync(checks, '- name: the users table answers\n  count: {users: SELECT count(*) FROM users}\n  relation: ">="\n  other: 0\n')
  try {
    const child = spawn('node', ['--import', 'tsx', 'scripts/validate.mts', '--checks-file', checks], { cwd: SUITE_ROOT, env: { ...process.env, CI: 'true' }, stdio: 'ignore' })
    let peakKb = 0
    const watch = setInterval(() => {
      try {
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0))
      } catch {}
    }, 50)
    const t1 = performance.now()
    const code = await new Promise<number | null>((r) => child.on('close', r))
    clearInterval(watch)
    const ms = performance.now() - t1
    if (code !== 0) throw new Error(`validate exited ${code} on the ${LOG_GB} GB log`)
    const mb = peakKb / 1024
    results.log = { gigabytes: LOG_GB, lines, writeSeconds: (t1 - t0) / 1000, validateSeconds: ms / 1000, peakMemoryMB: Math.round(mb), targetMB: 200 }
    console.log(`validate on a ${LOG_GB} GB log (${lines.toLocaleString()} JSON lines): ${sec(ms)} s, peak memory ${mb.toFixed(0)} MB (target < 200 MB: ${mb < 200 ? 'met' : 'MISSED'})\n`)
  } finally {
    writeFileSync(logFile, '')
    rmSync(checks, { force: true })
  }
}

// ---- scaling: 1M rows, 1M keys ----
async function seedRows(n: number) {
  const campaigns = 1000
  const leads = Math.floor((n - campaigns - 1) / 2)
  const jobs = n - campaigns - 1 - leads
  await db(`
    INSERT INTO organizations (id, name) VALUES ('bench-org', 'bench');
    INSERT INTO campaigns (id, organization_id, name, status) SELECT 'bc-' || g, 'bench-org', 'bench', 'COMPLETED' FROM generate_series(1, ${campaigns}) g;
    INSERT INTO leads (id, campaign_id, email) SELECT 'bl-' || g, 'bc-' || (1 + g % ${campaigns}), 'bench-' || g || '@example.com' FROM generate_series(1, ${leads}) g;
    INSERT INTO jobs (task_id, name, job_type, status, campaign_id) SELECT 'bt-' || g, 'bench', 'ENRICH_LEAD', 'COMPLETED', 'bc-' || (1 + g % ${campaigns}) FROM generate_series(1, ${jobs}) g;
  `)
}

async function seedKeys(drop: number, keep: number) {
  await withRedisClient(async (r) => {
    const script = "for i = ARGV[2], ARGV[3] do redis.call('SET', ARGV[1] .. i, 'x') end"
    for (const [prefix, n] of [['bench:drop:', drop], ['bench:keep:', keep]] as const)
      for (let i = 0; i < n; i += 50_000) await r.eval(script, 0, prefix, i, Math.min(n, i + 50_000) - 1)
  })
}

async function scale() {
  const phaseMs = (r: Awaited<ReturnType<typeof report>>) => r.phases.find((p) => p.name === 'truncate-db')!.durationMs
  const empty: number[] = []
  const full: number[] = []
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    await timed(node('truncate-db', '--yes'))
    empty.push(phaseMs(await report(node('truncate-db', '--yes'))))
    await seedRows(SCALE)
    full.push(phaseMs(await report(node('truncate-db', '--yes'))))
  }
  const e = stats(empty)
  const f = stats(full)
  console.log(table([['truncate-db phase', 'min s', 'median s', 'max s'], row('empty tables', e), row(`${SCALE.toLocaleString()} rows`, f)]))
  console.log(`${SCALE.toLocaleString()} rows / empty = ${(f.median / e.median).toFixed(2)}x (target <= 3x)\n`)

  // Pattern delete of half of 2 x SCALE/2 keys, while a second client measures PING.
  const rates: number[] = []
  let slowest = 0
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    await withRedisClient((r) => r.flushall())
    await seedKeys(SCALE / 2, SCALE / 2)
    const pinger = await redis()
    let running = true
    let worst = 0
    const loop = (async () => {
      while (running) {
        const t0 = performance.now()
        await pinger.ping()
        worst = Math.max(worst, performance.now() - t0)
        await new Promise((r) => setTimeout(r, 2))
      }
    })()
    // The delete itself: no workers held (a reset that clears Redis also stops and starts them, ~6 s here).
    const r = await report(node('flush-redis', '--yes', '--redis-mode', 'patterns', '--redis-patterns', 'bench:drop:*', '--worker-services', ''))
    running = false
    await loop
    pinger.disconnect()
    const phase = r.phases[0]
    if (phase.figures.keys !== SCALE / 2) throw new Error(`pattern delete removed ${phase.figures.keys} keys, expected ${SCALE / 2}`)
    const kept = await withRedisClient(async (c) => (await c.keys('bench:keep:*')).length) // the workers' own keys come and go
    if (kept !== SCALE / 2) throw new Error(`${kept} keys left, expected the ${SCALE / 2} non-matching ones`)
    rates.push((SCALE / 2) / (phase.durationMs / 1000))
    slowest = Math.max(slowest, worst)
  }
  await withRedisClient((r) => r.flushall())
  await timed(node('truncate-db', '--yes'))
  const rs = stats(rates)
  results.scale = { truncateEmptyMs: e, truncateFullMs: f, fullOverEmpty: f.median / e.median, deleteKeysPerSecond: rs, slowestPingMs: slowest }
  console.log(`pattern delete of ${(SCALE / 2).toLocaleString()} of ${SCALE.toLocaleString()} keys: median ${Math.round(rs.median).toLocaleString()} keys/s (target >= 100,000); slowest PING meanwhile ${slowest.toFixed(1)} ms (target <= 50 ms)\n`)
}

// ---- backup and restore of 1,000,000 rows against pg_dump ----

/** A command's wall time and its peak memory in MB (/usr/bin/time's maximum resident set size). */
async function measured(argv: string[], env: Record<string, string> = {}) {
  const file = path.join(SUITE_ROOT, '.state', `bench-${process.pid}.rss`)
  const wallMs = await timed(['/usr/bin/time', '-f', '%M', '-o', file, ...argv], env)
  const peakMb = Number(readFileSync(file, 'utf8').trim().split('\n').pop()) / 1024
  rmSync(file)
  return { wallMs, peakMb }
}

/** A script under /usr/bin/time with its JSON report: its wall time, peak memory and its phase's figures. */
async function measuredReport(argv: string[]) {
  const file = path.join(SUITE_ROOT, '.state', `bench-${process.pid}.json`)
  const m = await measured([...argv, '--json', file])
  const phase = JSON.parse(readFileSync(file, 'utf8')).phases[0] as { durationMs: number; figures: Record<string, number> }
  rmSync(file)
  return { ...m, phase }
}

async function backup() {
  for (const tool of [['/usr/bin/time', '--version'], ['pg_dump', '--version']])
    if (spawnSync(tool[0], [tool[1]]).status !== 0) throw new Error(`the backup bench needs ${tool[0]} here (apt-get install time postgresql-client-15)`)
  const port = (await container(config.services.postgres)).ports['5432/tcp']
  const { user, password, name } = config.database
  const dump = path.join(SUITE_ROOT, '.state', `bench-${process.pid}.sql`)
  const samples = { 'pg_dump --data-only': [] as number[], 'backup (COPY, one snapshot)': [] as number[], 'restore (one transaction)': [] as number[] }
  const peaks = { pgDump: 0, backup: 0, restore: 0 }
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    await timed(node('truncate-db', '--yes'))
    await seedRows(SCALE)
    const before = await writeStats()
    const tables = config.database.tables.flatMap((t) => ['-t', t])
    const d = await measured(['pg_dump', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', name, '--data-only', ...tables, '-f', dump], { PGPASSWORD: password })
    rmSync(dump)
    // The backup alone (backupMs: the truncation after it is not counted); the memory is the whole phase's process
    const b = await measuredReport(node('truncate-db', '--yes', '--backup'))
    const dir = latestBackup(path.join(SUITE_ROOT, 'backups'))
    const r = await measuredReport(node('restore', '--yes', '--dir', dir))
    rmSync(dir, { recursive: true, force: true })
    if ((await writeStats()) !== before) throw new Error(`after the restore the tables are not as they were backed up (${dir})`)
    samples['pg_dump --data-only'].push(d.wallMs)
    samples['backup (COPY, one snapshot)'].push(b.phase.figures.backupMs)
    samples['restore (one transaction)'].push(r.phase.durationMs)
    Object.assign(peaks, { pgDump: Math.max(peaks.pgDump, d.peakMb), backup: Math.max(peaks.backup, b.peakMb), restore: Math.max(peaks.restore, r.peakMb) })
    process.stdout.write(`  backup: run ${i + 1} done\n`)
  }
  await timed(node('truncate-db', '--yes'))
  const st = Object.fromEntries(Object.entries(samples).map(([n, s]) => [n, stats(s)]))
  const ratio = st['backup (COPY, one snapshot)'].median / st['pg_dump --data-only'].median
  const peakMb = Math.round(Math.max(peaks.backup, peaks.restore))
  results.backup = { rows: SCALE, ...st, backupOverPgDump: ratio, peakMemoryMB: peaks, targets: { backupOverPgDumpMax: 1, peakMemoryMBMax: 150 } }
  console.log(table([[`${SCALE.toLocaleString()} rows`, 'min s', 'median s', 'max s'], ...Object.entries(st).map(([n, s]) => row(n, s))]))
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED')
  console.log(`backup / pg_dump = ${ratio.toFixed(2)}x (target <= 1: ${met(ratio <= 1)}); peak memory backup ${Math.round(peaks.backup)} MB, restore ${Math.round(peaks.restore)} MB, pg_dump ${Math.round(peaks.pgDump)} MB (target < 150 MB: ${met(peakMb < 150)})\n`)
}

await timed(node('assess'))
if (only.has('reset')) await reset()
if (only.has('restart')) await restart()
if (only.has('log')) await log()
if (only.has('scale')) await scale()
if (only.has('backup')) await backup()
const out = path.join(SUITE_ROOT, 'bench', 'results', `${results.date as string}.json`.replace(/:/g, '-'))
mkdirSync(path.dirname(out), { recursive: true })
writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
console.log(`figures written to ${path.relative(SUITE_ROOT, out)}`)
process.exit(0)
