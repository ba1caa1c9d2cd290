// The gates of a run. Before anything at all changes (assess starting a stopped service included):
// production signals from every source and the engine or cluster the target really is. Before the
// first destructive phase: the destruction plan (which shows every server and container is this
// project's and refuses what it does not name), shown, then confirmed once.
import { createInterface } from 'node:readline/promises'
import { withDatabase } from '../access/database.ts'
import type { Reach } from '../access/reach.ts'
import { computePlan, renderPlan, type DestructionPlan, type Destroys } from '../safety/plan.ts'
import { productionSignals } from '../safety/production.ts'
import { RefusedError } from '../util/errors.ts'
import { out } from '../util/output.ts'
import type { Ctx, PhaseSpec } from './context.ts'
import { destroysOf, STEPS } from './registry.ts'

/** Asks for "yes"; resolves true when given, false when not (a closed input or Ctrl-C at the prompt included). */
export type Confirm = (question: string, signal: AbortSignal) => Promise<boolean>

/**
 * The real prompt, on the terminal. Without one (or with CI=true) there is nobody to ask: refused
 * at once. Ctrl-C at the prompt is "not confirmed", not a failure of the phase.
 */
export const askOnTerminal: Confirm = async (question, signal) => {
  if (process.env.CI === 'true' || !process.stdin.isTTY) {
    throw new RefusedError(
      'no terminal to ask for confirmation (or CI=true); nothing was changed. Rerun with --yes to confirm.',
    )
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  const onAbort = () => rl.close()
  signal.addEventListener('abort', onAbort)
  try {
    const answer = await rl.question(question, { signal })
    return answer.trim().toLowerCase() === 'yes'
  } catch {
    return false
  } finally {
    signal.removeEventListener('abort', onAbort)
    rl.close()
  }
}

/** Does any selected step change something (a destructive phase, or assess starting what is stopped)? */
export const changesSomething = (ctx: Ctx, selected: PhaseSpec[]) =>
  selected.some((p) => destroysOf(p, ctx.options.args) !== null || p.startsServices)

/**
 * Before anything changes: a target that looks like production is refused, unless ALLOW_PRODUCTION
 * names the database actually reached (checked here, read-only, and again by the plan).
 */
export async function preflight(r: Reach): Promise<string[]> {
  const engine = await r.target.engine()
  if (engine.problem) throw new RefusedError(engine.problem)
  const signals = [...productionSignals(r.config), ...(await r.target.signals())]
  if (!signals.length) return []
  const allow = r.config.safety.allowProduction
  const reached = allow
    ? await withDatabase(r, async (db) => db.name).catch((e: Error) => `(unreachable: ${e.message})`)
    : null
  if (!allow || reached !== allow) {
    const which = reached ? ` ALLOW_PRODUCTION=${allow} does not name the database reached, ${reached}.` : ''
    const name = reached && !reached.startsWith('(') ? reached : r.config.database.name
    throw new RefusedError(
      `this looks like a production target: ${signals.join('; ')}. Nothing was changed.${which} If you are sure, set ` +
        `ALLOW_PRODUCTION=${name} (the name of the database you confirm may be wiped; it must be the database the ` +
        `suite reaches).`,
    )
  }
  out.warn(`ALLOW_PRODUCTION=${allow}: going ahead although ${signals.join('; ')} (database ${reached} reached)`)
  return signals
}

/**
 * Before the first destructive phase: the plan of everything the remaining phases destroy, shown;
 * then the confirmation (--yes, or "yes" typed on a terminal). Returns the plan the phases carry out.
 */
export async function gate(
  ctx: Ctx,
  remaining: PhaseSpec[],
  confirm: Confirm,
  production: string[],
): Promise<DestructionPlan> {
  const destroys = new Set(
    remaining.map((p) => destroysOf(p, ctx.options.args)).filter((d): d is Destroys => d !== null),
  )
  const ownLines = new Set(
    remaining
      .filter((p) => p.inventory)
      .map((p) => destroysOf(p, ctx.options.args))
      .filter((d): d is Destroys => d !== null),
  )
  const tasks: string[] = []
  for (const p of remaining) if (p.inventory) tasks.push(...(await p.inventory(ctx)))
  const holdWorkers = ctx.phases.some((name) => STEPS.find((s) => s.name === name)?.clearsBroker)
  const plan = await computePlan(ctx, { destroys, ownLines, tasks, holdWorkers }, ctx.mode)
  if (production.length && plan.database && plan.database.name !== ctx.config.safety.allowProduction) {
    throw new RefusedError(
      `this looks like a production target (${production.join('; ')}) and ` +
        `ALLOW_PRODUCTION=${ctx.config.safety.allowProduction} does not name the database the plan reaches, ` +
        `${plan.database.name}. Nothing was changed.`,
    )
  }
  out.line(`==> ${ctx.dryRun ? 'would destroy' : 'about to destroy'}:`)
  for (const l of renderPlan(plan, ctx.mode)) out.info(l)
  if (ctx.dryRun) return plan
  if (ctx.options.yes) {
    out.info('confirmed by --yes')
    return plan
  }
  if (!(await confirm('Type "yes" to go ahead: ', ctx.signal)))
    throw new RefusedError('not confirmed; nothing was changed')
  return plan
}
