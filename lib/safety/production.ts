// Production signals from every source: an environment name saying production in the shell, the
// suite's .env, the app's .env or the api's environment, and what the target says of itself (a
// cluster context or API server). Any one is enough to refuse, before anything changes.
import { PRODUCTION_VALUE, type Config } from '../config/config.ts'

export const ENVIRONMENT_VARS = [
  'ENVIRONMENT',
  'APP_ENV',
  'NODE_ENV',
  'RAILS_ENV',
  'RACK_ENV',
  'FLASK_ENV',
  'DJANGO_ENV',
  'ENV',
  'STAGE',
  'DEPLOY_ENV',
]

/** Every source that says production. */
export function productionSignals(config: { safety: Pick<Config['safety'], 'signalSources'> }): string[] {
  const signals: string[] = []
  for (const { source, env } of config.safety.signalSources) {
    for (const name of ENVIRONMENT_VARS) {
      const value = env[name]
      if (value && PRODUCTION_VALUE.test(value.trim())) signals.push(`${name}=${value} in ${source}`)
    }
  }
  return signals
}
