// The suite's configuration. Its own settings come from, strongest first: --key-name flags,
// RT_-prefixed environment variables, the suite's .env, defaults. Variables exported for other
// tools (SERVICES, LOG_FILE, APP_DIR, a DATABASE_URL meant for the app) are never read. The app
// supplies only its own credentials and names, read as Compose reads them. Every problem is
// reported at once, and every value that chooses the target remembers where it came from.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parsePgUrl } from 'pg-connection-string'
import { parseURL as parseRedisUrl } from 'ioredis/built/utils/index.js'
import { loadComposeProject, type ComposeProject } from './compose-project.ts'
import { parseEnvFile } from './dotenv.ts'
import type { Secrets } from '../util/mask.ts'

export const SUITE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Environment variables configure the suite only with this prefix: RT_APP_DIR, RT_RESTART_MODE, ... */
export const ENV_PREFIX = 'RT_'

export const TARGETS = ['compose', 'kubernetes'] as const
export type TargetKind = (typeof TARGETS)[number]
export const RESTART_MODES = ['restart', 'recreate', 'rebuild'] as const
export type RestartMode = (typeof RESTART_MODES)[number]
export const REDIS_MODES = ['flushall', 'flushdb', 'patterns'] as const
export type RedisMode = (typeof REDIS_MODES)[number]
export const ACCESS_MODES = ['auto', 'port', 'exec'] as const
export type AccessMode = (typeof ACCESS_MODES)[number]

/** Tables the suite refuses to truncate whatever the configuration says. */
export const PROTECTED_TABLES = ['alembic_version']

/** The real app's verdict lines (its smoke test exits 0 either way). */
export const PASS_VERDICT = 'TEST RESULT: SUCCESSFUL EXECUTION'
export const FAIL_VERDICT = 'TEST RESULT: (SERVICE FAILURE DETECTED|APPLICATION/INFRASTRUCTURE FAILURE)'

/** Every key the suite reads, with its default and what it means (the README and .env.example say the same). */
export const KEYS = {
  APP_DIR: ['example', "the app's directory (its compose files and .env); relative to the suite"],
  TARGET: ['compose', 'compose | kubernetes: what runs the app'],
  COMPOSE_CMD: ['', "compose command, e.g. 'docker compose' or 'docker-compose'; default: v2 if present, else v1"],
  KUBE_CONTEXT: ['', 'kubernetes: the kubectl context to act in (required with TARGET=kubernetes)'],
  KUBE_NAMESPACE: ['', 'kubernetes: the namespace of the app (required with TARGET=kubernetes)'],
  KUBECONFIG_FILE: ['', "kubernetes: kubeconfig file; default kubectl's own ($KUBECONFIG or ~/.kube/config)"],
  KUBE_SELECTOR: ['app.kubernetes.io/component={service}', 'kubernetes: label selector of a service\'s pods; {service} is replaced by the service name'],
  API_SERVICE: ['api', 'service that runs the test'],
  POSTGRES_SERVICE: ['postgres', 'PostgreSQL service'],
  REDIS_SERVICE: ['redis', 'Redis service'],
  REQUIRED_SERVICES: ['postgres,redis,api,worker', 'services that must be running for the reset'],
  WORKER_SERVICES: ['worker', "services that consume the app's task queue: held stopped while the database and Redis are emptied, started after"],
  API_PORT: ['8000', "the api's port inside its container"],
  API_HEALTH_PATH: ['/api/v1/health', "HTTP path probed on the api's port before it counts as ready, redirects followed ('' = none)"],
  RESTART_MODE: ['restart', 'restart | recreate | rebuild'],
  SERVICES: ['', "restart only these services (or container names, mapped to their service); '' = all"],
  READY_TIMEOUT: ['120', 'seconds to wait for every container to be ready'],
  RESET_TABLES: ['jobs,leads,campaigns,organizations,users', 'tables truncated in one statement'],
  CASCADE_TABLES: ['', 'tables that foreign keys tie to RESET_TABLES and that may be emptied with them; any other such table refuses the run'],
  LOCK_TIMEOUT: ['5', 'seconds any statement of the reset waits for a table lock before failing'],
  STATEMENT_TIMEOUT: ['60', 'seconds any one SQL statement may run'],
  DB_ACCESS: ['auto', 'auto | port (pg to the published port or a port-forward) | exec (psql inside the container)'],
  DATABASE_URL: ['', "postgres://user:pass@host:port/db for the suite; default: the published port and the app's credentials"],
  POSTGRES_USER: ['', "database user; default: the app's (its postgres service's environment, or its .env), else postgres"],
  POSTGRES_PASSWORD: ['', "database password; default: the app's"],
  POSTGRES_DB: ['', "database name; default: the app's, else the user name"],
  REDIS_MODE: ['flushall', 'flushall | flushdb | patterns'],
  REDIS_PATTERNS: ['', 'comma-separated SCAN patterns deleted in patterns mode'],
  REDIS_DB: ['', "Redis database index; default: the app's REDIS_DB, else 0"],
  REDIS_USERNAME: ['', "Redis ACL user; default: the app's REDIS_USERNAME"],
  REDIS_PASSWORD: ['', "Redis password; default: the app's REDIS_PASSWORD"],
  REDIS_ACCESS: ['auto', 'auto | port (client to the published port or a port-forward) | exec (redis-cli inside the container)'],
  REDIS_URL: ['', 'redis://[user:pass@]host:port/db for the suite; default: the published port'],
  REDIS_TIMEOUT: ['10', 'seconds any one Redis command may take'],
  LOG_FILE: ['', "the shared log file; default <APP_DIR>/logs/combined.log (Kubernetes: /app/logs/combined.log in the api pod)"],
  TEST_COMMAND: ['python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py', 'run inside the api container'],
  TEST_PASS_PATTERN: [PASS_VERDICT, "regular expression the test's output must match to pass ('' = the exit code alone decides)"],
  TEST_FAIL_PATTERN: [FAIL_VERDICT, "regular expression that fails the test when its output matches, whatever its exit code ('' = none)"],
  TEST_TIMEOUT: ['1200', 'seconds the test may run before it is stopped'],
  COMMAND_TIMEOUT: ['120', 'seconds any other docker or kubectl command may take'],
  CHECKS_FILE: ['checks/fastapi-k8-proto.yaml', 'the checks validate makes after the test (relative to the suite); edit it for your app'],
  CAMPAIGN_FINISHED_STATES: ['RUNNING,COMPLETED', 'campaign states a good run may leave (the real app leaves them RUNNING); used by the checks file'],
  EXPECT_CAMPAIGNS: ['10', "campaigns after the test (the app's test creates 10); used by the checks file"],
  EXPECT_LEADS: ['', "exact leads after the test ('' = off; the relations are checked anyway)"],
  EXPECT_FETCH_JOBS_COMPLETED: ['', "exact FETCH_LEADS jobs COMPLETED ('' = off; one per campaign is checked anyway)"],
  EXPECT_ENRICH_JOBS_COMPLETED: ['', "exact ENRICH_LEAD jobs COMPLETED ('' = off; one per lead is checked anyway)"],
  EXPECT_JOBS: ['', "exact jobs after the test ('' = off)"],
  STRICT_LOGS: ['false', 'errors logged while the test ran fail validation (errors from the reset never do)'],
  SAFE_HOSTS: ['', 'database/Redis hosts or addresses you declare yours, for the identity check (comma-separated)'],
  ALLOW_PRODUCTION: ['', 'name of the database you confirm may be reset although it looks like production or cannot be shown to be this project\'s'],
  STATE_DIR: ['.state', 'where the run lock and the resume record live; relative to the suite'],
  MIGRATION_CMD: ['alembic', "the app's migration tool, run in the api container by rollback-db, e.g. alembic or 'flask db'"],
  CIRCUIT_SERVICES: ['perplexity,openai,apollo,instantly,millionverifier', 'services with a circuit breaker (circuit_breaker:, circuit_failures:, queue_paused:<service>), for check-circuit'],
  CIRCUIT_PATTERNS: ['circuit_breaker:*,circuit_failures:*,queue_paused:*', 'SCAN patterns reset-circuit deletes; circuit_breaker:* also covers the planned circuit_breaker:global'],
  PROCESSING_LIMIT: ['30', 'minutes a job may stay PROCESSING (by updated_at) before check-consistency reports it stuck'],
} as const satisfies Record<string, readonly [string, string]>
export type Key = keyof typeof KEYS

/** Where a setting came from, for the plan. */
export type Source = string

export interface Config {
  target: TargetKind
  appDir: string
  /** Compose: the files, project name and model Compose itself would use. */
  compose: ComposeProject | null
  composeFiles: string[]
  project: string
  composeCmd: string[] | null
  kube: { context: string; namespace: string; kubeconfig: string; selector: string }
  services: { api: string; postgres: string; redis: string }
  requiredServices: string[]
  workerServices: string[]
  apiPort: number
  apiHealthPath: string
  restartMode: RestartMode
  /** Services (or container names) the restart phase is limited to; empty: all. */
  restartServices: string[]
  readyTimeoutMs: number
  tables: string[]
  cascadeTables: string[]
  lockTimeoutMs: number
  statementTimeoutMs: number
  dbAccess: AccessMode
  databaseUrl: string
  postgres: { user: string; password: string; db: string }
  redisMode: RedisMode
  redisPatterns: string[]
  redisDb: number
  redisAuth: { username: string; password: string }
  redisAccess: AccessMode
  redisUrl: string
  redisTimeoutMs: number
  logFile: string
  testCommand: string
  testPassPattern: RegExp | null
  testFailPattern: RegExp | null
  testTimeoutMs: number
  commandTimeoutMs: number
  /** The checks validate makes (CHECKS_FILE), read and checked when a run includes validate. */
  checksFile: string
  /** Every setting's value as resolved (flag, RT_ variable, the suite's .env, default): for ${SETTING} in the checks file. */
  values: Record<Key, string>
  strictLogs: boolean
  safeHosts: string[]
  allowProduction: string
  stateDir: string
  /** The app's migration tool, as argv (rollback-db). */
  migrationCmd: string[]
  /** Services with a circuit breaker (check-circuit). */
  circuitServices: string[]
  /** What reset-circuit deletes. */
  circuitPatterns: string[]
  /** Minutes before a PROCESSING job counts as stuck (check-consistency). */
  processingLimitMinutes: number
  /** Passwords never to print, and the names that must stay readable. */
  secrets: Secrets
  /** Where each setting that chooses the target came from. */
  sources: Partial<Record<Key | 'project' | 'composeFiles', Source>>
  /** Every place an environment name (ENVIRONMENT, NODE_ENV, ...) may be set, for the production check. */
  signalSources: { source: string; env: Record<string, string | undefined> }[]
  /** Suite settings exported without the prefix, which the suite does not read: shown in the plan. */
  ignored: string[]
}

export class ConfigError extends Error {
  constructor(public problems: string[]) {
    super(`bad configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

export const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** A table name the suite accepts: identifier or schema.identifier, no quotes, no spaces, no semicolons. */
export function checkTableName(name: string): string | null {
  if (!TABLE_NAME.test(name)) return `table name ${JSON.stringify(name)} is malformed (letters, digits, _ and one optional schema dot)`
  if (PROTECTED_TABLES.includes(name.split('.').pop()!.toLowerCase())) return `table ${name} is never truncated`
  return null
}

/**
 * Every reason SCAN patterns cannot drive a selective delete: there are none, or one matches
 * every key (only * and ?). `remedy` says what to use to empty the whole database instead.
 */
export function patternProblems(patterns: string[], remedy: string): string[] {
  if (patterns.length === 0) return [`no patterns: name the keys to delete, e.g. circuit_breaker:*, or ${remedy}`]
  return patterns.filter((p) => p.replace(/[*?]/g, '') === '').map((p) => `pattern ${JSON.stringify(p)} matches every key; ${remedy}`)
}

export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

function readEnvFile(file: string, lookup: (name: string) => string | undefined): Record<string, string> {
  return existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8'), lookup) : {}
}

/** Flags like --restart-mode or --expect-leads set the key of the same name. */
export function flagsToKeys(flags: Record<string, unknown>): { values: Record<string, string>; unknown: string[] } {
  const values: Record<string, string> = {}
  const unknown: string[] = []
  for (const [flag, value] of Object.entries(flags)) {
    if (flag === '_') continue
    const key = flag.toUpperCase().replace(/-/g, '_')
    if (key in KEYS) values[key] = String(value)
    else unknown.push(flag)
  }
  return { values, unknown }
}

/** The host a PostgreSQL URL really connects to, parsed as the pg client parses it (?host= wins). */
export function databaseUrlHost(url: string): string | null {
  try {
    const host = parsePgUrl(url).host
    return host ? host.replace(/^\[|\]$/g, '') : null
  } catch {
    return null
  }
}

/** The host, db and credentials of a Redis URL, parsed as ioredis parses it (query fills what the URL lacks). */
export function redisUrlParts(url: string): { host: string | null; db: number; username: string; password: string } {
  try {
    const p = parseRedisUrl(url) as { host?: string; db?: string; username?: string; password?: string; path?: string }
    return { host: p.path ? null : (p.host ?? 'localhost'), db: Number(p.db ?? 0), username: p.username ?? '', password: p.password ?? '' }
  } catch {
    return { host: null, db: 0, username: '', password: '' }
  }
}

/** A URL's password as a client would send it. */
function urlPassword(url: string): string {
  if (!url) return ''
  if (/^rediss?:/.test(url)) return redisUrlParts(url).password
  try {
    return parsePgUrl(url).password ?? ''
  } catch {
    return ''
  }
}

export interface Sources {
  env?: Record<string, string | undefined>
  flags?: Record<string, string>
  root?: string
}

export function loadConfig({ env = process.env, flags = {}, root = SUITE_ROOT }: Sources = {}): Config {
  const problems: string[] = []
  const shellLookup = (name: string) => env[name]
  let suiteEnv: Record<string, string> = {}
  try {
    suiteEnv = readEnvFile(path.join(root, '.env'), shellLookup)
  } catch (e) {
    problems.push(`${path.join(root, '.env')}: ${(e as Error).message}`)
  }
  const sources: Config['sources'] = {}
  const unknownPrefixed = Object.keys(env).filter((k) => k.startsWith(ENV_PREFIX) && env[k] !== undefined && !(k.slice(ENV_PREFIX.length) in KEYS))
  for (const k of unknownPrefixed) problems.push(`${k} in the environment is not a setting of the suite (see .env.example)`)
  /** The suite's own value of a key and where it came from; undefined when only the default applies. */
  const own = (key: Key): [string, Source] | undefined => {
    if (flags[key] !== undefined) return [flags[key], `--${key.toLowerCase().replace(/_/g, '-')}`]
    const fromEnv = env[ENV_PREFIX + key]
    if (fromEnv !== undefined) return [fromEnv, `${ENV_PREFIX}${key} in the environment`]
    if (suiteEnv[key] !== undefined) return [suiteEnv[key], `${key} in ${path.join(root, '.env')}`]
    return undefined
  }
  const get = (key: Key): string => {
    const found = own(key)
    if (found) sources[key] = found[1]
    return (found?.[0] ?? KEYS[key][0]).trim()
  }
  const ignored = (['APP_DIR', 'SERVICES', 'LOG_FILE', 'DATABASE_URL', 'REDIS_URL', 'RESTART_MODE', 'RESET_TABLES', 'TEST_COMMAND'] as Key[]).filter((k) => env[k] !== undefined)

  const oneOf = <T extends string>(key: Key, allowed: readonly T[]): T => {
    const v = get(key).toLowerCase() as T
    if (!allowed.includes(v)) problems.push(`${key}=${JSON.stringify(get(key))} is not one of ${allowed.join(', ')}`)
    return v
  }
  const seconds = (key: Key): number => {
    const v = get(key)
    const n = Number(v)
    if (v === '' || !Number.isFinite(n) || n <= 0) problems.push(`${key}=${JSON.stringify(v)} must be a positive number of seconds`)
    return n * 1000
  }
  const count = (key: Key, v = get(key)): number => {
    const n = Number(v)
    if (v === '' || !Number.isInteger(n) || n < 0) problems.push(`${key}=${JSON.stringify(v)} must be a whole number, 0 or more`)
    return n
  }
  const bool = (key: Key): boolean => {
    const v = get(key).toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(v)) return true
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false
    problems.push(`${key}=${JSON.stringify(get(key))} must be true or false`)
    return false
  }
  const service = (key: Key): string => {
    const v = get(key)
    if (!SERVICE.test(v)) problems.push(`${key}=${JSON.stringify(v)} is not a service name`)
    return v
  }
  const services = (key: Key): string[] => {
    const names = list(get(key))
    for (const s of names) if (!SERVICE.test(s)) problems.push(`${key}: ${JSON.stringify(s)} is not a service name`)
    return names
  }
  const pattern = (key: Key): RegExp | null => {
    const v = get(key)
    if (!v) return null
    try {
      return new RegExp(v, 'm')
    } catch (e) {
      problems.push(`${key}=${JSON.stringify(v)} is not a regular expression: ${(e as Error).message}`)
      return null
    }
  }
  const tableList = (key: Key): string[] => {
    const names = list(get(key))
    for (const t of names) {
      const bad = checkTableName(t)
      if (bad) problems.push(`${key}: ${bad}`)
    }
    return names
  }

  // The app: where it is, and what Compose makes of it
  const target = oneOf('TARGET', TARGETS)
  const appDir = path.resolve(root, get('APP_DIR'))
  if (!existsSync(appDir)) problems.push(`APP_DIR ${appDir} does not exist (${sources.APP_DIR ?? 'default'})`)
  let compose: ComposeProject | null = null
  let appEnv: Record<string, string> = {}
  if (existsSync(appDir)) {
    try {
      if (target === 'compose') {
        compose = loadComposeProject(appDir, env)
        appEnv = compose.dotenv
      } else appEnv = readEnvFile(path.join(appDir, '.env'), shellLookup)
    } catch (e) {
      problems.push((e as Error).message)
    }
  }
  /** A value of the app's: its postgres service's environment, its api service's, then its .env. */
  const environment = (svc: string): Record<string, string> => {
    try {
      return compose!.environment(svc)
    } catch (e) {
      problems.push((e as Error).message)
      return {}
    }
  }
  const fromApp = (name: string, serviceKeys: Key[]): [string, Source] | undefined => {
    if (compose) {
      for (const key of serviceKeys) {
        const svc = get(key)
        if (!compose.services.includes(svc)) continue
        const v = environment(svc)[name]
        if (v !== undefined && v !== '') return [v, `${name} of the ${svc} service (${compose.dir})`]
      }
    }
    if (appEnv[name] !== undefined && appEnv[name] !== '') return [appEnv[name], `${name} in ${path.join(appDir, '.env')}`]
    return undefined
  }
  const appValue = (key: Key, serviceKeys: Key[], fallback: string): string => {
    const found = own(key) ?? fromApp(key, serviceKeys)
    if (found) sources[key] = found[1]
    return found ? found[0] : fallback
  }

  const tables = tableList('RESET_TABLES')
  if (tables.length === 0) problems.push('RESET_TABLES is empty: name the tables to truncate, e.g. jobs,leads')
  const redisMode = oneOf('REDIS_MODE', REDIS_MODES)
  const redisPatterns = list(get('REDIS_PATTERNS'))
  if (redisMode === 'patterns') {
    if (redisPatterns.length === 0) problems.push('REDIS_MODE=patterns needs REDIS_PATTERNS, e.g. circuit_breaker:*,queue_paused:*')
    else for (const p of patternProblems(redisPatterns, 'use REDIS_MODE=flushdb to empty the database')) problems.push(`REDIS_PATTERNS: ${p}`)
  }
  const circuitPatterns = list(get('CIRCUIT_PATTERNS'))
  const circuitProblems = patternProblems(circuitPatterns, 'use --all to empty the database (FLUSHDB)')
  if (circuitProblems.length) problems.push(`CIRCUIT_PATTERNS: ${circuitProblems.join('; ')}`)
  const circuitServices = list(get('CIRCUIT_SERVICES'))
  if (circuitServices.length === 0) problems.push('CIRCUIT_SERVICES is empty; e.g. perplexity,openai')
  const migrationCmd = get('MIGRATION_CMD').split(/\s+/).filter(Boolean)
  if (migrationCmd.length === 0) problems.push('MIGRATION_CMD is empty; e.g. alembic or "flask db"')
  const processingLimit = get('PROCESSING_LIMIT')
  const processingLimitMinutes = Number(processingLimit)
  if (processingLimit === '' || !Number.isFinite(processingLimitMinutes) || processingLimitMinutes <= 0)
    problems.push(`PROCESSING_LIMIT=${JSON.stringify(processingLimit)} must be a positive number`)
  const testCommand = get('TEST_COMMAND')
  if (!testCommand) problems.push('TEST_COMMAND is empty')
  const databaseUrl = get('DATABASE_URL')
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push('DATABASE_URL must start with postgres:// or postgresql:// (a driver suffix such as +asyncpg is for the app, not for this suite)')
  const redisUrl = get('REDIS_URL')
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must start with redis:// or rediss://')
  const apiHealthPath = get('API_HEALTH_PATH')
  if (apiHealthPath && !apiHealthPath.startsWith('/')) problems.push('API_HEALTH_PATH must start with /')
  const restartMode = oneOf('RESTART_MODE', RESTART_MODES)
  if (target === 'kubernetes' && restartMode === 'rebuild') problems.push('RESTART_MODE=rebuild is a Compose mode; on Kubernetes use restart (rollout restart)')
  const kube = { context: get('KUBE_CONTEXT'), namespace: get('KUBE_NAMESPACE'), kubeconfig: get('KUBECONFIG_FILE'), selector: get('KUBE_SELECTOR') }
  if (target === 'kubernetes') {
    if (!kube.context) problems.push('TARGET=kubernetes needs KUBE_CONTEXT: the suite acts only in the context you name')
    if (!kube.namespace) problems.push('TARGET=kubernetes needs KUBE_NAMESPACE: the suite acts only in the namespace you name')
    if (!kube.selector.includes('{service}')) problems.push('KUBE_SELECTOR must contain {service}, e.g. app.kubernetes.io/component={service}')
  }
  if (kube.kubeconfig) kube.kubeconfig = path.resolve(root, kube.kubeconfig)

  const user = appValue('POSTGRES_USER', ['POSTGRES_SERVICE', 'API_SERVICE'], 'postgres')
  const postgres = {
    user,
    password: appValue('POSTGRES_PASSWORD', ['POSTGRES_SERVICE', 'API_SERVICE'], ''),
    db: appValue('POSTGRES_DB', ['POSTGRES_SERVICE', 'API_SERVICE'], user),
  }
  const redisDb = count('REDIS_DB', appValue('REDIS_DB', ['API_SERVICE'], '0'))
  if (redisDb > 15) problems.push(`REDIS_DB=${redisDb} is outside 0..15`)
  const redisAuth = { username: appValue('REDIS_USERNAME', ['API_SERVICE', 'REDIS_SERVICE'], ''), password: appValue('REDIS_PASSWORD', ['API_SERVICE', 'REDIS_SERVICE'], '') }

  for (const key of Object.keys(KEYS) as Key[]) if (key.startsWith('EXPECT_') && get(key) !== '') count(key)
  for (const s of list(get('CAMPAIGN_FINISHED_STATES'))) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) problems.push(`CAMPAIGN_FINISHED_STATES: ${JSON.stringify(s)} is not a state name`)
  if (list(get('CAMPAIGN_FINISHED_STATES')).length === 0) problems.push('CAMPAIGN_FINISHED_STATES is empty; the real app leaves its campaigns RUNNING: RUNNING,COMPLETED')
  const values = Object.fromEntries((Object.keys(KEYS) as Key[]).map((k) => [k, get(k)])) as Record<Key, string>
  const apiPort = count('API_PORT')

  const composeCmd = get('COMPOSE_CMD') ? get('COMPOSE_CMD').split(/\s+/) : null
  const project = target === 'kubernetes' ? kube.namespace : (compose?.name ?? path.basename(appDir))
  const signalSources = [
    { source: 'the environment', env },
    { source: path.join(root, '.env'), env: suiteEnv },
    { source: path.join(appDir, '.env'), env: appEnv },
  ]
  if (compose) {
    const api = get('API_SERVICE')
    if (compose.services.includes(api)) signalSources.push({ source: `the ${api} service's environment`, env: environment(api) })
  }

  const config: Config = {
    target,
    appDir,
    compose,
    composeFiles: compose?.files ?? [],
    project,
    composeCmd,
    kube,
    services: { api: service('API_SERVICE'), postgres: service('POSTGRES_SERVICE'), redis: service('REDIS_SERVICE') },
    requiredServices: services('REQUIRED_SERVICES'),
    workerServices: services('WORKER_SERVICES'),
    apiPort,
    apiHealthPath,
    restartMode,
    restartServices: services('SERVICES'),
    readyTimeoutMs: seconds('READY_TIMEOUT'),
    tables,
    cascadeTables: tableList('CASCADE_TABLES'),
    lockTimeoutMs: seconds('LOCK_TIMEOUT'),
    statementTimeoutMs: seconds('STATEMENT_TIMEOUT'),
    dbAccess: oneOf('DB_ACCESS', ACCESS_MODES),
    databaseUrl,
    postgres,
    redisMode,
    redisPatterns,
    redisDb,
    redisAuth,
    redisAccess: oneOf('REDIS_ACCESS', ACCESS_MODES),
    redisUrl,
    redisTimeoutMs: seconds('REDIS_TIMEOUT'),
    logFile: target === 'kubernetes' ? get('LOG_FILE') || '/app/logs/combined.log' : path.resolve(appDir, get('LOG_FILE') || 'logs/combined.log'),
    testCommand,
    testPassPattern: pattern('TEST_PASS_PATTERN'),
    testFailPattern: pattern('TEST_FAIL_PATTERN'),
    testTimeoutMs: seconds('TEST_TIMEOUT'),
    commandTimeoutMs: seconds('COMMAND_TIMEOUT'),
    checksFile: path.resolve(root, get('CHECKS_FILE')),
    values,
    strictLogs: bool('STRICT_LOGS'),
    safeHosts: list(get('SAFE_HOSTS')),
    allowProduction: get('ALLOW_PRODUCTION'),
    stateDir: path.resolve(root, get('STATE_DIR')),
    migrationCmd,
    circuitServices,
    circuitPatterns,
    processingLimitMinutes,
    secrets: { values: [], words: [] },
    sources,
    signalSources,
    ignored,
  }
  if (compose) {
    sources.project = compose.nameSource
    sources.composeFiles = compose.filesSource
  }
  if (problems.length) throw new ConfigError(problems)
  config.secrets = {
    values: [postgres.password, redisAuth.password, urlPassword(databaseUrl), urlPassword(redisUrl)].filter((s) => s.length > 0),
    words: [
      ...Object.values(config.services),
      ...config.requiredServices,
      ...config.workerServices,
      ...(compose?.services ?? []),
      ...tables,
      ...tables.map((t) => t.split('.').pop()!),
      postgres.user,
      postgres.db,
      redisAuth.username,
      project,
    ].filter(Boolean),
  }
  return config
}
