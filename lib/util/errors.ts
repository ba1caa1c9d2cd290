// Errors that carry their exit code: whoever catches one reads `exitCode`, never guesses.
import { EXIT, signalExit, type ExitCode } from './exits.ts'

export class SuiteError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** The target looks wrong (production, someone else's stack), or nothing confirmed the run: exit 8, nothing changed. */
export class RefusedError extends SuiteError {
  constructor(message: string) {
    super(message, EXIT.refused)
  }
}

/** Bad configuration, command line or arguments of a task: exit 9, nothing touched. */
export class UsageError extends SuiteError {
  constructor(message: string) {
    super(message, EXIT.usage)
  }
}

/** A check ran and found a problem: exit 7. */
export class CheckFailed extends SuiteError {
  constructor(message: string) {
    super(message, EXIT.validation)
  }
}

/** Ctrl-C, SIGTERM or SIGHUP: 130, 143 or 129. */
export class Interrupted extends SuiteError {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`, signalExit(signal))
  }
}

/** A server or instance that cannot be reached: before destruction this is a refusal (fail closed). */
export class UnreachableError extends Error {}

/** The exit code an error carries, else the fallback (the failing phase's). */
export const exitCodeOf = (e: unknown, fallback: ExitCode): ExitCode =>
  e instanceof SuiteError ? e.exitCode : fallback

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))
