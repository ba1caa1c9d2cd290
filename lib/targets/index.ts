// The target a configuration names: a Compose project (default) or a Kubernetes namespace.
import type { Config } from '../config/config.ts'
import type { Runner } from '../util/command.ts'
import type { Target } from './target.ts'
import type { Clock } from '../util/wait.ts'
import { ComposeTarget, type ComposeSettings } from './compose.ts'
import { KubernetesTarget } from './kubernetes.ts'

export function createTarget(config: Config, run: Runner, clock: Clock, signal: AbortSignal): Target {
  if (config.target === 'kubernetes') return new KubernetesTarget(run, config, clock, signal)
  // The project directory is the first compose file's, as Compose has it (the app's directory but for COMPOSE_FILE).
  return new ComposeTarget(run, composeSettings(config), clock, signal)
}

/** What the Compose target needs of the configuration. */
export function composeSettings(config: Config): ComposeSettings {
  return {
    appDir: config.compose?.dir ?? config.appDir,
    composeFiles: config.composeFiles,
    project: config.project,
    composeCmd: config.composeCmd,
    commandTimeoutMs: config.commandTimeoutMs,
    readyTimeoutMs: config.restart.readyTimeoutMs,
    requiredServices: config.requiredServices,
    services: config.services,
    apiHealthPath: config.apiHealthPath,
    apiPort: config.apiPort,
    logFile: config.logFile,
    allServices: config.compose?.services ?? [],
    safeHosts: config.safety.safeHosts,
    inputs: config.compose?.inputs ?? [],
  }
}
