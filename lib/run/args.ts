// What the recovery tasks share (rollback-code, rollback-db, reset-circuit, check-circuit,
// check-consistency): the exit codes they end with, values as typed on the command line, and a
// command in a container with a real deadline.
import type { Ctx } from './context.ts'
import { CheckFailed, UsageError } from './errors.ts'
import { out } from '../util/output.ts'
import { EXIT, phaseInfo } from './registry.ts'
export { CheckFailed, UsageError }
import { CommandError, showCommand, type RunOptions, type RunResult } from '../util/command.ts'

/** The suite's exit codes, by what went wrong. */
export const CODE = {
  environment: phaseInfo('assess').exitCode,
  database: phaseInfo('truncate-db').exitCode,
  redis: phaseInfo('flush-redis').exitCode,
  check: phaseInfo('validate').exitCode,
  refused: EXIT.refused,
  usage: EXIT.usage,
} as const


// ---- values as typed ----
// minimist reads 0003 as 3, 0012345 as 12345 and 12e4567 as Infinity: revision ids and short
// commit hashes that look like numbers go back to the text on the command line.

/** A flag's value as typed: undefined when absent, '' when given without a value. */
export function flagText(flags: Record<string, unknown>, name: string, argv = process.argv.slice(2)): string | undefined {
  const v = flags[name]
  if (v === undefined || v === false) return undefined
  if (Array.isArray(v)) throw new UsageError(`--${name} given ${v.length} times; give it once`)
  if (typeof v !== 'number' && v !== true) return String(v)
  // A boolean flag of the wrapper (--backup) given as --backup=NAME reads as true.
  for (let i = argv.length - 1; i >= 0; i--) {
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3)
    if (argv[i] === `--${name}` && typeof v === 'number' && i + 1 < argv.length) return argv[i + 1]
  }
  return v === true ? '' : String(v)
}

/** The positional arguments as typed. */
export function positionals(flags: { _?: unknown[] }, argv = process.argv.slice(2)): string[] {
  let from = 0
  return (flags._ ?? []).map((v) => {
    if (typeof v !== 'number') return String(v)
    const i = argv.findIndex((t, j) => j >= from && !t.startsWith('-') && Number(t) === v)
    if (i < 0) return String(v)
    from = i + 1
    return argv[i]
  })
}

/** Was the script started with this word among its arguments? For what must be decided before the task runs. */
export const invokedWith = (word: string, argv = process.argv.slice(2)) => argv.includes(word)

// ---- a command in a container ----

/**
 * Runs a command in a service's container so that its deadline (or Ctrl-C) stops it inside the
 * container too, not only the docker client. A dry run prints it when it changes something.
 */
export async function execInService(ctx: Ctx, service: string, argv: string[], options: RunOptions = {}): Promise<RunResult> {
  if (options.mutates && ctx.options.dryRun) {
    out.info(`[dry-run] would run in ${service}: ${showCommand(argv)}`)
    return { code: 0, stdout: '', stderr: '', timedOut: false }
  }
  const env = options.env ?? {}
  const res = await ctx.target.execTracked(service, showCommand(argv), { ...options, mutates: false, env })
  if (res.stopped !== undefined) {
    throw new Error(`${showCommand(argv)} did not finish within ${(options.timeoutMs ?? ctx.config.commandTimeoutMs) / 1000} s in ${service}; ${res.stopped}`)
  }
  if (res.code !== 0 && !options.allowFailure) throw new CommandError(argv, res, ctx.config.secrets)
  return res
}
