// One part of the e2e tier. Most of the tier's time is spent waiting on containers, so
// scripts/test-tiers.sh runs it on two stacks at once: `beside` runs the files in BESIDE in a copy
// of the suite (.state/e2e-beside) whose example has a project name, ports and images of its own,
// while `main` runs the rest on the example; `last` runs the files in LAST (the Docker engine
// restart, and the bystander's final check, which reads every file both wrote) after both, alone.
// `serial` runs every file in one run, on the example. Each part writes its own JUnit file.
//   usage: node --import tsx test/e2e-tier.mts main|beside|last|serial
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../lib/config/config.ts'
import { BESIDE_PORTS } from './e2e/ports.ts'
import { BESIDE_ROOT, run, withoutLogs } from './e2e/stack.ts'

/** The heaviest files that need no more than a stack of their own (about half the tier's time). */
const BESIDE = 'test/e2e/(03-verdict|06-interrupt|07-config|11-in-place)\\.'
/** Files that must see the whole machine quiet: the engine restart stops every container. */
const LAST = 'test/e2e/(zz-bystander|zzz-engine-restart)\\.'
/** The copy's example: its own project (and so its own image names) and host ports (test/e2e/ports.ts). */
const BESIDE_ENV = {
  COMPOSE_PROJECT_NAME: 'reset-and-test-example-beside',
  POSTGRES_HOST_PORT: String(BESIDE_PORTS.postgres),
  REDIS_HOST_PORT: String(BESIDE_PORTS.redis),
  API_HOST_PORT: String(BESIDE_PORTS.api),
  FLOWER_HOST_PORT: String(BESIDE_PORTS.flower),
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
  for (const name of readdirSync(SUITE_ROOT)) {
    const src = path.join(SUITE_ROOT, name)
    if (left.has(src)) continue
    cpSync(src, path.join(BESIDE_ROOT, name), { recursive: true, preserveTimestamps: true, filter: withoutLogs(path.join(SUITE_ROOT, 'example')) })
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

/** One test/run.mts in a suite root; its JUnit file is written afresh (the bystander reads every one). */
function tier(root: string, name: string, filter: string[]): Promise<number> {
  const junit = path.join(REPORTS, `junit-${name}.xml`)
  rmSync(junit, { force: true })
  const argv = ['--import', 'tsx', 'test/run.mts', '--require-harness', '--bail', '--tier', name, '--junit', junit, ...filter, 'test/e2e']
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)))
}

const parts: Record<string, () => Promise<number>> = {
  main: () => tier(SUITE_ROOT, 'e2e', ['--skip', `${BESIDE}|${LAST}`]),
  beside: async () => {
    copySuite()
    const copyExample = path.join(BESIDE_ROOT, 'example')
    const removal = path.join(SUITE_ROOT, 'test', 'remove-foreign-containers.sh')
    await run(['bash', removal, BESIDE_ENV.COMPOSE_PROJECT_NAME, copyExample], { onOutput: (chunk) => process.stdout.write(chunk) })
    console.log(`==> e2e-beside: ${BESIDE} in ${path.relative(SUITE_ROOT, BESIDE_ROOT)} (project ${BESIDE_ENV.COMPOSE_PROJECT_NAME})`)
    const code = await tier(BESIDE_ROOT, 'e2e-beside', ['--match', BESIDE])
    // The copy's stack goes before the engine restart and the tiers after this one; its volume stays.
    await run(['docker', 'compose', '--project-directory', copyExample, 'down', '--timeout', '1'], { allowFailure: true, timeoutMs: 300_000 })
    return code
  },
  last: () => tier(SUITE_ROOT, 'e2e-last', ['--match', LAST]),
  serial: () => tier(SUITE_ROOT, 'e2e', []),
}
const part = process.argv[2] ?? ''
if (!(part in parts) || process.argv.length > 3) {
  console.error(`usage: node --import tsx test/e2e-tier.mts ${Object.keys(parts).join('|')}`)
  process.exit(9)
}
mkdirSync(REPORTS, { recursive: true })
process.exitCode = await parts[part]()
