// The rebuild mode (Compose only), the old script's way: `down -v` removes every container and
// volume (all data), then `up --build -d` builds the images and starts everything again. With
// SERVICES, only those are rebuilt and recreated, and the volumes stay.
import type { Reach } from '../access/reach.ts'
import type { Config } from '../config/config.ts'
import { Restarting } from './restarting.ts'

export class Rebuild extends Restarting {
  readonly name = 'rebuild' as const
  protected readonly verb = 'recreated'

  problems(config: Config): string[] {
    return config.target === 'kubernetes'
      ? ['RESTART_MODE=rebuild is a Compose mode; on Kubernetes use restart (rollout restart)']
      : []
  }

  protected chosen(): string[] {
    return []
  }

  protected wipes(): boolean {
    return this.services.length === 0
  }

  protected async apply(r: Reach, services: string[], held: string[]): Promise<string> {
    if (services.length) return r.target.recreate(services, { build: true, except: held })
    const down = await r.target.wipe()
    return `${down} && ${await r.target.recreate([], { build: true, except: held })}`
  }

  protected restore(r: Reach, services: string[]): Promise<string> {
    return r.target.recreate(services, { build: true })
  }
}
