#!/usr/bin/env -S node --import tsx
// bench: how fast the reset is against the floor and the old script, how long restarts take,
// and how the truncation and the pattern delete scale. Figures go to bench/results/<date>.json.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import minimist from 'minimist'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { table } from '../lib/util/output.ts'
import { compose, config, container, db, logFile, redis, seedDirty, withRedisClient } from '../support/example.ts'

const args = minimist(process.argv.slice(2), { boolean: ['help', 'quick'], string: ['only'], default: { runs: 5 } })
if (args.help) {
  console.log(`usage: ./bench/reset.mts [--runs N] [--only compare,restart,scale,cycle] [--quick]

Runs on the example stack (it must be up: make assess). Interleaves the contenders, each run
starting from the same dirty state (reseeded, not timed), and prints min / median / max.
--quick: 3 runs and 100,000 instead of 1,000,000 rows and keys.`)
  process.exit(0)
}
const RUNS = args.quick ? 3 : Number(args.runs)
const SCALE = args.quick ? 100_000 : 1_000_000
const only = new Set(String(args.only ?? 'compare,restart,scale,cycle').split(','))
const results: Record<string, unknown> = { date: new Date().toISOString(), runs: RUNS, scale: SCALE, machine: machine() }
const TABLES = config.database.tables.join(', ')

function machine() {
  const cpus = spawnSync('nproc').stdout?.toString().trim()
  const mem = spawnSync('sh', ['-c', "free -g | awk '/Mem:/ {print $2}'"]).stdout?.toString().trim()
  return { cpus: Number(cpus), memGiB: Number(mem) }
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
const node = (script: string, ...rest: string[]) => ['node', '--import', 'tsx', `scripts/${script}.mts`, ...rest]

// ---- ours against the floor and the old way ----
async function compare() {
  const pg = await container('postgres')
  const rd = await container('redis')
  const { user, name } = config.database
  const floor = ['sh', '-c', `docker exec ${pg.id} psql -q -U ${user} -d ${name} -c 'TRUNCATE TABLE ${TABLES} RESTART IDENTITY CASCADE' && docker exec ${rd.id} redis-cli FLUSHALL >/dev/null && truncate -s 0 ${logFile}`]
  const contenders: [string, string[]][] = [
    ['ours', node('reset_and_run', '--skip', 'restart,run-test,validate', '--yes')],
    // The same without holding the workers stopped while the database and Redis are emptied: the
    // price of the guarantee that no stale task writes into the fresh tables.
    ['ours, workers not held', node('reset_and_run', '--skip', 'restart,run-test,validate', '--yes', '--worker-services', '')],
    ['floor', floor],
    ['old way', ['bash', 'bench/old-way.sh']],
  ]
  const samples: Record<string, number[]> = Object.fromEntries(contenders.map(([n]) => [n, []]))
  for (let i = -1; i < RUNS; i++) {
    for (const [name, argv] of contenders) {
      await seedDirty(50)
      const ms = await timed(argv)
      if (i >= 0) samples[name].push(ms) // run -1 is the warm-up
    }
    process.stdout.write(`  compare: run ${i + 1}/${RUNS} done\n`)
  }
  const st = Object.fromEntries(Object.entries(samples).map(([n, s]) => [n, stats(s)]))
  const unheld = st['ours, workers not held']
  const ratios = {
    oursOverFloor: st.ours.median / st.floor.median,
    unheldOverFloor: unheld.median / st.floor.median,
    oldOverOurs: st['old way'].median / st.ours.median,
    oldOverUnheld: st['old way'].median / unheld.median,
  }
  results.compare = { ...st, ...ratios }
  console.log(table([['contender', 'min s', 'median s', 'max s'], ...Object.entries(st).map(([n, s]) => row(n, s))]))
  console.log(`ours / floor = ${ratios.oursOverFloor.toFixed(2)}x, workers not held ${ratios.unheldOverFloor.toFixed(2)}x (target <= 2x); old way / ours = ${ratios.oldOverOurs.toFixed(1)}x, workers not held ${ratios.oldOverUnheld.toFixed(1)}x (target >= 5x)\n`)
}

// ---- restart: until every service is ready ----
async function restart() {
  const c = await compose()
  await c.command() // detected before args() builds a command line
  const modes: Record<string, number[]> = { restart: [], recreate: [], 'bare compose restart': [] }
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    for (const mode of ['restart', 'recreate']) {
      const r = await report(node('restart', '--yes', '--restart-mode', mode))
      modes[mode].push(r.phases[0].durationMs)
    }
    modes['bare compose restart'].push(await timed(c.args('restart')))
    await timed(node('assess')) // ready again before the next round
  }
  const st = Object.fromEntries(Object.entries(modes).map(([n, s]) => [n, stats(s)]))
  const ratio = st.restart.median / st['bare compose restart'].median
  results.restart = { ...st, restartOverBare: ratio }
  console.log(table([['restart until ready', 'min s', 'median s', 'max s'], ...Object.entries(st).map(([n, s]) => row(n, s))]))
  console.log(`restart until ready / bare compose restart = ${ratio.toFixed(2)}x (target <= 1.3x)\n`)
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

// ---- the whole cycle, the test excluded ----
async function cycle() {
  const ours: number[] = []
  const old: number[] = []
  for (let i = 0; i < 2; i++) {
    await seedDirty(50)
    ours.push(await timed(node('reset_and_run', '--skip', 'run-test,validate', '--yes')))
    await seedDirty(50)
    old.push(await timed(['bash', 'bench/old-way.sh', '--full']))
    await timed(node('assess'))
  }
  const o = stats(ours)
  const d = stats(old)
  results.cycle = { ours: o, old: d, oldOverOurs: d.median / o.median }
  console.log(table([['cycle without the test', 'min s', 'median s', 'max s'], row('ours (restart mode)', o), row('old script (down -v, up --build, sleep 15)', d)]))
  console.log(`old / ours = ${(d.median / o.median).toFixed(1)}x (target >= 3x)\n`)
}

await timed(node('assess'))
if (only.has('compare')) await compare()
if (only.has('restart')) await restart()
if (only.has('scale')) await scale()
if (only.has('cycle')) await cycle()
const out = path.join(SUITE_ROOT, 'bench', 'results', `${results.date as string}.json`.replace(/:/g, '-'))
mkdirSync(path.dirname(out), { recursive: true })
writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
console.log(`figures written to ${path.relative(SUITE_ROOT, out)}`)
process.exit(0)
