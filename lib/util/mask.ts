// Hides passwords in text shown to people without hiding names (services, users, databases) that equal a password.

export interface Secrets {
  values: string[] // secret values (passwords), never to be printed in a secret position
  words: string[] // names that must stay readable: services, tables, users, databases, hosts, project name
}

const MASK = '***'

/** Letters, digits and _: a secret is not masked inside a longer word ("dev" in "development"). */
const WORD_CHAR = /[\p{L}\p{N}_]/u

/** scheme://user:PASSWORD@host — whatever the password, listed or not. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:@/?#]{0,256}:)([^\s@/]{1,1024})@/gi

/** KEY=VALUE, KEY = VALUE, KEY: VALUE, "key": "value", 'key': 'value', \"key\": \"value\" (JSON inside a JSON
 * string). Not "KEY= VALUE": in "A= B=x", A is empty and B=x is the next pair. */
const KEY_VALUE = new RegExp(
  String.raw`(?:(\\?["'])([\w.\- ]{1,100}?)\1[ \t]*[:=][ \t]*` +
    String.raw`|(?<![\w.])([A-Za-z_][\w.-]{0,99})(?:=|[ \t]+=[ \t]*|:[ \t]+|:(?=["'])))`,
  'g',
)

/** --password X, --requirepass X, --pass X, … (the --name=X form is a KEY=VALUE). */
const FLAG = /(?<![\w-])--([A-Za-z][\w-]*)[ \t]+/g

/** redis-cli -a X (only on a redis-cli command line: elsewhere -a means something else). */
const REDIS_CLI_A = /\bredis-cli\b[^\n]{0,500}?[ \t]-a[ \t]+/g

/** Redis configuration: requirepass X, masterauth X (redis.conf, CONFIG SET). */
const REDIS_CONFIG = /\b(?:requirepass|masterauth)[ \t]+/gi

/** Redis AUTH [user] password, upper case: "auth" in lower case is a word in prose. */
const REDIS_AUTH = /\bAUTH[ \t]+/g

/** An unquoted value ends at whitespace or at a delimiter of DSNs, query strings, JSON and logfmt. */
const UNQUOTED = /[^\s,;&"]+/y
const GAP = /[ \t]+/y

/** Values that are no secret even in a secret position: nothing set, a placeholder, a variable reference. */
const NOT_A_SECRET = /^(?:\**|null|None|undefined|nil|<[^<>]*>|\$\{\w+\}|\$[A-Z_][A-Z0-9_]*)$/

interface Plan {
  bare: RegExp | null // every form of every secret that is not also a word
  listed: string[] // every form of every secret, longest first
  words: Set<string>
}

const plans = new Map<string, Plan>()

export function mask(text: string, secrets: Secrets): string {
  if (!text) return text
  const plan = planFor(secrets)
  let out = text
  // 1. Listed secrets wherever they stand as a whole token (before the positional rules, which could cut a
  //    secret with spaces or quotes in two).
  if (plan.bare)
    out = out.replace(plan.bare, (found: string, at: number, all: string) =>
      standsAlone(all, at, found) ? MASK : found,
    )
  // 2. Secret positions: always masked, also when the value is a name (password "postgres", user "postgres").
  out = out.replace(URL_USERINFO, `$1${MASK}@`)
  // In prose, "auth: signed up" is a sentence: an unquoted lower-case key before a colon must name a
  // secret plainly (password, token, ...); weak names (auth, pass, pwd) count with = or in KEY form.
  out = maskValues(
    out,
    KEY_VALUE,
    plan,
    (m) => isSecretKey(m[2] ?? m[3]) && (m[2] !== undefined || !/:\s*$/.test(m[0]) || !isProse(m[3])),
  )
  out = maskValues(out, FLAG, plan, (m) => isSecretKey(m[1]), { argument: true })
  out = maskValues(out, REDIS_CLI_A, plan, () => true, { argument: true })
  out = maskValues(out, REDIS_CONFIG, plan, () => true, { argument: true })
  out = maskRedisAuth(out, plan)
  return out
}

function planFor(secrets: Secrets): Plan {
  const key = JSON.stringify([secrets.values, secrets.words])
  let plan = plans.get(key)
  if (plan) return plan
  const words = new Set(secrets.words.filter((w) => w))
  const values = [...new Set(secrets.values.filter((v) => v))]
  const byLength = (a: string, b: string): number => b.length - a.length
  const listed = [...new Set(values.flatMap(forms))].sort(byLength)
  // A secret that is also a name (password "postgres" = service "postgres") is masked only where it stands
  // as a secret; a bare occurrence is the name. Its encoded forms are left alone too: "my%20db" in a URL
  // path would be the database's name.
  const bare = [...new Set(values.filter((v) => !words.has(v)).flatMap(forms))]
    .filter((f) => !words.has(f))
    .sort(byLength)
  plan = { bare: bare.length ? new RegExp(bare.map(escapeRegExp).join('|'), 'g') : null, listed, words }
  if (plans.size > 32) plans.clear()
  plans.set(key, plan)
  return plan
}

/** The ways a secret gets written: raw, percent-encoded (JS and Python styles, either hex case, + for space),
 * escaped inside JSON or a quoted string, and inside a shell's single quotes. */
function forms(secret: string): string[] {
  const js = encodeURIComponent(secret)
  const python = js.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  const encoded = [js, python].flatMap((e) => [e, e.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())])
  return [
    secret,
    ...encoded,
    ...encoded.map((e) => e.replace(/%20/gi, '+')),
    JSON.stringify(secret).slice(1, -1),
    secret.replace(/["'\\]/g, '\\$&'),
    secret.replace(/["\\$`]/g, '\\$&'),
    secret.replace(/'/g, `'\\''`),
  ]
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

/** True unless the found text continues a longer word on either side (checked only where the secret
 * itself begins or ends with a word character: "#1%" in "x#1%" stands alone). */
function standsAlone(all: string, at: number, found: string): boolean {
  const end = at + found.length
  if (at > 0 && WORD_CHAR.test(codePointAt(found, 0)) && WORD_CHAR.test(codePointBefore(all, at))) return false
  if (end < all.length && WORD_CHAR.test(codePointBefore(found, found.length)) && WORD_CHAR.test(codePointAt(all, end)))
    return false
  return true
}

function codePointAt(s: string, i: number): string {
  return String.fromCodePoint(s.codePointAt(i) ?? 0)
}

function codePointBefore(s: string, i: number): string {
  const low = s.charCodeAt(i - 1)
  return low >= 0xdc00 && low <= 0xdfff && i >= 2 ? s.slice(i - 2, i) : s.charAt(i - 1)
}

/** Whether a key names a secret, by its last part: POSTGRES_PASSWORD, PGPASSWORD, SECRET_KEY, apiKey,
 * REDISCLI_AUTH, x-api-key, --requirepass. ACCESS_TOKEN_EXPIRE_MINUTES and max_tokens are not. */
function isSecretKey(key: string): boolean {
  const parts = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((p) => p)
  const last = parts[parts.length - 1]
  if (!last) return false
  if (/(?:password|passwd|passphrase|secret|token|credentials?)$/.test(last)) return true
  if (['pwd', 'pass', 'auth', 'requirepass', 'masterauth', 'authorization', 'apikey'].includes(last)) return true
  return last === 'key' && parts.length > 1 // SECRET_KEY, API_KEY, OPENAI_API_KEY; a bare "key" is a Redis key
}

/** An unquoted key before a colon that reads as a word of prose: lower case, no separator, a weak secret name. */
function isProse(key: string): boolean {
  return /^[a-z]+$/.test(key) && ['auth', 'pass', 'pwd'].includes(key)
}

/** Masks the value that follows each match of `re` for which `wanted` says yes. For a command-line
 * argument, a value starting with - is the next option, not a password. */
function maskValues(
  text: string,
  re: RegExp,
  plan: Plan,
  wanted: (m: RegExpExecArray) => boolean,
  options: { argument?: boolean } = {},
): string {
  let out = ''
  let copied = 0
  re.lastIndex = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length
    if (m[0].length === 0) re.lastIndex++
    if (!wanted(m)) continue
    const value = valueAt(text, start, plan)
    if (!value) continue
    let [from, to] = value
    const raw = text.slice(from, to)
    // Already masked by the first pass ("password=***)" keeps its parenthesis), or nothing secret.
    if (raw.startsWith(MASK) || NOT_A_SECRET.test(raw)) continue
    if (options.argument && raw.startsWith('-') && !plan.listed.includes(raw)) continue
    // PWD=/path is the shell's working directory, not a password.
    if ((m[2] ?? m[3]) === 'PWD' && raw.startsWith('/')) continue
    // Authorization: Bearer xyz — keep the scheme, mask the credential.
    const scheme = /^(Bearer|Basic|Token|Digest)$/i.test(raw) ? valueAt(text, to + 1, plan) : null
    if (scheme && text[to] === ' ') [from, to] = scheme
    out += text.slice(copied, from) + MASK
    copied = to
    re.lastIndex = Math.max(re.lastIndex, to)
  }
  return copied === 0 ? text : out + text.slice(copied)
}

/** Where the value at `start` begins and ends (quotes excluded), or null when there is none. */
function valueAt(text: string, start: number, plan: Plan): [number, number] | null {
  // A listed secret first: it may hold spaces, quotes or commas that would end an unquoted value.
  for (const s of plan.listed)
    if (text.startsWith(s, start) && standsAlone(text, start, s)) return [start, start + s.length]
  const c = text[start]
  if (c === '"' || c === "'") {
    let i = start + 1
    while (i < text.length && text[i] !== c && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1
    return i > start + 1 ? [start + 1, Math.min(i, text.length)] : null
  }
  if (text.startsWith('\\"', start)) {
    // JSON inside a JSON string: \"value\"
    const close = text.indexOf('\\"', start + 2)
    return close > start + 2 ? [start + 2, close] : null
  }
  UNQUOTED.lastIndex = start
  const found = UNQUOTED.exec(text)
  return found ? [start, start + found[0].length] : null
}

/** AUTH password, AUTH user password. */
function maskRedisAuth(text: string, plan: Plan): string {
  let out = ''
  let copied = 0
  REDIS_AUTH.lastIndex = 0
  for (let m = REDIS_AUTH.exec(text); m; m = REDIS_AUTH.exec(text)) {
    const first = valueAt(text, m.index + m[0].length, plan)
    if (!first) continue
    GAP.lastIndex = first[1] + (text[first[1]] === '"' || text[first[1]] === "'" ? 1 : 0)
    const second = GAP.exec(text) ? valueAt(text, GAP.lastIndex, plan) : null
    const isListed = (v: [number, number] | null): boolean => !!v && plan.listed.includes(text.slice(v[0], v[1]))
    const user = first && text.slice(first[0], first[1])
    let target: [number, number] | null
    if (isListed(second)) target = second
    else if (isListed(first)) target = first
    else if (NOT_A_SECRET.test(user))
      target = null // "ERR AUTH <password> called without any password configured"
    else if (second && (user === 'default' || plan.words.has(user))) target = second
    else target = first
    if (!target || NOT_A_SECRET.test(text.slice(target[0], target[1]))) continue
    out += text.slice(copied, target[0]) + MASK
    copied = target[1]
    REDIS_AUTH.lastIndex = Math.max(REDIS_AUTH.lastIndex, target[1])
  }
  return copied === 0 ? text : out + text.slice(copied)
}
