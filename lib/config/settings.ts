// Every setting of the suite, with its default and what it means: the one registry that --help,
// .env.example, the README and the configuration read. Also the small vocabularies settings
// choose from, and the checks of names that settings carry into SQL and shell.

/** Environment variables configure the suite only with this prefix: RT_APP_DIR, RT_RESTART_MODE, ... */
export const ENV_PREFIX = 'RT_'

export const TARGETS = ['compose', 'kubernetes'] as const
export type TargetKind = (typeof TARGETS)[number]
export const RESTART_MODES = ['restart', 'in-place', 'recreate', 'rebuild'] as const
export type ModeName = (typeof RESTART_MODES)[number]
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
  KUBE_SELECTOR: [
    'app.kubernetes.io/part-of={namespace},app.kubernetes.io/component={service}',
    "kubernetes: label selector of a service's pods and workloads; {service} and {namespace} are filled in (scoped " +
      "to the app: another app's worker in the namespace is never scaled)",
  ],
  API_SERVICE: ['api', 'service that runs the test'],
  POSTGRES_SERVICE: ['postgres', 'PostgreSQL service'],
  REDIS_SERVICE: ['redis', 'Redis service'],
  REQUIRED_SERVICES: ['postgres,redis,api,worker', 'services that must be running for the reset'],
  WORKER_SERVICES: [
    'worker',
    "services that consume the app's task queue: held (stopped, or in-place: not consuming) while the database and " +
      'Redis are emptied',
  ],
  CELERY_BROKER_URL: [
    '',
    "in-place mode: the broker URL as seen inside a worker; '' = the worker's own CELERY_BROKER_URL, REDIS_URL, else " +
      'redis://[:REDIS_PASSWORD@]REDIS_HOST:REDIS_PORT/REDIS_DB from its environment',
  ],
  API_PORT: ['8000', "the api's port inside its container"],
  API_HEALTH_PATH: [
    '/api/v1/health',
    "HTTP path probed on the api's port before it counts as ready, redirects followed ('' = none)",
  ],
  RESTART_MODE: [
    'in-place',
    'in-place (what changed under its process restarts, the workers pause untouched: a second) | restart (the api ' +
      'and the workers) | recreate | rebuild',
  ],
  DRIFT_IGNORE: [
    '__pycache__,*.pyc,*.pyo,.pytest_cache,.mypy_cache,.git,node_modules,*.log,*.swp,*~,tests',
    "in-place mode: files under a service's bind mounts whose change restarts nothing (globs; a name without / " +
      "matches any part of the path; the log's directory and the test file never count; tests: the app's " +
      'pytest files, which no running process imports)',
  ],
  WORKER_RECONNECT_PATTERN: [
    'consumer: (Cannot connect to|Connection to broker lost)',
    "in-place mode: a line of a worker's log, since it started, that restarts its service: Celery's own words when " +
      "it retried or lost the broker connection, after which kombu < 5.4 can leave it deaf ('' = never)",
  ],
  SERVICES: [
    '',
    'restart only these services (or container names, mapped to their service); in place: restart these besides ' +
      "what changed; '' = all (in place: none)",
  ],
  READY_TIMEOUT: ['120', 'seconds to wait for every container to be ready'],
  RESET_TABLES: ['jobs,leads,campaigns,organizations,users', 'tables truncated in one statement'],
  CASCADE_TABLES: [
    '',
    'tables the truncation reaches (through foreign keys, as inheritance children or partitions) that may be emptied ' +
      'with RESET_TABLES; any other such table refuses the run',
  ],
  TRUNCATE_TRIGGERS: [
    '',
    'triggers that fire on the truncation and may run (name or table.name); any other such trigger refuses the run',
  ],
  LOCK_TIMEOUT: ['5', 'seconds any statement of the reset waits for a table lock before failing'],
  STATEMENT_TIMEOUT: ['60', 'seconds any one SQL statement may run'],
  DB_ACCESS: ['auto', 'auto | port (pg to the published port or a port-forward) | exec (psql inside the container)'],
  DATABASE_URL: [
    '',
    "postgres://user:pass@host:port/db for the suite; default: the published port and the app's credentials",
  ],
  POSTGRES_USER: [
    '',
    "database user; default: the app's (its postgres service's environment, or its .env), else postgres",
  ],
  POSTGRES_PASSWORD: ['', "database password; default: the app's"],
  POSTGRES_DB: ['', "database name; default: the app's, else the user name"],
  REDIS_KEEP: [
    '_kombu.binding.*',
    "keys a flush puts back as they were (SCAN patterns in the app's database): the broker's queue bindings, which a " +
      "producer that already declared its queue never declares again ('' = none)",
  ],
  REDIS_MODE: ['flushall', 'flushall | flushdb | patterns'],
  REDIS_PATTERNS: ['', 'comma-separated SCAN patterns deleted in patterns mode'],
  REDIS_DB: ['', "Redis database index; default: the app's REDIS_DB, else 0"],
  REDIS_USERNAME: ['', "Redis ACL user; default: the app's REDIS_USERNAME"],
  REDIS_PASSWORD: ['', "Redis password; default: the app's REDIS_PASSWORD"],
  REDIS_ACCESS: [
    'auto',
    'auto | port (client to the published port or a port-forward) | exec (redis-cli inside the container)',
  ],
  REDIS_URL: ['', 'redis://[user:pass@]host:port/db for the suite; default: the published port'],
  REDIS_TIMEOUT: ['10', 'seconds any one Redis command may take'],
  LOG_FILE: [
    '',
    'the shared log file; default <APP_DIR>/logs/combined.log (Kubernetes: /app/logs/combined.log in the api pod)',
  ],
  TEST_COMMAND: [
    'python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py',
    'run inside the api container',
  ],
  TEST_PASS_PATTERN: [
    PASS_VERDICT,
    "regular expression the test's output must match to pass ('' = the exit code alone decides)",
  ],
  TEST_FAIL_PATTERN: [
    FAIL_VERDICT,
    "regular expression that fails the test when its output matches, whatever its exit code ('' = none)",
  ],
  TEST_TIMEOUT: ['1200', 'seconds the test may run before it is stopped'],
  QUEUE_STALL_WARN: [
    '60',
    "seconds the test's queue (the checks file's timeline) may hold messages without getting shorter before a " +
      "warning that the workers may have stopped taking tasks ('' = never)",
  ],
  COMMAND_TIMEOUT: ['120', 'seconds any other docker or kubectl command may take'],
  CHECKS_FILE: [
    'checks/fastapi-k8-proto.yaml',
    'the checks validate makes after the test (relative to the suite); edit it for your app',
  ],
  CAMPAIGN_FINISHED_STATES: [
    'RUNNING,COMPLETED',
    'campaign states a good run may leave (the real app leaves them RUNNING); used by the checks file',
  ],
  EXPECT_CAMPAIGNS: ['10', "campaigns after the test (the app's test creates 10); used by the checks file"],
  EXPECT_LEADS: ['', "exact leads after the test ('' = off; the relations are checked anyway)"],
  EXPECT_FETCH_JOBS_COMPLETED: ['', "exact FETCH_LEADS jobs COMPLETED ('' = off; one per campaign is checked anyway)"],
  EXPECT_ENRICH_JOBS_COMPLETED: ['', "exact ENRICH_LEAD jobs COMPLETED ('' = off; one per lead is checked anyway)"],
  EXPECT_JOBS: ['', "exact jobs after the test ('' = off)"],
  STRICT_LOGS: ['false', 'errors logged while the test ran fail validation (errors from the reset never do)'],
  SAFE_HOSTS: ['', 'database/Redis hosts or addresses you declare yours, for the identity check (comma-separated)'],
  ALLOW_PRODUCTION: [
    '',
    'name of the database you confirm may be reset although it looks like production or cannot be shown to be this ' +
      "project's",
  ],
  STATE_DIR: [
    '.state',
    "where the run lock, the resume record and how far each worker's log was read live; relative to the suite",
  ],
  REPORT_DIR: [
    'reports',
    "where each run's page and JSON report (<run id>/index.html, report.json) and the history of runs (index.html) " +
      "go; relative to the suite ('' = none)",
  ],
  REPORT_KEEP: ['50', 'runs the history keeps: the oldest run folders beyond it are deleted'],
  MIGRATION_CMD: [
    'alembic',
    "the app's migration tool, run in the api container by rollback-db, e.g. alembic or 'flask db'",
  ],
  CIRCUIT_SERVICES: [
    'perplexity,openai,apollo,instantly,millionverifier',
    'services with a circuit breaker (circuit_breaker:, circuit_failures:, queue_paused:<service>), for check-circuit',
  ],
  CIRCUIT_PATTERNS: [
    'circuit_breaker:*,circuit_failures:*,queue_paused:*',
    'SCAN patterns reset-circuit deletes; circuit_breaker:* also covers the planned circuit_breaker:global',
  ],
  PROCESSING_LIMIT: [
    '30',
    'minutes a job may stay PROCESSING (by updated_at) before check-consistency reports it stuck',
  ],
} as const satisfies Record<string, readonly [string, string]>
export type Key = keyof typeof KEYS

/** The --flag that sets a key: RESTART_MODE -> restart-mode. */
export const flagOf = (key: Key | string) => key.toLowerCase().replace(/_/g, '-')
/** The key a --flag sets, or null: restart-mode -> RESTART_MODE. */
export const keyOf = (flag: string): Key | null => {
  const key = flag.toUpperCase().replace(/-/g, '_')
  return key in KEYS ? (key as Key) : null
}

export const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** A table name the suite accepts: identifier or schema.identifier, no quotes, no spaces, no semicolons. */
export function checkTableName(name: string): string | null {
  if (!TABLE_NAME.test(name))
    return `table name ${JSON.stringify(name)} is malformed (letters, digits, _ and one optional schema dot)`
  if (PROTECTED_TABLES.includes(name.split('.').pop()!.toLowerCase())) return `table ${name} is never truncated`
  return null
}

/**
 * Every reason SCAN patterns cannot drive a selective delete: there are none, or one matches
 * every key (only * and ?). `remedy` says what to use to empty the whole database instead.
 */
export function patternProblems(patterns: string[], remedy: string): string[] {
  if (patterns.length === 0) return [`no patterns: name the keys to delete, e.g. circuit_breaker:*, or ${remedy}`]
  return patterns
    .filter((p) => p.replace(/[*?]/g, '') === '')
    .map((p) => `pattern ${JSON.stringify(p)} matches every key; ${remedy}`)
}

export function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** A value that names a production-like environment: ENVIRONMENT=prod, a database marked 'production'. */
export const PRODUCTION_VALUE = /^(prod|production|live|staging|stage)$/i
/** A name with such a word in it: a kubectl context, cluster, namespace or API server host. */
export const PRODUCTION_WORD = /(^|[^a-z])(prod|production|live|staging|stage)([^a-z]|$)/i

/**
 * .env.example as it must read: the header, then every key with its meaning and default (a unit test compares the
 * file).
 */
export function envExample(): string {
  const header = [
    '# Configuration of the reset-and-test suite. Copy to .env (beside this file) and change what differs for your ' +
      'app.',
    "# The suite's own settings come from, strongest first: --key-name flags, RT_KEY_NAME environment variables",
    '# (e.g. RT_APP_DIR=../myapp), this .env, the defaults. Variables without the RT_ prefix belong to other tools',
    "# and are never read. The app's credentials and names (POSTGRES_*, REDIS_PASSWORD, REDIS_DB, " +
      'COMPOSE_PROJECT_NAME,',
    '# COMPOSE_FILE) come from the app itself, read as Compose reads them; the keys below override them.',
    '# Every key is optional; the values shown are the defaults. (Written from lib/config/settings.ts.)',
  ]
  const keys = Object.entries(KEYS).map(([key, [value, meaning]]) => `# ${meaning}\n# ${key}=${value}`)
  return [header.join('\n'), ...keys].join('\n\n') + '\n'
}
