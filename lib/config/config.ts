// The suite's configuration. Its own settings come from, strongest first: --key-name flags,
// RT_-prefixed environment variables, the suite's .env, defaults. Variables exported for other
// tools (SERVICES, LOG_FILE, APP_DIR, a DATABASE_URL meant for the app) are never read. The app
// supplies only its own credentials and names, read as Compose reads them. Every problem is
// reported at once, and every value that chooses the target remembers where it came from.
// The configuration is grouped by what reads it: the stack, then one section per concern.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parsePgUrl } from 'pg-connection-string'
import { parseURL as parseRedisUrl } from 'ioredis/built/utils/index.js'
import { UsageError } from '../util/errors.ts'
import type { Secrets } from '../util/mask.ts'
import { loadComposeProject, type ComposeProject } from './compose-project.ts'
import { parseEnvFile } from './dotenv.ts'
import {
  ACCESS_MODES,
  checkTableName,
  ENV_PREFIX,
  flagOf,
  KEYS,
  list,
  patternProblems,
  REDIS_MODES,
  RESTART_MODES,
  SERVICE_NAME,
  TARGETS,
  type AccessMode,
  type Key,
  type RedisMode,
  type ModeName,
  type TargetKind,
} from './settings.ts'
import { LOCAL_CONTEXT, LOCAL_NAMESPACE, localKubeconfig } from './local-cluster.ts'

export * from './settings.ts'

export const SUITE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

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
  /** In-place mode: the broker URL as a worker sees it ('' = its own environment's). */
  celery: { brokerUrl: string }
  apiPort: number
  apiHealthPath: string
  logFile: string
  commandTimeoutMs: number
  /** Where the run lock and the resume record live. */
  stateDir: string
  /** Where each run's page and report go, and the history ('' = none); how many runs it keeps. */
  report: { dir: string; keep: number }
  restart: {
    mode: ModeName
    /** Services (or container names) to restart; empty: all. */
    services: string[]
    readyTimeoutMs: number
    /** In place: files whose change restarts nothing (globs). */
    driftIgnore: string[]
    /** In place: a worker whose log since it started has such a line is restarted (null: never). */
    reconnectPattern: RegExp | null
  }
  database: {
    tables: string[]
    cascadeTables: string[]
    /** Triggers that fire on TRUNCATE and may run. */
    truncateTriggers: string[]
    lockTimeoutMs: number
    statementTimeoutMs: number
    access: AccessMode
    url: string
    user: string
    password: string
    /** The database name the app uses. */
    name: string
  }
  redis: {
    mode: RedisMode
    patterns: string[]
    keep: string[]
    db: number
    username: string
    password: string
    access: AccessMode
    url: string
    timeoutMs: number
  }
  test: {
    command: string
    passPattern: RegExp | null
    failPattern: RegExp | null
    timeoutMs: number
    /** A queue that holds messages this long without getting shorter is warned about (0: never). */
    stallWarnMs: number
    checksFile: string
    strictLogs: boolean
  }
  safety: {
    safeHosts: string[]
    allowProduction: string
    /** Every place an environment name (ENVIRONMENT, NODE_ENV, ...) may be set, for the production check. */
    signalSources: { source: string; env: Record<string, string | undefined> }[]
    /** Suite settings exported without the prefix, which the suite does not read: shown in the plan. */
    ignored: string[]
  }
  recovery: {
    migrationCmd: string[]
    circuitServices: string[]
    circuitPatterns: string[]
    processingLimitMinutes: number
  }
  /** Every setting's value as resolved: for ${SETTING} in the checks file. */
  values: Record<Key, string>
  /** Passwords never to print, and the names that must stay readable. */
  secrets: Secrets
  /** Where each setting that chooses the target came from. */
  sources: Partial<Record<Key | 'project' | 'composeFiles', Source>>
}

export class ConfigError extends UsageError {
  constructor(public problems: string[]) {
    super(`bad configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

export interface Sources {
  env?: Record<string, string | undefined>
  flags?: Record<string, string>
  root?: string
}

export function loadConfig({ env = process.env, flags = {}, root = SUITE_ROOT }: Sources = {}): Config {
  const r = new Reader(env, flags, root)
  const stack = readStack(r)
  const config: Config = {
    ...stack,
    restart: readRestart(r),
    database: readDatabase(r),
    redis: readRedis(r),
    test: readTest(r),
    safety: readSafety(r, stack),
    recovery: readRecovery(r),
    values: Object.fromEntries((Object.keys(KEYS) as Key[]).map((k) => [k, r.get(k)])) as Record<Key, string>,
    secrets: { values: [], words: [] },
    sources: r.sources,
  }
  if (r.problems.length) throw new ConfigError(r.problems)
  config.secrets = secretsOf(config)
  return config
}

/** The suite's own settings and the app's values, each with where it came from; problems collected. */
class Reader {
  readonly problems: string[] = []
  readonly sources: Config['sources'] = {}
  readonly suiteEnv: Record<string, string>
  compose: ComposeProject | null = null
  appEnv: Record<string, string> = {}
  appDir = ''

  constructor(
    readonly env: Record<string, string | undefined>,
    private flags: Record<string, string>,
    readonly root: string,
  ) {
    this.suiteEnv = this.envFile(path.join(root, '.env'))
    for (const k of Object.keys(env)) {
      if (k.startsWith(ENV_PREFIX) && env[k] !== undefined && !(k.slice(ENV_PREFIX.length) in KEYS))
        this.problems.push(`${k} in the environment is not a setting of the suite (see .env.example)`)
    }
  }

  envFile(file: string): Record<string, string> {
    try {
      return existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8'), (name) => this.env[name]) : {}
    } catch (e) {
      this.problems.push(`${file}: ${(e as Error).message}`)
      return {}
    }
  }

  /** The suite's own value of a key and where it came from; undefined when only the default applies. */
  own(key: Key): [string, Source] | undefined {
    if (this.flags[key] !== undefined) return [this.flags[key], `--${flagOf(key)}`]
    const fromEnv = this.env[ENV_PREFIX + key]
    if (fromEnv !== undefined) return [fromEnv, `${ENV_PREFIX}${key} in the environment`]
    if (this.suiteEnv[key] !== undefined) return [this.suiteEnv[key], `${key} in ${path.join(this.root, '.env')}`]
    return undefined
  }

  get(key: Key): string {
    const found = this.own(key)
    if (found) this.sources[key] = found[1]
    return (found?.[0] ?? KEYS[key][0]).trim()
  }

  oneOf<T extends string>(key: Key, allowed: readonly T[]): T {
    const v = this.get(key).toLowerCase() as T
    if (!allowed.includes(v))
      this.problems.push(`${key}=${JSON.stringify(this.get(key))} is not one of ${allowed.join(', ')}`)
    return v
  }

  seconds(key: Key): number {
    const v = this.get(key)
    const n = Number(v)
    if (v === '' || !Number.isFinite(n) || n <= 0)
      this.problems.push(`${key}=${JSON.stringify(v)} must be a positive number of seconds`)
    return n * 1000
  }

  count(key: Key, v = this.get(key)): number {
    const n = Number(v)
    if (v === '' || !Number.isInteger(n) || n < 0)
      this.problems.push(`${key}=${JSON.stringify(v)} must be a whole number, 0 or more`)
    return n
  }

  bool(key: Key): boolean {
    const v = this.get(key).toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(v)) return true
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false
    this.problems.push(`${key}=${JSON.stringify(this.get(key))} must be true or false`)
    return false
  }

  service(key: Key): string {
    const v = this.get(key)
    if (!SERVICE_NAME.test(v)) this.problems.push(`${key}=${JSON.stringify(v)} is not a service name`)
    return v
  }

  services(key: Key): string[] {
    const names = list(this.get(key))
    for (const s of names)
      if (!SERVICE_NAME.test(s)) this.problems.push(`${key}: ${JSON.stringify(s)} is not a service name`)
    return names
  }

  pattern(key: Key): RegExp | null {
    const v = this.get(key)
    if (!v) return null
    try {
      return new RegExp(v, 'm')
    } catch (e) {
      this.problems.push(`${key}=${JSON.stringify(v)} is not a regular expression: ${(e as Error).message}`)
      return null
    }
  }

  tables(key: Key): string[] {
    const names = list(this.get(key))
    for (const t of names) {
      const bad = checkTableName(t)
      if (bad) this.problems.push(`${key}: ${bad}`)
    }
    return names
  }

  /** A value of the app's: the environment of the first of these services that sets it, then the app's .env. */
  fromApp(name: string, serviceKeys: Key[]): [string, Source] | undefined {
    for (const key of this.compose ? serviceKeys : []) {
      const svc = this.get(key)
      if (!this.compose!.services.includes(svc)) continue
      const v = this.environment(svc)[name]
      if (v !== undefined && v !== '') return [v, `${name} of the ${svc} service (${this.compose!.dir})`]
    }
    if (this.appEnv[name] !== undefined && this.appEnv[name] !== '')
      return [this.appEnv[name], `${name} in ${path.join(this.appDir, '.env')}`]
    return undefined
  }

  /** The suite's own value, else the app's, else the fallback. */
  appValue(key: Key, serviceKeys: Key[], fallback: string): string {
    const found = this.own(key) ?? this.fromApp(key, serviceKeys)
    if (found) this.sources[key] = found[1]
    return found ? found[0] : fallback
  }

  environment(service: string): Record<string, string> {
    try {
      return this.compose!.environment(service)
    } catch (e) {
      this.problems.push((e as Error).message)
      return {}
    }
  }
}

type Stack = Pick<
  Config,
  | 'target'
  | 'appDir'
  | 'compose'
  | 'composeFiles'
  | 'project'
  | 'composeCmd'
  | 'kube'
  | 'services'
  | 'requiredServices'
  | 'workerServices'
  | 'celery'
  | 'apiPort'
  | 'apiHealthPath'
  | 'logFile'
  | 'commandTimeoutMs'
  | 'stateDir'
  | 'report'
>

/** The app, what Compose makes of it (or the namespace), and its services. */
function readStack(r: Reader): Stack {
  const target = r.oneOf('TARGET', TARGETS)
  const appDir = (r.appDir = path.resolve(r.root, r.get('APP_DIR')))
  if (!existsSync(appDir)) r.problems.push(`APP_DIR ${appDir} does not exist (${r.sources.APP_DIR ?? 'default'})`)
  else if (target === 'kubernetes') r.appEnv = r.envFile(path.join(appDir, '.env'))
  else {
    try {
      r.compose = loadComposeProject(appDir, r.env)
      r.appEnv = r.compose.dotenv
    } catch (e) {
      r.problems.push((e as Error).message)
    }
  }
  if (r.compose) {
    r.sources.project = r.compose.nameSource
    r.sources.composeFiles = r.compose.filesSource
  }
  const apiHealthPath = r.get('API_HEALTH_PATH')
  if (apiHealthPath && !apiHealthPath.startsWith('/')) r.problems.push('API_HEALTH_PATH must start with /')
  const kube = readKube(r, target)
  return {
    target,
    appDir,
    compose: r.compose,
    composeFiles: r.compose?.files ?? [],
    project: target === 'kubernetes' ? kube.namespace : (r.compose?.name ?? path.basename(appDir)),
    composeCmd: r.get('COMPOSE_CMD') ? r.get('COMPOSE_CMD').split(/\s+/) : null,
    kube,
    services: {
      api: r.service('API_SERVICE'),
      postgres: r.service('POSTGRES_SERVICE'),
      redis: r.service('REDIS_SERVICE'),
    },
    requiredServices: r.services('REQUIRED_SERVICES'),
    workerServices: r.services('WORKER_SERVICES'),
    celery: { brokerUrl: r.get('CELERY_BROKER_URL') },
    apiPort: r.count('API_PORT'),
    apiHealthPath,
    logFile:
      target === 'kubernetes'
        ? r.get('LOG_FILE') || '/app/logs/combined.log'
        : path.resolve(appDir, r.get('LOG_FILE') || 'logs/combined.log'),
    commandTimeoutMs: r.seconds('COMMAND_TIMEOUT'),
    stateDir: path.resolve(r.root, r.get('STATE_DIR')),
    report: readReport(r),
  }
}

function readReport(r: Reader): Config['report'] {
  const dir = r.get('REPORT_DIR')
  const keep = r.count('REPORT_KEEP')
  if (keep < 1) r.problems.push(`REPORT_KEEP=${JSON.stringify(r.get('REPORT_KEEP'))} must be 1 or more`)
  return { dir: dir && path.resolve(r.root, dir), keep }
}

/**
 * The context and namespace the suite acts in: both named, or neither (the bundled local cluster,
 * scripts/ensure-k8s.mts, and the example on it). One without the other is a mistake.
 */
function readKube(r: Reader, target: TargetKind): Config['kube'] {
  const kube = {
    context: r.get('KUBE_CONTEXT'),
    namespace: r.get('KUBE_NAMESPACE'),
    kubeconfig: r.get('KUBECONFIG_FILE'),
    selector: r.get('KUBE_SELECTOR'),
  }
  if (target === 'kubernetes') {
    if (!kube.context && !kube.namespace && !kube.kubeconfig) {
      const bundled = 'the bundled local cluster (no KUBE_CONTEXT set)'
      Object.assign(kube, { context: LOCAL_CONTEXT, namespace: LOCAL_NAMESPACE, kubeconfig: localKubeconfig(r.env) })
      Object.assign(r.sources, { KUBE_CONTEXT: bundled, KUBE_NAMESPACE: bundled })
    }
    if (!kube.context)
      r.problems.push('TARGET=kubernetes needs KUBE_CONTEXT: the suite acts only in the context you name')
    if (!kube.namespace)
      r.problems.push('TARGET=kubernetes needs KUBE_NAMESPACE: the suite acts only in the namespace you name')
    if (!kube.selector.includes('{service}'))
      r.problems.push('KUBE_SELECTOR must contain {service}, e.g. app.kubernetes.io/component={service}')
  }
  if (kube.kubeconfig) kube.kubeconfig = path.resolve(r.root, kube.kubeconfig)
  return kube
}

function readRestart(r: Reader): Config['restart'] {
  const mode = r.oneOf('RESTART_MODE', RESTART_MODES)
  return {
    mode,
    services: r.services('SERVICES'),
    readyTimeoutMs: r.seconds('READY_TIMEOUT'),
    driftIgnore: list(r.get('DRIFT_IGNORE')),
    reconnectPattern: r.pattern('WORKER_RECONNECT_PATTERN'),
  }
}

function readDatabase(r: Reader): Config['database'] {
  const tables = r.tables('RESET_TABLES')
  if (tables.length === 0) r.problems.push('RESET_TABLES is empty: name the tables to truncate, e.g. jobs,leads')
  const url = r.get('DATABASE_URL')
  if (url && !/^postgres(ql)?:\/\//.test(url))
    r.problems.push(
      'DATABASE_URL must start with postgres:// or postgresql:// (a driver suffix such as +asyncpg is for the app, ' +
        'not for this suite)',
    )
  const user = r.appValue('POSTGRES_USER', ['POSTGRES_SERVICE', 'API_SERVICE'], 'postgres')
  return {
    tables,
    cascadeTables: r.tables('CASCADE_TABLES'),
    truncateTriggers: list(r.get('TRUNCATE_TRIGGERS')),
    lockTimeoutMs: r.seconds('LOCK_TIMEOUT'),
    statementTimeoutMs: r.seconds('STATEMENT_TIMEOUT'),
    access: r.oneOf('DB_ACCESS', ACCESS_MODES),
    url,
    user,
    password: r.appValue('POSTGRES_PASSWORD', ['POSTGRES_SERVICE', 'API_SERVICE'], ''),
    name: r.appValue('POSTGRES_DB', ['POSTGRES_SERVICE', 'API_SERVICE'], user),
  }
}

function readRedis(r: Reader): Config['redis'] {
  const mode = r.oneOf('REDIS_MODE', REDIS_MODES)
  const patterns = list(r.get('REDIS_PATTERNS'))
  if (mode === 'patterns') {
    if (patterns.length === 0)
      r.problems.push('REDIS_MODE=patterns needs REDIS_PATTERNS, e.g. circuit_breaker:*,queue_paused:*')
    else
      for (const p of patternProblems(patterns, 'use REDIS_MODE=flushdb to empty the database'))
        r.problems.push(`REDIS_PATTERNS: ${p}`)
  }
  const url = r.get('REDIS_URL')
  if (url && !/^rediss?:\/\//.test(url)) r.problems.push('REDIS_URL must start with redis:// or rediss://')
  const db = r.count('REDIS_DB', r.appValue('REDIS_DB', ['API_SERVICE'], '0'))
  if (db > 15) r.problems.push(`REDIS_DB=${db} is outside 0..15`)
  return {
    mode,
    patterns,
    keep: list(r.get('REDIS_KEEP')),
    db,
    username: r.appValue('REDIS_USERNAME', ['API_SERVICE', 'REDIS_SERVICE'], ''),
    password: r.appValue('REDIS_PASSWORD', ['API_SERVICE', 'REDIS_SERVICE'], ''),
    access: r.oneOf('REDIS_ACCESS', ACCESS_MODES),
    url,
    timeoutMs: r.seconds('REDIS_TIMEOUT'),
  }
}

function readTest(r: Reader): Config['test'] {
  const command = r.get('TEST_COMMAND')
  if (!command) r.problems.push('TEST_COMMAND is empty')
  for (const key of Object.keys(KEYS) as Key[]) if (key.startsWith('EXPECT_') && r.get(key) !== '') r.count(key)
  const states = list(r.get('CAMPAIGN_FINISHED_STATES'))
  for (const s of states)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s))
      r.problems.push(`CAMPAIGN_FINISHED_STATES: ${JSON.stringify(s)} is not a state name`)
  if (states.length === 0)
    r.problems.push('CAMPAIGN_FINISHED_STATES is empty; the real app leaves its campaigns RUNNING: RUNNING,COMPLETED')
  return {
    command,
    passPattern: r.pattern('TEST_PASS_PATTERN'),
    failPattern: r.pattern('TEST_FAIL_PATTERN'),
    timeoutMs: r.seconds('TEST_TIMEOUT'),
    stallWarnMs: r.get('QUEUE_STALL_WARN') ? r.seconds('QUEUE_STALL_WARN') : 0,
    checksFile: path.resolve(r.root, r.get('CHECKS_FILE')),
    strictLogs: r.bool('STRICT_LOGS'),
  }
}

function readSafety(r: Reader, stack: Stack): Config['safety'] {
  const signalSources = [
    { source: 'the environment', env: r.env },
    { source: path.join(r.root, '.env'), env: r.suiteEnv },
    { source: path.join(stack.appDir, '.env'), env: r.appEnv },
  ]
  if (r.compose?.services.includes(stack.services.api))
    signalSources.push({
      source: `the ${stack.services.api} service's environment`,
      env: r.environment(stack.services.api),
    })
  const ignored = (
    [
      'APP_DIR',
      'SERVICES',
      'LOG_FILE',
      'DATABASE_URL',
      'REDIS_URL',
      'RESTART_MODE',
      'RESET_TABLES',
      'TEST_COMMAND',
    ] as Key[]
  ).filter((k) => r.env[k] !== undefined)
  return { safeHosts: list(r.get('SAFE_HOSTS')), allowProduction: r.get('ALLOW_PRODUCTION'), signalSources, ignored }
}

function readRecovery(r: Reader): Config['recovery'] {
  const circuitPatterns = list(r.get('CIRCUIT_PATTERNS'))
  const circuitProblems = patternProblems(circuitPatterns, 'use --all to empty the database (FLUSHDB)')
  if (circuitProblems.length) r.problems.push(`CIRCUIT_PATTERNS: ${circuitProblems.join('; ')}`)
  const circuitServices = list(r.get('CIRCUIT_SERVICES'))
  if (circuitServices.length === 0) r.problems.push('CIRCUIT_SERVICES is empty; e.g. perplexity,openai')
  const migrationCmd = r.get('MIGRATION_CMD').split(/\s+/).filter(Boolean)
  if (migrationCmd.length === 0) r.problems.push('MIGRATION_CMD is empty; e.g. alembic or "flask db"')
  const limit = r.get('PROCESSING_LIMIT')
  const processingLimitMinutes = Number(limit)
  if (limit === '' || !Number.isFinite(processingLimitMinutes) || processingLimitMinutes <= 0)
    r.problems.push(`PROCESSING_LIMIT=${JSON.stringify(limit)} must be a positive number`)
  return { migrationCmd, circuitServices, circuitPatterns, processingLimitMinutes }
}

/** The passwords to mask, and the names (services, tables, users) that must stay readable. */
function secretsOf(config: Config): Secrets {
  const { database, redis, services, compose, project } = config
  return {
    values: [database.password, redis.password, urlPassword(database.url), urlPassword(redis.url)].filter(
      (s) => s.length > 0,
    ),
    words: [
      ...Object.values(services),
      ...config.requiredServices,
      ...config.workerServices,
      ...(compose?.services ?? []),
      ...database.tables,
      ...database.tables.map((t) => t.split('.').pop()!),
      database.user,
      database.name,
      redis.username,
      project,
    ].filter(Boolean),
  }
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
    return {
      host: p.path ? null : (p.host ?? 'localhost'),
      db: Number(p.db ?? 0),
      username: p.username ?? '',
      password: p.password ?? '',
    }
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

/** The name of a target's lock and record: its kind, its project or namespace, and a digest of where it is. */
export function stateKey(config: Pick<Config, 'target' | 'project' | 'appDir' | 'kube'>): string {
  const where =
    config.target === 'kubernetes'
      ? `${config.kube.kubeconfig}|${config.kube.context}|${config.kube.namespace}`
      : config.appDir
  return `${config.target}-${config.project}-${createHash('sha256').update(where).digest('hex').slice(0, 8)}`
}
