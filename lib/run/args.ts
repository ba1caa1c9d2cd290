// The command line as typed: every flag that takes a value takes it as the string typed (minimist
// would make 007 the number 7, 1e3 the number 1000, a password 0123 the number 123), positional
// arguments stay text, a flag given twice is an error, and a --key-name flag sets that setting.
import minimist from 'minimist'
import { flagOf, keyOf, KEYS, type Key } from '../config/settings.ts'

/**
 * A flag of a script for --help and the parser: ['--backup NAME', 'meaning'] takes a value, ['--all', '...'] does not.
 */
export type FlagSpec = [string, string]

export interface Parsed {
  /** The script's own flags and the wrapper's: strings, or true for those that take no value. */
  flags: Record<string, string | boolean>
  positionals: string[]
  /** --key-name flags that set a setting. */
  settings: Partial<Record<Key, string>>
  problems: string[]
}

const names = (spec: FlagSpec) =>
  spec[0]
    .split(/[ ,]+/)
    .filter((w) => w.startsWith('-'))
    .map((w) => w.replace(/^--?/, ''))
const takesValue = (spec: FlagSpec) => /^--?[\w-]+(?:,\s*--?[\w-]+)*\s+[A-Z]/.test(spec[0])

/**
 * Parses argv with the flags declared, in order (a script's own first, so that rollback-code's
 * --backup NAME wins over the wrapper's --backup). A flag named like a setting sets it.
 */
export function parseArgs(argv: string[], declared: FlagSpec[]): Parsed {
  const kinds = new Map<string, 'value' | 'boolean'>()
  const alias: Record<string, string> = {}
  for (const spec of declared) {
    const [long, ...short] = names(spec).sort((a, b) => b.length - a.length)
    if (kinds.has(long)) continue
    kinds.set(long, takesValue(spec) ? 'value' : 'boolean')
    for (const s of short) alias[s] = long
  }
  // A setting is a flag too; one whose default is true or false takes no value (--strict-logs).
  for (const [key, [value]] of Object.entries(KEYS))
    if (!kinds.has(flagOf(key))) kinds.set(flagOf(key), /^(true|false)$/.test(value) ? 'boolean' : 'value')
  const of = (kind: string) => [...kinds].filter(([, k]) => k === kind).map(([n]) => n)
  const raw = minimist(argv, { string: ['_', ...of('value')], boolean: of('boolean'), alias, unknown: () => true })
  const parsed: Parsed = { flags: {}, positionals: (raw._ ?? []).map(String), settings: {}, problems: [] }
  for (const [name, value] of Object.entries(raw)) {
    if (name === '_' || alias[name]) continue
    const key = keyOf(name)
    const given = kinds.get(name) === 'boolean' ? (value ? 'true' : undefined) : String(value)
    if (Array.isArray(value)) parsed.problems.push(`--${name} given ${value.length} times; give it once`)
    else if (key) {
      if (given !== undefined) parsed.settings[key] = given
    } else if (kinds.has(name)) parsed.flags[name] = kinds.get(name) === 'boolean' ? Boolean(value) : String(value)
    else parsed.problems.push(`unknown option: --${name} (see --help)`)
  }
  for (const [name, value] of Object.entries(parsed.flags))
    if (value === '') parsed.problems.push(`--${name} needs a value`)
  return parsed
}

/** A string flag's value, or undefined when it was not given. */
export const text = (flags: Parsed['flags'], name: string): string | undefined =>
  typeof flags[name] === 'string' ? (flags[name] as string) : undefined
