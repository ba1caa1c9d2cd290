// The one place a restart mode is chosen by its name: each name, the object that carries it out.
import type { ModeName, RestartMode } from './mode.ts'
import { InPlace } from './in-place.ts'
import { Rebuild } from './rebuild.ts'
import { Recreate } from './recreate.ts'
import { Restart } from './restart.ts'

const MODES: Record<ModeName, () => RestartMode> = {
  'in-place': () => new InPlace(),
  restart: () => new Restart(),
  recreate: () => new Recreate(),
  rebuild: () => new Rebuild(),
}

/** A fresh object for the run: it keeps what it planned and what it held. */
export const modeFor = (name: ModeName): RestartMode => MODES[name]()

export type { Figures, ModeRun, PlannedContainers, RestartMode } from './mode.ts'
