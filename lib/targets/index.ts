// The target a configuration names: a Compose project (default) or a Kubernetes namespace.
import type { Config } from '../config/config.ts'
import type { Runner } from '../util/command.ts'
import type { Target } from './target.ts'
import type { Clock } from '../util/wait.ts'
import { ComposeTarget } from './compose.ts'
import { KubernetesTarget } from './kubernetes.ts'

export function createTarget(config: Config, run: Runner, clock: Clock, signal: AbortSignal): Target {
  if (config.target === 'kubernetes') return new KubernetesTarget(run, config, clock, signal)
  // The project directory is the first compose file's, as Compose has it (the app's directory but for COMPOSE_FILE).
  return new ComposeTarget(run, { ...config, appDir: config.compose?.dir ?? config.appDir, allServices: config.compose?.services ?? [] }, clock, signal)
}
