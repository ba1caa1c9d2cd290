// The suite's exit codes: the one table the phases, the errors, --help and the README all read.

export const EXIT = {
  ok: 0,
  environment: 1,
  log: 2,
  containers: 3,
  database: 4,
  redis: 5,
  test: 6,
  validation: 7,
  refused: 8,
  usage: 9,
  hangup: 129,
  interrupted: 130,
  terminated: 143,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** What each code says, in a few words (--help; the README says more). */
export const EXIT_MEANINGS: Record<ExitCode, string> = {
  0: 'ok',
  1: 'environment',
  2: 'log file',
  3: 'containers',
  4: 'database',
  5: 'Redis',
  6: 'test',
  7: 'validation or a check',
  8: 'refused, nothing changed (production, another stack, unnamed table, no confirmation, run in progress)',
  9: 'bad configuration or command line, nothing touched',
  129: 'SIGHUP',
  130: 'interrupted (Ctrl-C)',
  143: 'SIGTERM',
}

/** The code a signal ends a run with: 128 + its number, as shells report it. */
export function signalExit(signal: string): ExitCode {
  return signal === 'SIGTERM' ? EXIT.terminated : signal === 'SIGHUP' ? EXIT.hangup : EXIT.interrupted
}

/** A failure of the reset or of a task (1..7): it gets a diagnostics folder; refusals and interruptions do not. */
export const isFailure = (code: number) => code >= EXIT.environment && code <= EXIT.validation
