// The suite's configuration: defaults, then the app's .env, then the suite's .env,
// then the environment, then command-line flags. Every problem is reported at once.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import dotenv from 'dotenv'

export const SUITE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export const RESTART_MODES = ['restart', 'recreate', 'rebuild'] as const
export type RestartMode = (typeof RESTART_MODES)[number]
export const REDIS_MODES = ['flushall', 'flushdb', 'patterns'] as const
export type RedisMode = (typeof REDIS_MODES)[number]
export const ACCESS_MODES = ['auto', 'port', 'exec'] as const
export type AccessMode = (typeof ACCESS_MODES)[number]

/** Tables the suite refuses to truncate whatever the configuration says. */
export const PROTECTED_TABLES = ['alembic_version']

/** Every key the suite reads, with its default and what it means (the README and .env.example say the same). */
export const KEYS = {
  APP_DIR: ['example', "the app's directory (holds docker-compose.yml and the app's .env); relative to the suite"],
  COMPOSE_FILE: ['', 'compose file; default <APP_DIR>/docker-compose.yml'],
  COMPOSE_PROJECT_NAME: ['fastapi-k8-proto', 'compose project name; containers are found by its label'],
  COMPOSE_CMD: ['', "compose command, e.g. 'docker compose' or 'docker-compose'; default: v2 if present, else v1"],
  API_SERVICE: ['api', 'service that runs the test'],
  POSTGRES_SERVICE: ['postgres', 'PostgreSQL service'],
  REDIS_SERVICE: ['redis', 'Redis service'],
  REQUIRED_SERVICES: ['postgres,redis,api,worker', 'services that must be running for the reset'],
  API_HEALTH_PATH: ['/api/v1/health', "HTTP path probed on the api's published port 8000 before it counts as ready ('' = none)"],
  RESTART_MODE: ['restart', 'restart | recreate | rebuild'],
  SERVICES: ['', "restart only these services (or container names, mapped to their service); '' = all"],
  READY_TIMEOUT: ['120', 'seconds to wait for every container to be ready'],
  RESET_TABLES: ['jobs,leads,campaigns,organizations,users', 'tables truncated in one statement'],
  LOCK_TIMEOUT: ['5', 'seconds the truncation waits for a table lock before failing'],
  STATEMENT_TIMEOUT: ['60', 'seconds any one SQL statement may run'],
  DB_ACCESS: ['auto', 'auto | port (pg to the published port) | exec (psql inside the container)'],
  DATABASE_URL: ['', 'postgres://user:pass@host:port/db; default: the published port and the app .env credentials'],
  POSTGRES_USER: ['postgres', "database user (the app's .env value is used when present)"],
  POSTGRES_PASSWORD: ['', "database password (the app's .env value is used when present)"],
  POSTGRES_DB: ['postgres', "database name (the app's .env value is used when present)"],
  REDIS_MODE: ['flushall', 'flushall | flushdb | patterns'],
  REDIS_PATTERNS: ['', 'comma-separated SCAN patterns deleted in patterns mode'],
  REDIS_DB: ['0', "Redis database index (the app's .env value is used when present)"],
  REDIS_ACCESS: ['auto', 'auto | port (client to the published port) | exec (redis-cli inside the container)'],
  REDIS_URL: ['', 'redis://host:port/db; default: the published port'],
  REDIS_TIMEOUT: ['10', 'seconds any one Redis command may take'],
  LOG_FILE: ['', "the shared log file; default <APP_DIR>/logs/combined.log"],
  TEST_COMMAND: ['python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py', 'run inside the api container'],
  TEST_TIMEOUT: ['1200', 'seconds the test may run before it is stopped'],
  COMMAND_TIMEOUT: ['120', 'seconds any other docker command may take'],
  EXPECT_CAMPAIGNS: ['10', 'campaigns after the test'],
  EXPECT_LEADS: ['200', 'leads after the test'],
  EXPECT_FETCH_JOBS_COMPLETED: ['10', 'FETCH_LEADS jobs COMPLETED'],
  EXPECT_ENRICH_JOBS_COMPLETED: ['200', 'ENRICH_LEAD jobs COMPLETED'],
  EXPECT_FAILED_JOBS: ['0', 'jobs FAILED'],
  EXPECT_PAUSED_CAMPAIGNS: ['0', 'campaigns PAUSED'],
  EXPECT_USERS_MIN: ['1', 'at least this many users'],
  EXPECT_ORGANIZATIONS_MIN: ['1', 'at least this many organizations'],
  STRICT_LOGS: ['false', 'ERROR/CRITICAL/Traceback lines in the log fail validation'],
  SAFE_HOSTS: ['', 'extra database/Redis hosts counted as local (comma-separated)'],
  ALLOW_PRODUCTION: ['', 'name of the database you confirm may be reset although it looks like production'],
  STATE_DIR: ['.state', 'where the run lock and the resume state live; relative to the suite'],
  MIGRATION_CMD: ['alembic', "the app's migration tool, run in the api container by rollback-db, e.g. alembic or 'flask db'"],
  CIRCUIT_SERVICES: ['perplexity,openai,apollo,instantly,millionverifier', 'services with a circuit breaker (circuit_breaker:, circuit_failures:, queue_paused:<service>), for check-circuit'],
  CIRCUIT_PATTERNS: ['circuit_breaker:*,circuit_failures:*,queue_paused:*', 'SCAN patterns reset-circuit deletes; circuit_breaker:* also covers the planned circuit_breaker:global'],
  PROCESSING_LIMIT: ['30', 'minutes a job may stay PROCESSING (by updated_at) before check-consistency reports it stuck'],
} as const satisfies Record<string, readonly [string, string]>
export type Key = keyof typeof KEYS

export interface Expectation {
  key: Key
  label: string
  op: '=' | '>='
  value: number
}

export interface Config {
  appDir: string
  composeFile: string
  project: string
  composeCmd: string[] | null
  services: { api: string; postgres: string; redis: string }
  requiredServices: string[]
  apiHealthPath: string
  restartMode: RestartMode
  /** Services (or container names) the restart phase is limited to; empty: all. */
  restartServices: string[]
  readyTimeoutMs: number
  tables: string[]
  lockTimeoutMs: number
  statementTimeoutMs: number
  dbAccess: AccessMode
  databaseUrl: string
  postgres: { user: string; password: string; db: string }
  redisMode: RedisMode
  redisPatterns: string[]
  redisDb: number
  redisAccess: AccessMode
  redisUrl: string
  redisTimeoutMs: number
  logFile: string
  testCommand: string
  testTimeoutMs: number
  commandTimeoutMs: number
  expectations: Expectation[]
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
  /** Values never to print: passwords, and URLs' passwords. */
  secrets: string[]
  /** The merged raw values, for the production-signal check. */
  env: Record<string, string>
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

function readEnvFile(file: string): Record<string, string> {
  return existsSync(file) ? dotenv.parse(readFileSync(file)) : {}
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

export interface Sources {
  env?: Record<string, string | undefined>
  flags?: Record<string, string>
  root?: string
}

export function loadConfig({ env = process.env, flags = {}, root = SUITE_ROOT }: Sources = {}): Config {
  const suiteEnv = readEnvFile(path.join(root, '.env'))
  const pick = (key: string) => flags[key] ?? env[key] ?? suiteEnv[key]
  const appDir = path.resolve(root, pick('APP_DIR') ?? KEYS.APP_DIR[0])
  const appEnv = readEnvFile(path.join(appDir, '.env'))
  const raw: Record<string, string> = {}
  for (const [k, v] of Object.entries(appEnv)) raw[k] = v
  for (const [k, v] of Object.entries(suiteEnv)) raw[k] = v
  for (const [k, v] of Object.entries(env)) if (v !== undefined) raw[k] = v
  for (const [k, v] of Object.entries(flags)) raw[k] = v
  const get = (key: Key) => (raw[key] ?? KEYS[key][0]).trim()

  const problems: string[] = []
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
  const count = (key: Key): number => {
    const v = get(key)
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
    if (!SERVICE.test(v)) problems.push(`${key}=${JSON.stringify(v)} is not a compose service name`)
    return v
  }

  const tables = list(get('RESET_TABLES'))
  if (tables.length === 0) problems.push('RESET_TABLES is empty: name the tables to truncate, e.g. jobs,leads')
  for (const t of tables) {
    const bad = checkTableName(t)
    if (bad) problems.push(`RESET_TABLES: ${bad}`)
  }
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
  const redisDb = count('REDIS_DB')
  if (redisDb > 15) problems.push(`REDIS_DB=${redisDb} is outside 0..15`)
  const project = get('COMPOSE_PROJECT_NAME')
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) problems.push(`COMPOSE_PROJECT_NAME=${JSON.stringify(project)} must be lower-case letters, digits, - and _`)
  const requiredServices = list(get('REQUIRED_SERVICES'))
  for (const s of requiredServices) if (!SERVICE.test(s)) problems.push(`REQUIRED_SERVICES: ${JSON.stringify(s)} is not a compose service name`)
  for (const s of list(get('SERVICES'))) if (!SERVICE.test(s)) problems.push(`SERVICES: ${JSON.stringify(s)} is not a service or container name`)
  const testCommand = get('TEST_COMMAND')
  if (!testCommand) problems.push('TEST_COMMAND is empty')
  const databaseUrl = get('DATABASE_URL')
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push('DATABASE_URL must start with postgres:// or postgresql://')
  const redisUrl = get('REDIS_URL')
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must start with redis://')
  const apiHealthPath = get('API_HEALTH_PATH')
  if (apiHealthPath && !apiHealthPath.startsWith('/')) problems.push('API_HEALTH_PATH must start with /')

  const expectations: Expectation[] = []
  for (const key of Object.keys(KEYS) as Key[]) {
    if (!key.startsWith('EXPECT_') || get(key) === '') continue
    expectations.push({ key, label: KEYS[key][1], op: key.endsWith('_MIN') ? '>=' : '=', value: count(key) })
  }

  const config: Config = {
    appDir,
    composeFile: path.resolve(appDir, get('COMPOSE_FILE') || 'docker-compose.yml'),
    project,
    composeCmd: get('COMPOSE_CMD') ? get('COMPOSE_CMD').split(/\s+/) : null,
    services: { api: service('API_SERVICE'), postgres: service('POSTGRES_SERVICE'), redis: service('REDIS_SERVICE') },
    requiredServices,
    apiHealthPath,
    restartMode: oneOf('RESTART_MODE', RESTART_MODES),
    restartServices: list(get('SERVICES')),
    readyTimeoutMs: seconds('READY_TIMEOUT'),
    tables,
    lockTimeoutMs: seconds('LOCK_TIMEOUT'),
    statementTimeoutMs: seconds('STATEMENT_TIMEOUT'),
    dbAccess: oneOf('DB_ACCESS', ACCESS_MODES),
    databaseUrl,
    postgres: { user: get('POSTGRES_USER'), password: get('POSTGRES_PASSWORD'), db: get('POSTGRES_DB') },
    redisMode,
    redisPatterns,
    redisDb,
    redisAccess: oneOf('REDIS_ACCESS', ACCESS_MODES),
    redisUrl,
    redisTimeoutMs: seconds('REDIS_TIMEOUT'),
    logFile: path.resolve(appDir, get('LOG_FILE') || 'logs/combined.log'),
    testCommand,
    testTimeoutMs: seconds('TEST_TIMEOUT'),
    commandTimeoutMs: seconds('COMMAND_TIMEOUT'),
    expectations,
    strictLogs: bool('STRICT_LOGS'),
    safeHosts: list(get('SAFE_HOSTS')),
    allowProduction: get('ALLOW_PRODUCTION'),
    stateDir: path.resolve(root, get('STATE_DIR')),
    migrationCmd,
    circuitServices,
    circuitPatterns,
    processingLimitMinutes,
    secrets: [],
    env: raw,
  }
  if (problems.length) throw new ConfigError(problems)
  config.secrets = [config.postgres.password, urlPassword(databaseUrl), urlPassword(redisUrl)].filter((s) => s.length > 0)
  return config
}

function urlPassword(url: string): string {
  try {
    return url ? decodeURIComponent(new URL(url).password) : ''
  } catch {
    return ''
  }
}

/** Replace every secret in a text with ***. */
export function mask(text: string, secrets: string[]): string {
  let out = text
  for (const s of secrets) if (s) out = out.split(s).join('***')
  return out.replace(/(\w+:\/\/[^:\s/]*:)[^@\s]+@/g, '$1***@')
}
