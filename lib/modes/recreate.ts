// The recreate mode: every service's containers replaced by new ones from the current
// configuration (`up -d --force-recreate`); the held workers are recreated after Redis is cleared.
import type { Reach } from '../access/reach.ts'
import { Restarting } from './restarting.ts'

export class Recreate extends Restarting {
  readonly name = 'recreate' as const
  protected readonly verb = 'recreated'

  protected chosen(): string[] {
    return []
  }

  protected apply(r: Reach, services: string[], held: string[]): Promise<string> {
    return r.target.recreate(services, { except: held })
  }

  protected restore(r: Reach, services: string[]): Promise<string> {
    return r.target.recreate(services)
  }
}
