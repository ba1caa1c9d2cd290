// The restart mode: what a clean state needs restarts — the api (its requests, database sessions,
// stray processes and memory end) and the workers (held stopped instead when the run clears the
// broker). PostgreSQL and Redis are emptied, not restarted; other services (flower, a frontend)
// are left as they are. An instance whose PID 1 ignores its stop signal is killed at once.
import type { Reach } from '../access/reach.ts'
import type { Config } from '../config/config.ts'
import { Restarting } from './restarting.ts'

export class Restart extends Restarting {
  readonly name = 'restart' as const
  protected readonly verb = 'restarted'

  protected chosen(config: Config, running: string[]): string[] {
    return [config.services.api, ...config.workerServices].filter((s) => running.includes(s))
  }

  protected apply(r: Reach, services: string[], held: string[]): Promise<string> {
    return r.target.restart(services, held)
  }

  protected restore(r: Reach, services: string[]): Promise<void> {
    return r.target.start(services)
  }
}
