// Redis through redis-cli inside the redis instance: the server is the instance's own. The password
// reaches redis-cli through REDISCLI_AUTH, never a command line; -e makes an error reply (NOPERM,
// READONLY, MISCONF) a failure, not an answer. Pattern deletes run as Lua in the server, one SCAN
// batch a call, so a key is never printed, split or pasted: a name with a newline stays one key.
import { out } from '../util/output.ts'
import { showCommand } from '../util/command.ts'
import { field, FLUSH_KEEPING, parseKeyspace, SCAN_COUNT, type Kv } from './kv.ts'
import { inside, type Reach } from './reach.ts'

/** One SCAN batch: returns the next cursor, then the number of keys unlinked, or the keys hex-encoded. */
const SCAN_BATCH = `
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys, out = r[2], {r[1]}
if ARGV[4] == 'unlink' then
  local n = 0
  for i = 1, #keys, 500 do n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys))) end
  out[2] = n
else
  local hex = function(c) return string.format('%02x', string.byte(c)) end
  for i, k in ipairs(keys) do out[i + 1] = (k:gsub('.', hex)) end
end
return out`

/** The batches in one tracked shell inside the instance: an interruption stops it between two batches. */
const SCAN_LOOP = `set -- -e -n "$RT_DB"; [ -n "$RT_USER" ] && set -- --user "$RT_USER" "$@"
c=0; n=0; : > "/tmp/rt-scan-$$"
while :; do
  out=$(redis-cli "$@" EVAL "$RT_LUA" 0 "$c" "$RT_PATTERN" "$RT_COUNT" "$RT_ACTION") || { echo "$out" >&2; exit 1; }
  c=$(printf '%s\\n' "$out" | sed -n 1p)
  if [ "$RT_ACTION" = unlink ]; then n=$((n + $(printf '%s\\n' "$out" | sed -n 2p)))
  else printf '%s\\n' "$out" | sed -n '2,$p' >> "/tmp/rt-scan-$$"; fi
  [ "$c" = 0 ] && break
done
if [ "$RT_ACTION" = unlink ]; then echo "$n"; else sort -u "/tmp/rt-scan-$$" | grep -c . || true; fi
rm -f "/tmp/rt-scan-$$"`

const ERROR_REPLY = /^(ERR|NOAUTH|WRONGPASS|NOPERM|READONLY|MISCONF|OOM|BUSY|LOADING|NOSCRIPT|WRONGTYPE|EXECABORT)\b/

export class CliKv implements Kv {
  readonly ours = true
  readonly client = null

  private constructor(
    private r: Reach,
    private container: string,
    readonly via: string,
    readonly server: string,
    readonly db: number,
  ) {}

  static async open(r: Reach): Promise<Kv> {
    const c = await inside(r, r.config.services.redis, 'redis-cli')
    return new CliKv(r, c.name, `${c.via} db ${r.config.redis.db}`, c.server, r.config.redis.db)
  }

  private get env(): Record<string, string> | undefined {
    const { password } = this.r.config.redis
    return password ? { REDISCLI_AUTH: password } : undefined
  }

  private async cli(args: string[], mutates = false): Promise<string> {
    const { config, target, signal } = this.r
    signal.throwIfAborted()
    const user = config.redis.username ? ['--user', config.redis.username] : []
    const res = await target.exec(config.services.redis, ['redis-cli', '-e', ...user, '-n', String(this.db), ...args], {
      timeoutMs: config.redis.timeoutMs,
      mutates,
      env: this.env,
      allowFailure: true,
    })
    const text = res.stdout.trim()
    const error = ERROR_REPLY.test(text)
      ? text
      : res.code !== 0
        ? res.stderr.trim() || text || `exit ${res.code}`
        : null
    const hint = /AUTH|WRONGPASS/.test(error ?? '')
      ? ". Check REDIS_PASSWORD (and REDIS_USERNAME) in the app's .env."
      : ''
    if (error) throw new Error(`redis-cli ${args[0]} in ${this.container} answered: ${error}${hint}`)
    return text
  }

  async ping() {
    const pong = await this.cli(['PING'])
    if (pong !== 'PONG') throw new Error(`redis-cli PING answered ${JSON.stringify(pong)}`)
  }

  async info() {
    const info = await this.cli(['INFO', 'server'])
    return { version: field(info, 'redis_version'), runId: field(info, 'run_id') }
  }

  async dbsize() {
    return Number(await this.cli(['DBSIZE']))
  }

  async keyspace() {
    return parseKeyspace(await this.cli(['INFO', 'keyspace']))
  }

  async flush(mode: 'flushall' | 'flushdb', keep: string[]) {
    return Number(await this.cli(['EVAL', FLUSH_KEEPING, '0', mode.toUpperCase(), ...keep], true))
  }

  private async scanAll(pattern: string, action: 'count' | 'unlink'): Promise<number> {
    const { config, target } = this.r
    const env = {
      ...this.env,
      RT_LUA: SCAN_BATCH,
      RT_PATTERN: pattern,
      RT_COUNT: String(SCAN_COUNT),
      RT_ACTION: action,
      RT_DB: String(this.db),
      RT_USER: config.redis.username,
    }
    const res = await target.execTracked(config.services.redis, SCAN_LOOP, { timeoutMs: config.commandTimeoutMs, env })
    if (res.stopped !== undefined)
      throw new Error(`SCAN of ${pattern} in ${this.container} did not finish within COMMAND_TIMEOUT; ${res.stopped}`)
    const n = res.stdout.trim().split('\n').pop() ?? ''
    if (res.code !== 0 || !/^\d+$/.test(n))
      throw new Error(
        `SCAN of ${pattern} in ${this.container} failed: ${(res.stderr || res.stdout).trim() || `exit ${res.code}`}`,
      )
    return Number(n)
  }

  async countByPatterns(patterns: string[]) {
    const counts: Record<string, number> = {}
    for (const p of patterns) counts[p] = await this.scanAll(p, 'count')
    return counts
  }

  async deleteByPatterns(patterns: string[]) {
    if (this.r.dryRun) {
      out.info(
        `[dry-run] would run in ${this.container}: ${showCommand(['redis-cli', 'EVAL', '<SCAN + UNLINK>'])} per ` +
          `batch of ${SCAN_COUNT}: ${patterns.join(', ')}`,
      )
      return this.countByPatterns(patterns)
    }
    const removed: Record<string, number> = {}
    for (const p of patterns) {
      this.r.signal.throwIfAborted()
      removed[p] = await this.scanAll(p, 'unlink')
    }
    return removed
  }

  async mget(keys: string[]) {
    const lua = "return cjson.encode(redis.call('MGET', unpack(KEYS)))" // nil comes back as false
    const values = JSON.parse(await this.cli(['EVAL', lua, String(keys.length), ...keys])) as (string | false)[]
    return values.map((v) => (v === false ? null : v))
  }

  async llen(key: string) {
    return Number(await this.cli(['LLEN', key]))
  }

  async close() {}
}
