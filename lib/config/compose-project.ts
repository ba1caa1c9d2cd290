// Works out, without running Docker, what Compose v2 would load for an app directory: its compose files, project name,
// .env and each service's container environment.
//
// The rules follow compose-go as used by `docker compose` 2.26.1 and are checked against
// `docker compose config` in test/e2e/compose-oracle.test.ts. It models running plain `docker compose`
// (no -f, -p or --env-file) in `dir`; parent directories are never searched.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { parseAllDocuments, type ScalarTag } from 'yaml'
import {
  EnvFileError,
  interpolate,
  InterpolationError,
  parseEnvFile,
  parseEnvStatements,
  type Lookup,
} from './dotenv.ts'

export interface ComposeProject {
  /**
   * Project directory: the directory of the first compose file (the app's directory unless COMPOSE_FILE points
   * elsewhere).
   */
  dir: string
  /** Absolute paths of the compose files Compose would load, in order. */
  files: string[]
  /** e.g. 'COMPOSE_FILE in <dir>/.env', 'COMPOSE_FILE in the environment', 'default names'. */
  filesSource: string
  /** The project name Compose would use. */
  name: string
  /**
   * e.g. 'COMPOSE_PROJECT_NAME in the environment', 'COMPOSE_PROJECT_NAME in <dir>/.env', 'name: in <file>', 'the
   * directory name <dir>'.
   */
  nameSource: string
  /** The project's .env as parsed (empty when absent); see dotenvFiles. */
  dotenv: Record<string, string>
  /** The .env files Compose read for the project environment, in order (at most two, usually one). */
  dotenvFiles: string[]
  /** Every file whose change changes what Compose would make: the compose files, the .env files, each env_file. */
  inputs: string[]
  /**
   * The services Compose runs by default, in file order: those without `profiles:` or with a profile named in
   * COMPOSE_PROFILES ('*' = all). environment() also accepts the others.
   */
  services: string[]
  /**
   * Effective container environment of a service as Compose computes it: env_file(s) (interpolated as Compose does),
   * then `environment:` (list or map form, interpolated), merged across the compose files.
   */
  environment(service: string): Record<string, string>
}

/** Compose's names for auto-discovery, in order of preference (only the first one found is used). */
export const DEFAULT_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml']
export const DEFAULT_OVERRIDE_FILE_NAMES = [
  'compose.override.yml',
  'compose.override.yaml',
  'docker-compose.override.yml',
  'docker-compose.override.yaml',
]

/** compose-go's NormalizeProjectName: lower case, keep [a-z0-9_-], drop leading '_' and '-'. */
export function normalizeProjectName(name: string): string {
  return (name.toLowerCase().match(/[a-z0-9_-]/g) ?? []).join('').replace(/^[_-]+/, '')
}

interface Origin {
  value: string
  /** 'the environment' or the .env file it came from. */
  from: string
}

/** The project's environment as Compose builds it: the shell, then each .env it reads (the shell wins). */
class ProjectEnv {
  readonly vars = new Map<string, Origin>()
  readonly dotenv: Record<string, string> = {}
  readonly dotenvFiles: string[] = []
  private enabled: boolean
  readonly lookup: Lookup = (name) => this.vars.get(name)?.value

  constructor(shellEnv: Record<string, string | undefined>) {
    for (const [k, v] of Object.entries(shellEnv))
      if (v !== undefined) this.vars.set(k, { value: v, from: 'the environment' })
    this.enabled = envFilesEnabled(shellEnv.COMPOSE_DISABLE_ENV_FILE)
  }

  /** A .env joins the environment once, adding only the variables not set yet. */
  read(file: string) {
    if (!this.enabled || this.dotenvFiles.includes(file) || !isFile(file)) return
    this.dotenvFiles.push(file)
    for (const [k, v] of Object.entries(readProjectDotenv(file, this.lookup))) {
      if (!Object.hasOwn(this.dotenv, k)) setOwn(this.dotenv, k, v)
      if (!this.vars.has(k)) this.vars.set(k, { value: v, from: file })
    }
  }
}

export function loadComposeProject(dir: string, shellEnv: Record<string, string | undefined>): ComposeProject {
  const cwd = path.resolve(dir)
  const env = new ProjectEnv(shellEnv)
  // 1. COMPOSE_FILE from the shell is taken before any .env is read, split by the shell's
  //    COMPOSE_PATH_SEPARATOR, and the .env is then read from the first file's directory
  //    (verified: with COMPOSE_FILE=sub/x.yml, <dir>/.env is not read at all).
  const fromShell =
    shellEnv.COMPOSE_FILE !== undefined
      ? {
          files: splitComposeFile(
            shellEnv.COMPOSE_FILE,
            shellEnv.COMPOSE_PATH_SEPARATOR,
            cwd,
            'COMPOSE_FILE in the environment',
          ),
          source: 'COMPOSE_FILE in the environment',
        }
      : null
  // 2. The .env of the working directory joins the environment; the shell wins over it.
  env.read(path.join(fromShell ? path.dirname(fromShell.files[0]) : cwd, '.env'))
  // 3. Otherwise COMPOSE_FILE from that .env (split by COMPOSE_PATH_SEPARATOR from the shell or the .env), otherwise
  // the default names.
  const { files, source: filesSource } = fromShell ?? filesFromDotenv(env, cwd)
  // 4. The project directory is the first file's; Compose reads the .env there too, adding only the
  //    variables not set yet (verified: COMPOSE_FILE=sub/x.yml in <dir>/.env also reads sub/.env).
  const projectDir = path.dirname(files[0])
  env.read(path.join(projectDir, '.env'))

  const models = files.map((file) => readComposeFile(file, env.lookup))
  const name = projectName(models, env.vars, env.lookup, projectDir)
  const services = mergeServices(models)
  return {
    dir: projectDir,
    files,
    filesSource,
    name: name.name,
    nameSource: name.source,
    dotenv: env.dotenv,
    dotenvFiles: env.dotenvFiles,
    inputs: [...files, ...env.dotenvFiles, ...envFilesOf([...services.values()], projectDir)],
    services: [...services.values()].filter((s) => isActive(s, env.lookup('COMPOSE_PROFILES'))).map((s) => s.name),
    environment(service) {
      const model = services.get(service)
      if (!model)
        throw new Error(
          `service "${service}" is not defined in ${files.join(', ')} (services: ` +
            `${[...services.keys()].join(', ') || 'none'}); fix the service name`,
        )
      return serviceEnvironment(model, projectDir, env.lookup)
    },
  }
}

/** The env_file paths of the services, resolved (a malformed entry is left to environment() to report). */
function envFilesOf(models: ServiceModel[], projectDir: string): string[] {
  return models.flatMap((m) => {
    try {
      return envFileRefs(m.envFile, m.name).map((ref) => path.resolve(projectDir, ref.path))
    } catch {
      return []
    }
  })
}

function filesFromDotenv(env: ProjectEnv, cwd: string): { files: string[]; source: string } {
  const fromDotenv = env.vars.get('COMPOSE_FILE')
  if (!fromDotenv) return { files: defaultFiles(cwd), source: 'default names' }
  const source = `COMPOSE_FILE in ${fromDotenv.from}`
  return { files: splitComposeFile(fromDotenv.value, env.lookup('COMPOSE_PATH_SEPARATOR'), cwd, source), source }
}

// ---------------------------------------------------------------------------------------------
// File discovery and the project .env
// ---------------------------------------------------------------------------------------------

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return false
  }
}

/** Go's strconv.ParseBool, as Compose reads COMPOSE_DISABLE_ENV_FILE (from the shell only). */
function envFilesEnabled(disable: string | undefined): boolean {
  if (disable === undefined) return true
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(disable)) return false
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(disable)) return true
  throw new Error(
    `COMPOSE_DISABLE_ENV_FILE=${JSON.stringify(disable)} in the environment is not a boolean; set it to true or ` +
      `false, or unset it`,
  )
}

function readProjectDotenv(file: string, lookup: Lookup): Record<string, string> {
  const text = readFileSync(file, 'utf8')
  try {
    // Compose puts the .env into its own process environment, so a statement with no variable name fails there.
    const empty = parseEnvStatements(text, lookup).find((s) => s.key === '' && s.value !== undefined)
    if (empty)
      throw new EnvFileError(
        empty.line,
        'no variable name before the value (Compose fails with "setenv: invalid argument")',
      )
    return parseEnvFile(text, lookup)
  } catch (e) {
    if (e instanceof EnvFileError)
      throw new Error(`${file}: ${e.message}; fix that line (Compose cannot read this .env either)`)
    throw e
  }
}

function splitComposeFile(value: string, separator: string | undefined, cwd: string, source: string): string[] {
  const sep = separator || ':' // an empty COMPOSE_PATH_SEPARATOR means the default
  return value.split(sep).map((entry) => {
    // An empty entry (COMPOSE_FILE='' or 'a.yml::b.yml') is the directory itself, which Compose fails to read.
    if (entry === '') {
      throw new Error(
        `${source} has an empty entry (COMPOSE_FILE=${JSON.stringify(value)}); list compose files separated by ` +
          `'${sep}', or unset COMPOSE_FILE to use the default names`,
      )
    }
    const file = path.resolve(cwd, entry)
    let isDirectory = false
    try {
      isDirectory = statSync(file).isDirectory()
    } catch {
      throw new Error(
        `${source} names ${file}, which does not exist; fix COMPOSE_FILE (entries are separated by '${sep}', ` +
          `relative to ${cwd})`,
      )
    }
    if (isDirectory)
      throw new Error(`${source} names ${file}, which is a directory; COMPOSE_FILE must list compose files`)
    return file
  })
}

function defaultFiles(dir: string): string[] {
  // Only the first name found counts, even if several exist (Compose warns and uses it); the override
  // file is looked up independently of which main name won (compose.yaml + docker-compose.override.yml work together).
  const main = DEFAULT_FILE_NAMES.map((n) => path.join(dir, n)).find(isFile)
  if (!main) {
    throw new Error(
      `no compose file in ${dir} (looked for ${DEFAULT_FILE_NAMES.join(', ')}); create one there or set COMPOSE_FILE`,
    )
  }
  const override = DEFAULT_OVERRIDE_FILE_NAMES.map((n) => path.join(dir, n)).find(isFile)
  return override ? [main, override] : [main]
}

// ---------------------------------------------------------------------------------------------
// YAML as go-yaml v3 reads it
// ---------------------------------------------------------------------------------------------

/**
 * A plain YAML scalar that go-yaml resolves to a number, boolean or timestamp. `text` is how Compose
 * turns it into a string (Go's fmt.Sprint): `010` is 8, `1e6` is "1e+06", `2001-12-14` is
 * "2001-12-14 00:00:00 +0000 UTC"; `yes`/`on` stay strings (YAML 1.2).
 */
class GoScalar {
  constructor(
    readonly kind: 'int' | 'float' | 'bool' | 'timestamp',
    readonly text: string,
  ) {}
}

type Yaml = string | null | GoScalar | Yaml[] | { [key: string]: Yaml }

function isMapping(v: Yaml | undefined): v is { [key: string]: Yaml } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof GoScalar)
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/

/** Go's strconv.ParseInt (signed) or ParseUint (unsigned) of `s` in `radix`; a sign is allowed for signed. */
function goParseIntRadix(s: string, radix: 2 | 8 | 10 | 16, unsigned: boolean): bigint | undefined {
  let sign = 1n
  let digits = s
  if (!unsigned && (s[0] === '+' || s[0] === '-')) {
    sign = s[0] === '-' ? -1n : 1n
    digits = s.slice(1)
  }
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[radix]
  if (!valid.test(digits)) return undefined
  const v = sign * BigInt({ 2: '0b', 8: '0o', 10: '', 16: '0x' }[radix] + digits)
  if (unsigned ? v > UINT64_MAX : v < INT64_MIN || v > INT64_MAX) return undefined
  return v
}

/** Go's strconv.ParseInt/ParseUint with base 0: 0x, 0o, 0b prefixes, and a leading 0 means octal. */
function goParseInt(s: string, unsigned: boolean): bigint | undefined {
  let sign = ''
  let body = s
  if (!unsigned && (s[0] === '+' || s[0] === '-')) {
    sign = s[0]
    body = s.slice(1)
  }
  let radix: 2 | 8 | 10 | 16 = 10
  if (/^0[xX]/.test(body)) [body, radix] = [body.slice(2), 16]
  else if (/^0[oO]/.test(body)) [body, radix] = [body.slice(2), 8]
  else if (/^0[bB]/.test(body)) [body, radix] = [body.slice(2), 2]
  else if (body.length > 1 && body[0] === '0') [body, radix] = [body.slice(1), 8]
  if (body[0] === '+' || body[0] === '-') return undefined
  return goParseIntRadix(sign + body, radix, unsigned)
}

/** Go's fmt.Sprint of a float64 (%g with the shortest digits; exponent form from 1e+06 and below 1e-04). */
function goFloat(v: number): string {
  if (Object.is(v, -0)) return '-0'
  if (v === 0) return '0'
  const [mantissa, exponent] = v.toExponential().split('e')
  const exp = Number(exponent)
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return String(v)
}

/** A date, then an optional time with fractions and zone: go-yaml's timestamp forms. */
const GO_TIMESTAMP = new RegExp(
  String.raw`^(\d{4})-(\d{1,2})-(\d{1,2})` +
    String.raw`(?:(?:([Tt])|( ))(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d+))?(Z|([+-])(\d{2}):(\d{2}))?)?$`,
)

/** go-yaml's timestamp forms, printed as Go's time.Time.String() (assuming the machine's zone is UTC, as in Docker). */
function goTimestamp(s: string): string | undefined {
  const m = GO_TIMESTAMP.exec(s)
  if (!m) return undefined
  const [, y, mo, d, tee, space, h, mi, sec, frac, zone, zSign, zHour, zMinute] = m
  if (tee && !zone) return undefined // the T forms need a zone,
  if (space && zone) return undefined // the space form takes none
  const [year, month, day] = [Number(y), Number(mo), Number(d)]
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const daysIn = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  if (month < 1 || month > 12 || day < 1 || day > daysIn[month - 1]) return undefined
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59)) return undefined
  const two = (x: number) => String(x).padStart(2, '0')
  const fraction = (frac ?? '').slice(0, 9).replace(/0+$/, '')
  let offset = '+0000 UTC'
  if (zSign) {
    if (Number(zHour) > 24 || Number(zMinute) > 60) return undefined
    const minutes = Number(zHour) * 60 + Number(zMinute)
    // A zero offset matches the local zone (UTC); any other gets a nameless zone, printed as its offset.
    if (minutes !== 0) {
      const z = `${zSign}${two(Math.floor(minutes / 60))}${two(minutes % 60)}`
      offset = `${z} ${z}`
    }
  }
  const time = `${two(Number(h ?? 0))}:${two(Number(mi ?? 0))}:${two(Number(sec ?? 0))}`
  return `${y}-${two(month)}-${two(day)} ${time}${fraction ? '.' + fraction : ''} ${offset}`
}

/** go-yaml v3's resolution of a plain (unquoted, untagged) scalar. */
function goResolvePlain(s: string): Yaml {
  if (['', '~', 'null', 'Null', 'NULL'].includes(s)) return null
  if (['true', 'True', 'TRUE'].includes(s)) return new GoScalar('bool', 'true')
  if (['false', 'False', 'FALSE'].includes(s)) return new GoScalar('bool', 'false')
  if (/^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/.test(s)) {
    // go-yaml reads these, but Compose then fails to validate the file ("json: unsupported value").
    throw new Error(`${s} is not a value Compose accepts; quote it`)
  }
  const float = (text: string): GoScalar | undefined => {
    const f = Number(text)
    return Number.isFinite(f) ? new GoScalar('float', goFloat(f)) : undefined // Go: out of range is not a float
  }
  if (s[0] === '.') return (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s) && float(s)) || s
  if (!/^[-+0-9]/.test(s)) return s
  const ts = goTimestamp(s)
  if (ts) return new GoScalar('timestamp', ts)
  const plain = s.replaceAll('_', '')
  let int = goParseInt(plain, false) ?? goParseInt(plain, true)
  if (int !== undefined) return new GoScalar('int', int.toString())
  if (YAML_STYLE_FLOAT.test(plain)) {
    const f = float(plain)
    if (f) return f
  }
  // go-yaml's own 0b / 0o handling (reached only by oddities such as 0b-101).
  if (plain.startsWith('0b'))
    int = goParseIntRadix(plain.slice(2), 2, false) ?? goParseIntRadix(plain.slice(2), 2, true)
  else if (plain.startsWith('-0b')) int = goParseIntRadix('-' + plain.slice(3), 2, false)
  if (int === undefined && plain.startsWith('0o'))
    int = goParseIntRadix(plain.slice(2), 8, false) ?? goParseIntRadix(plain.slice(2), 8, true)
  else if (int === undefined && plain.startsWith('-0o')) int = goParseIntRadix('-' + plain.slice(3), 8, false)
  return int !== undefined ? new GoScalar('int', int.toString()) : s
}

function goResolveTagged(kind: 'int' | 'float' | 'bool' | 'null') {
  return (s: string): Yaml => {
    const v = goResolvePlain(s)
    if (kind === 'null' && v === null) return null
    if (v instanceof GoScalar && v.kind === kind) return v
    if (kind === 'float' && v instanceof GoScalar && v.kind === 'int')
      return new GoScalar('float', goFloat(Number(v.text)))
    throw new Error(`cannot decode ${JSON.stringify(s)} as a !!${kind}`)
  }
}

// Plain scalars go through go-yaml's rules instead of the yaml package's; quoted and block scalars stay strings.
const GO_TAGS: ScalarTag[] = [
  // Any plain scalar but the merge key `<<`, which the yaml package handles itself.
  { tag: 'tag:compose-project:plain', default: true, test: /^(?!<<$)/, resolve: goResolvePlain },
  // Explicit !!int, !!float, !!bool, !!null (an explicit !!str keeps the text).
  ...(['int', 'float', 'bool', 'null'] as const).map((kind): ScalarTag => ({
    tag: `tag:yaml.org,2002:${kind}`,
    resolve: goResolveTagged(kind),
  })),
]

interface FileModel {
  file: string
  /** Top-level `name:` of the file before interpolation (the last non-empty one of its documents). */
  rawName: string | undefined
  /** The file's YAML documents after interpolation, in order (Compose merges them like files). */
  docs: { [key: string]: Yaml }[]
}

function readComposeFile(file: string, lookup: Lookup): FileModel {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new Error(`cannot read compose file ${file}: ${(e as Error).message}`)
  }
  const raw: { [key: string]: Yaml }[] = []
  try {
    const parsed = parseAllDocuments(text, {
      schema: 'failsafe',
      customTags: (tags) => [...GO_TAGS, ...tags],
      merge: true, // `<<: *anchor` works in Compose files (go-yaml supports merge keys)
      stringKeys: true,
      prettyErrors: true,
    })
    for (const doc of parsed) {
      if (doc.errors.length) throw doc.errors[0]
      const value = doc.toJS() as Yaml
      if (value === null) continue // an empty document (or file) adds nothing
      if (!isMapping(value)) throw new Error('the top level must be a mapping')
      raw.push(value)
    }
  } catch (e) {
    throw new Error(`${file} is not valid YAML; fix the file: ${(e as Error).message.trimEnd()}`)
  }
  let rawName: string | undefined
  for (const d of raw) {
    if (d.include !== undefined) {
      throw new Error(
        `${file} uses include:, which this reader does not model; list the included files in COMPOSE_FILE instead`,
      )
    }
    if (d.name === undefined || d.name === null || d.name === '') continue
    if (typeof d.name !== 'string') throw new Error(`${file}: name must be a string; quote the project name`)
    rawName = d.name
  }
  return { file, rawName, docs: raw.map((d) => interpolateTree(d, lookup, file, []) as { [key: string]: Yaml }) }
}

/** Compose interpolates every string value of every file (keys are left alone) before merging the files. */
function interpolateTree(value: Yaml, lookup: Lookup, file: string, at: string[]): Yaml {
  if (typeof value === 'string') {
    try {
      return interpolate(value, lookup)
    } catch (e) {
      if (e instanceof InterpolationError) {
        throw new Error(
          `${file}: error while interpolating ${at.join('.')}: ${e.message}; set the variable or fix the \${...} ` +
            `expression`,
        )
      }
      throw e
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, lookup, file, [...at, `[${i}]`]))
  if (isMapping(value)) {
    const out: { [key: string]: Yaml } = {}
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, lookup, file, [...at, k])
    return out
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Merging the files and the project name
// ---------------------------------------------------------------------------------------------

interface ServiceModel {
  name: string
  environment?: Yaml
  envFile?: Yaml
  /** The file that gives the service `extends:` (not modelled). */
  extendsIn?: string
  /** `profiles:` of every file, appended. */
  profiles: string[]
}

/** Go's %v of a YAML value, as Compose writes a map entry `KEY=%v`. */
function goString(v: Yaml): string {
  if (v instanceof GoScalar) return v.text
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/**
 * Compose merges `environment` and `env_file` of several files as sequences (a map becomes sorted `KEY=value` / `KEY`).
 */
function toSequence(value: Yaml | undefined): Yaml[] {
  if (value === undefined || value === null) return []
  if (Array.isArray(value)) return value
  if (isMapping(value)) {
    const seq: string[] = []
    for (const [k, v] of Object.entries(value)) {
      if (v === null) seq.push(k)
      else if (Array.isArray(v)) for (const item of v) seq.push(`${k}=${goString(item)}`)
      else seq.push(`${k}=${goString(v)}`)
    }
    return seq.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  }
  return [value]
}

function mergeSequenceKey(base: { [key: string]: Yaml }, over: { [key: string]: Yaml }, key: string): Yaml | undefined {
  if (!(key in over)) return base[key]
  if (!(key in base)) return over[key]
  return [...toSequence(base[key]), ...toSequence(over[key])]
}

function mergeServices(models: FileModel[]): Map<string, ServiceModel> {
  const services = new Map<string, ServiceModel>()
  for (const { file, docs } of models) {
    for (const doc of docs) {
      const section = doc.services
      if (section === undefined) continue
      if (!isMapping(section)) throw new Error(`${file}: services must be a mapping`)
      for (const [name, value] of Object.entries(section)) {
        if (value !== null && !isMapping(value)) throw new Error(`${file}: service ${name} must be a mapping`)
        const svc = value ?? {}
        const model = services.get(name) ?? { name, profiles: [] }
        const base: { [key: string]: Yaml } = {}
        if (model.environment !== undefined) base.environment = model.environment
        if (model.envFile !== undefined) base.env_file = model.envFile
        model.environment = mergeSequenceKey(base, svc, 'environment')
        model.envFile = mergeSequenceKey(base, svc, 'env_file')
        if (svc.extends !== undefined && svc.extends !== null) model.extendsIn = file
        if (Array.isArray(svc.profiles)) model.profiles.push(...svc.profiles.map(goString))
        services.set(name, model)
      }
    }
  }
  return services
}

/** Whether Compose runs the service by default (COMPOSE_PROFILES from the shell or the .env, comma-separated). */
function isActive(service: ServiceModel, composeProfiles: string | undefined): boolean {
  if (service.profiles.length === 0) return true
  const active = (composeProfiles ?? '').split(',').map((p) => p.trim())
  return active.includes('*') || service.profiles.some((p) => active.includes(p))
}

function projectName(
  models: FileModel[],
  env: Map<string, Origin>,
  lookup: Lookup,
  projectDir: string,
): { name: string; source: string } {
  const fromEnv = env.get('COMPOSE_PROJECT_NAME')
  // An empty COMPOSE_PROJECT_NAME counts as unset (but an empty one in the shell still hides the .env's).
  if (fromEnv && fromEnv.value !== '') {
    const source = `COMPOSE_PROJECT_NAME in ${fromEnv.from}`
    // Compose does not normalise this one: it refuses it.
    if (normalizeProjectName(fromEnv.value) !== fromEnv.value) {
      throw new Error(
        `invalid project name ${JSON.stringify(fromEnv.value)} (${source}): use only lowercase letters, digits, '-' ` +
          `and '_', starting with a letter or digit, e.g. ${JSON.stringify(normalizeProjectName(fromEnv.value))}`,
      )
    }
    return { name: fromEnv.value, source }
  }
  // The last file with a non-empty `name:` wins; it is interpolated, then normalised. Once a file is
  // named, an empty result is an error rather than a fall back to the directory (verified: `name: ...`).
  const named = models.filter((m) => typeof m.rawName === 'string' && m.rawName !== '').at(-1)
  if (named) {
    let value: string
    try {
      value = interpolate(named.rawName as string, lookup)
    } catch (e) {
      throw new Error(`${named.file}: error while interpolating name: ${(e as Error).message}`)
    }
    const name = normalizeProjectName(value)
    if (!name)
      throw new Error(
        `${named.file}: name: ${JSON.stringify(value)} leaves an empty project name; use letters or digits in it`,
      )
    return { name, source: `name: in ${named.file}` }
  }
  const name = normalizeProjectName(path.basename(projectDir))
  if (!name) {
    throw new Error(
      `the directory name of ${projectDir} leaves an empty project name; set COMPOSE_PROJECT_NAME or a top-level ` +
        `name: in the compose file`,
    )
  }
  return { name, source: `the directory name ${projectDir}` }
}

// ---------------------------------------------------------------------------------------------
// A service's environment
// ---------------------------------------------------------------------------------------------

interface EnvFileRef {
  key: string
  path: string
  required: boolean
}

function envFileRefs(value: Yaml | undefined, service: string): EnvFileRef[] {
  const refs: EnvFileRef[] = []
  for (const entry of toSequence(value)) {
    let ref: EnvFileRef
    if (typeof entry === 'string') ref = { key: entry, path: entry, required: true }
    else if (isMapping(entry) && typeof entry.path === 'string') {
      const required = entry.required
      if (required !== undefined && !(required instanceof GoScalar && required.kind === 'bool')) {
        throw new Error(`service ${service}: env_file ${entry.path}: required must be true or false`)
      }
      ref = { key: entry.path, path: entry.path, required: required === undefined || required.text === 'true' }
    } else throw new Error(`service ${service}: env_file entries must be paths or {path, required}`)
    // A repeated path keeps its first position and takes the later entry (compose-go EnforceUnicity).
    const at = refs.findIndex((r) => r.key === ref.key)
    if (at >= 0) refs[at] = ref
    else refs.push(ref)
  }
  return refs
}

/** `environment:` as KEY -> value, or null for a bare KEY (list form `- KEY`, map form `KEY:`). */
function environmentEntries(value: Yaml | undefined, service: string): Map<string, string | null> {
  const entries = new Map<string, string | null>()
  if (value === undefined || value === null) return entries
  if (isMapping(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (Array.isArray(v) || isMapping(v))
        throw new Error(`service ${service}: environment.${k} must be a string, number, boolean or null`)
      entries.set(k, v === null ? null : goString(v))
    }
    return entries
  }
  if (!Array.isArray(value)) throw new Error(`service ${service}: environment must be a list or a mapping`)
  for (const item of value) {
    if (typeof item !== 'string')
      throw new Error(`service ${service}: environment entries must be strings like KEY=value`)
    const eq = item.indexOf('=')
    if (eq < 0) entries.set(item, null)
    else entries.set(item.slice(0, eq), item.slice(eq + 1))
  }
  return entries
}

function serviceEnvironment(model: ServiceModel, projectDir: string, projectLookup: Lookup): Record<string, string> {
  if (model.extendsIn) {
    throw new Error(
      `service ${model.name} uses extends: (in ${model.extendsIn}), which this reader does not model; copy the ` +
        `settings into the service`,
    )
  }
  // env_file paths are relative to the project directory, whichever file names them.
  const fromFiles = new Map<string, string>()
  // A variable in an env_file is looked up among the EARLIER env_files' variables first, then in the
  // project environment (shell, then .env), and only then among the earlier keys of the same file
  // (verified: b.env `L=${K}` gives a.env's K even when K is set in the shell).
  const lookup: Lookup = (name) => fromFiles.get(name) ?? projectLookup(name)
  for (const ref of envFileRefs(model.envFile, model.name)) {
    const file = path.resolve(projectDir, ref.path)
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (e) {
      if (!ref.required && (e as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new Error(
        `service ${model.name}: env file ${file} not found (${(e as Error).message}); create it or mark it required: ` +
          `false`,
      )
    }
    let vars: Record<string, string>
    try {
      vars = parseEnvFile(text, lookup)
    } catch (e) {
      if (e instanceof EnvFileError)
        throw new Error(`${file}: ${e.message}; fix that line (env_file of service ${model.name})`)
      throw e
    }
    for (const [k, v] of Object.entries(vars)) fromFiles.set(k, v)
  }
  const result = new Map<string, string | null>(fromFiles)
  // `environment:` overrides env_file; a bare KEY takes the project environment's value, or removes
  // the variable (even one an env_file set) when the project environment does not have it.
  for (const [k, v] of environmentEntries(model.environment, model.name)) result.set(k, v ?? projectLookup(k) ?? null)
  const out: Record<string, string> = {}
  for (const [k, v] of result) if (v !== null) setOwn(out, k, v)
  return out
}

/** Sets a property even when the key is `__proto__`. */
function setOwn(target: Record<string, string>, key: string, value: string) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}
