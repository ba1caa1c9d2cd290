// The errors that decide an exit code on their own, whichever phase throws them.
import { EXIT, phaseInfo } from './registry.ts'

/** The target looks wrong (production, someone else's stack), or nothing confirmed the run: exit 8, nothing changed. */
export class RefusedError extends Error {
  exitCode = EXIT.refused
}

/** A server or instance that cannot be reached: before destruction this is a refusal (fail closed). */
export class UnreachableError extends Error {}

/** Ctrl-C or SIGTERM: exit 130. */
export class Interrupted extends Error {
  exitCode = EXIT.interrupted
  constructor(signal: string) {
    super(`interrupted by ${signal}`)
  }
}

/** Bad arguments of a task: exit 9, nothing touched. */
export class UsageError extends Error {
  exitCode = EXIT.usage
}

/** A check ran and found a problem: exit 7. */
export class CheckFailed extends Error {
  exitCode = phaseInfo('validate').exitCode
}
