// The end-to-end tiers' access to real stacks: run the suite's scripts as a user would (a child
// process, no terminal, CI=true), look at PostgreSQL, Redis and the log directly to check what
// they did, and make copies of the example (own directory, project name and ports) for the tests
// that need a stack of their own. Every script's output is checked for passwords and for masks
// that ate a word.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { loadConfig, SUITE_ROOT, type Config } from '../../lib/config/config.ts'
import { PROJECT_LABEL, SERVICE_LABEL, WORKING_DIR_LABEL, CONFIG_FILES_LABEL } from '../../lib/targets/compose.ts'
import type { Instance } from '../../lib/targets/target.ts'
import { compose, config, ENV, EXAMPLE, example, run } from '../../support/example.ts'

export * from '../../support/example.ts'

export interface Outcome {
  code: number
  out: string
}

// ---- passwords never shown, words never masked ----

/** A found password named without being repeated (a report of a leak must not leak it again). */
const shown = (v: string) => `the password ${v.slice(0, 1)}… (${v.length} characters)`

/** Every place a password shows as a password: in full when it is not also a name, else in a secret's position. */
export function leaks(text: string, values = config.secrets.values, words = config.secrets.words): string[] {
  const found: string[] = []
  for (const v of values) {
    const forms = [v, encodeURIComponent(v)]
    if (!words.includes(v)) {
      for (const f of forms) if (text.includes(f)) found.push(shown(f))
      continue
    }
    const e = v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const contexts = [new RegExp(`:${e}@`), new RegExp(`(PASSWORD|PGPASSWORD|REDISCLI_AUTH|password)["']?\\s*[=:]\\s*["']?${e}\\b`), new RegExp(`\\s-a\\s+${e}\\b`)]
    for (const re of contexts) if (re.test(text)) found.push(`${shown(v)} in a secret's position`)
  }
  return found
}

/** Every *** that stands where no password stands: after a word, a ×, before =. */
export function eatenWords(text: string): string[] {
  const found: string[] = []
  // Exactly three stars (the mask); longer runs and Celery's start-up banner ("- *** --- *") are art.
  for (const m of text.matchAll(/(?<!\*)\*\*\*(?!\*)/g)) {
    const before = text.slice(Math.max(0, m.index! - 40), m.index)
    const after = text.slice(m.index! + 3, m.index! + 8)
    if (/-\s$/.test(before) && /^\s-/.test(after)) continue
    if (/(^|\n)make(\[\d+\])?: $/.test(before)) continue // make's own "make: *** [target] Error N"
    const secretPosition = /(:|=|[Pp]assword["']?:\s*["']?|PASS\w*:\s*|AUTH\w*:\s*|-a\s+|\*\*\*@)$/.test(before) || /^@/.test(after)
    if (!secretPosition) found.push(`…${before}***${after}…`)
  }
  return found
}

/** Runs a command from the suite's root with stdin closed; output is kept (echoed with E2E_VERBOSE=1). */
export function sh(argv: string[], env: Record<string, string | undefined> = {}, options: { timeoutMs?: number; onSpawn?: (pid: number) => void; secrets?: Config['secrets'] } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: SUITE_ROOT, env: { ...ENV, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const take = (d: Buffer) => {
      out += d.toString()
      if (process.env.E2E_VERBOSE === '1') process.stdout.write(d)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    if (child.pid) options.onSpawn?.(child.pid)
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      // Checked on every run of every script: no password, and no word masked.
      const s = options.secrets ?? config.secrets
      const problems = [...leaks(out, s.values, s.words).map((l) => `password shown: ${l}`), ...eatenWords(out).map((w) => `a mask ate a word: ${w}`)]
      if (problems.length) return reject(new Error(`${argv.join(' ')}:\n  ${problems.join('\n  ')}\noutput:\n${out}`))
      resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 128), out })
    })
  })
}

/** A script in a real terminal (a pty from script(1)), typing `answer` at its prompt. */
export function inTerminal(command: string, answer: string): Outcome {
  const res = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: SUITE_ROOT, input: answer, env: { ...ENV, CI: '' }, encoding: 'utf8', timeout: 120_000 })
  return { code: res.status ?? -1, out: res.stdout + res.stderr }
}

/** A script in a real terminal, typed to as it runs: wait for what it prints, then answer. */
export function terminalSession(command: string, env: Record<string, string> = {}) {
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: SUITE_ROOT, env: { ...ENV, CI: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => void (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => void (out += d.toString()))
  const done = new Promise<Outcome>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out })))
  return {
    async until(re: RegExp, timeoutMs = 120_000) {
      const t0 = Date.now()
      while (!re.test(out)) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`no ${re} within ${timeoutMs / 1000} s; output:\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    type: (text: string) => void child.stdin.write(text),
    done: () => done,
  }
}

/** ./scripts/<name>.mts with arguments. */
export const script = (name: string, args: string[] = [], env: Record<string, string | undefined> = {}, options: Parameters<typeof sh>[2] = {}) =>
  sh(['node', '--import', 'tsx', `scripts/${name}.mts`, ...args], env, options)

export function explain(o: Outcome): string {
  return `exit ${o.code}; output:\n${o.out.split('\n').slice(-80).join('\n')}`
}

/** The copy of the suite that test/e2e-tier.mts runs part of the tier in, beside the rest. */
export const BESIDE_ROOT = path.join(SUITE_ROOT, '.state', 'e2e-beside')
/** Where exampleCopy puts the tests' copies of the example, under a suite root. */
const copiesIn = (root: string) => path.join(root, '.state', 'e2e-copies')

/** A cpSync filter for copying the example in exampleDir: what runs left in its logs/ stays behind, the .gitkeep comes. */
export function withoutLogs(exampleDir: string): (src: string) => boolean {
  const logs = path.join(exampleDir, 'logs') + path.sep
  return (src) => !src.startsWith(logs) || src.endsWith('.gitkeep')
}

/**
 * Every file the suite wrote for people and machines: saved test output, findings, reports,
 * diagnostics; here and in the copy the tier ran beside (its own, not its source files).
 */
export function writtenFiles(): string[] {
  const found: string[] = []
  const walk = (dir: string, skip: string[]) => {
    if (!existsSync(dir)) return
    for (const f of readdirSync(dir)) {
      const p = path.join(dir, f)
      if (skip.includes(p)) continue
      if (statSync(p).isDirectory()) walk(p, skip)
      else if (!p.endsWith('.png')) found.push(p) // the browser tier's screenshots: pixels, no text to leak
    }
  }
  for (const root of [SUITE_ROOT, BESIDE_ROOT]) {
    // The tests' copies of the example: their .env holds passwords by design.
    const skip = [copiesIn(root), BESIDE_ROOT]
    for (const d of ['logs', 'reports', 'diagnostics', '.state']) walk(path.join(root, d), skip)
  }
  return found
}

// ---- the example stack ----

let upOnce: Promise<void> | undefined
/**
 * Brings the example up and ready, once per tier. It refuses to `up` over containers of the
 * example's project name that another directory made (the suite's own check, by labels).
 */
export function stackUp(): Promise<void> {
  return (upOnce ??= (async () => {
    await example.instances() // throws RefusedError for a stack made elsewhere
    // The images as this checkout's Dockerfiles make them; an unchanged checkout rebuilds and
    // recreates nothing. Compose's own account is checked, not only its exit status.
    const up = await example.compose(['up', '-d', '--build'], { timeoutMs: 1_800_000, allowFailure: true })
    const said = `${up.stdout}${up.stderr}`.split('\n').filter((l) => !/^#\d+ /.test(l) && l.trim())
    const wrong = said.filter((l) => /\berror\b|level=(error|fatal)/i.test(l))
    if (up.code !== 0 || wrong.length) throw new Error(`up -d --build of the example failed (exit ${up.code}):\n${said.slice(-40).join('\n')}`)
    const changed = said.filter((l) => /\b(Recreated?|Creat(ed|ing)|Started)\b/.test(l))
    if (changed.length) console.log(`    stackUp: ${changed.length} compose lines: ${[...new Set(changed.map((l) => l.trim().replace(/^Container /, '')))].slice(0, 6).join('; ')}`)
    const o = await script('assess')
    if (o.code !== 0) throw new Error(`the example stack did not come up: ${explain(o)}`)
  })())
}

/**
 * The example stack's lifecycle for the tests, in one place: a test file says which state it needs,
 * not how to make it. 'up': running as the compose file says (brought up once per tier, and again
 * after a test said it took the stack down with stackChanged); 'fresh': the same, checked anew now
 * (a file before may have recreated containers); 'clean': up, then emptied by the suite's own
 * in-place reset, without the test (about a second).
 */
export async function need(state: 'up' | 'fresh' | 'clean'): Promise<void> {
  if (state === 'fresh') stackChanged()
  await stackUp()
  if (state !== 'clean') return
  const o = await script('reset_and_run', ['--yes', '--skip', 'run-test,validate'])
  if (o.code !== 0) throw new Error(`the example stack could not be reset in place: ${explain(o)}`)
}

/** Polls check every 100 ms until it holds; fails naming what it waited for. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now()
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Forget that the stack was brought up (a test took it down). */
export const stackChanged = () => void (upOnce = undefined)

export async function fakeService(service: string, health: string[], command = ['sleep', 'infinity']): Promise<string> {
  const res = await run([
    'docker', 'run', '-d', '--label', `${PROJECT_LABEL}=${config.project}`, '--label', `${SERVICE_LABEL}=${service}`,
    '--label', `${WORKING_DIR_LABEL}=${EXAMPLE}`, '--label', `${CONFIG_FILES_LABEL}=${config.composeFiles.join(',')}`,
    '--label', 'com.docker.compose.container-number=99', ...health, 'debian:bookworm-slim', ...command,
  ])
  return res.stdout.trim()
}

/** Processes in the service's containers whose command line contains `needle` (the suite's own process tables). */
export async function processesIn(service: string, needle: string): Promise<number> {
  const tables = await (await compose()).processes(service)
  return tables.flatMap((t) => t.procs).filter((p) => p.argv.join(' ').includes(needle)).length
}

export async function removeContainer(id: string) {
  await run(['docker', 'rm', '-f', id], { allowFailure: true })
}

export const startedAt = async (ids: string[]) => (await run(['docker', 'inspect', '--format', '{{.Name}} {{.State.StartedAt}}', ...ids])).stdout.trim().split('\n')

// ---- copies of the example: stacks of their own ----

export interface Copy {
  dir: string
  /** The copy's configuration, as the suite reads it with RT_APP_DIR=dir. */
  config: () => Config
  env: Record<string, string>
  /** docker compose in the copy's directory: Compose picks its files and project name itself. */
  compose(args: string[], extraEnv?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>
  remove(): Promise<void>
}

const COPIES = copiesIn(SUITE_ROOT)

/**
 * The example copied to .state/e2e-copies/<name>/<dirName>, with its .env text replaced or edited
 * and extra files written. Images are shared with the example (no rebuild).
 */
export function exampleCopy(name: string, options: { dirName?: string; envText?: string; env?: Record<string, string | null>; files?: Record<string, string> } = {}): Copy {
  const dir = path.join(COPIES, name, options.dirName ?? 'app')
  rmSync(path.dirname(dir), { recursive: true, force: true })
  mkdirSync(path.dirname(dir), { recursive: true })
  cpSync(EXAMPLE, dir, { recursive: true, filter: withoutLogs(EXAMPLE) })
  let envText = options.envText ?? readFileSync(path.join(EXAMPLE, '.env'), 'utf8')
  for (const [k, v] of Object.entries(options.env ?? {})) {
    envText = envText.replace(new RegExp(`^${k}=.*\\n?`, 'm'), '')
    if (v !== null) envText += `${envText.endsWith('\n') || !envText ? '' : '\n'}${k}=${v}\n`
  }
  writeFileSync(path.join(dir, '.env'), envText)
  for (const [f, text] of Object.entries(options.files ?? {})) writeFileSync(path.join(dir, f), text)
  const env = { RT_APP_DIR: dir }
  const dockerCompose = (args: string[], extraEnv: Record<string, string> = {}) =>
    run(['docker', 'compose', '--project-directory', dir, ...args], { allowFailure: true, timeoutMs: 900_000, env: extraEnv })
  return {
    dir,
    env,
    config: () => loadConfig({ env: { ...ENV, ...env } }),
    compose: dockerCompose,
    async remove() {
      // A copy under the example's own project name has no stack of its own: `down -v` there would
      // take the example's containers and volumes.
      const project = loadConfig({ env: { ...ENV, ...env } }).project
      if (project !== config.project) await dockerCompose(['down', '-v', '--remove-orphans'])
      rmSync(path.dirname(dir), { recursive: true, force: true })
    },
  }
}

/** Instances of a compose project by its label, wherever they were made. */
export async function projectContainers(project: string): Promise<string[]> {
  return (await run(['docker', 'ps', '-aq', '--filter', `label=${PROJECT_LABEL}=${project}`])).stdout.split('\n').filter(Boolean)
}

export type { Instance }
