// Reads env files and interpolates `${VAR}` exactly as Docker Compose v2 (compose-go) does; standalone.
//
// Ported from compose-go's dotenv parser and template package, and checked against
// `docker compose config` 2.26.1 (see test/e2e/compose-oracle.test.ts). Compose's rules differ from the
// `dotenv` npm package in several places that matter for passwords:
//   - an unquoted value ends at ` #` (a SPACE then #); a `#` glued to the value, or after a tab, is kept:
//     `P=p@ss:w/rd#1%` is `p@ss:w/rd#1%`, `P=abc #x` is `abc`, `P=abc\t#x` is `abc\t#x`;
//   - `$` interpolates in unquoted and double-quoted values, never in single-quoted ones;
//     `$$` (and `\$` inside double quotes) is a literal `$`;
//   - while a file is parsed, a variable is looked up in the caller's environment FIRST and only then
//     among the keys defined earlier in the same file (`A=1` then `B=$A` gives B=<shell A> when A is
//     set in the shell), although the key itself keeps the file's value (A stays 1).

/** Answers a variable's value, or undefined when it is not set (an empty string is set). */
export type Lookup = (name: string) => string | undefined

const noLookup: Lookup = () => undefined

// ---------------------------------------------------------------------------------------------
// Interpolation (compose-go template package)
// ---------------------------------------------------------------------------------------------

// compose-go's pattern (one regular expression, cut here in two):
// `\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|`
// `{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|(?P<invalid>)))`.
// Go's `.` stops at a newline, hence [^\n]. The braced form is greedy up to the LAST `}` of the line;
// the first balanced `}` is found afterwards (firstClosingBrace) and the remainder interpolated again.
const PATTERN = /\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{(?:([_a-zA-Z][_a-zA-Z0-9]*(?::?[-+?][^\n]*)?)\}|()))/g
const PATTERN_ONE = new RegExp(PATTERN.source)

/**
 * An interpolation that Compose refuses: `${`, `${1X}`, `${X:=y}`, or a `${X:?msg}` / `${X?msg}` whose variable is
 * missing.
 */
export class InterpolationError extends Error {}

type Substitution = (substitution: string, lookup: Lookup, onUnset?: (name: string) => void) => string | undefined

/**
 * Interpolates a compose-file value: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`,
 * `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`; `$$` is a literal `$`; a `$` not followed by a name or `{`
 * is kept as is. An unset variable becomes '' (Compose warns; `onUnset` is told). Throws InterpolationError.
 */
export function interpolate(value: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  return substitute(value, lookup, onUnset)
}

function substitute(template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  return template.replace(PATTERN, (whole) => replaceOne(whole, template, lookup, onUnset))
}

function replaceOne(match: string, template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  // The operator is chosen from the whole greedy match (the earliest of :? ? :- - :+ +).
  const apply = substitutionFor(match)
  let substring = match
  let rest = ''
  const closing = firstClosingBrace(match)
  if (closing > -1) {
    rest = match.slice(closing + 1)
    substring = match.slice(0, closing + 1)
  }
  const m = PATTERN_ONE.exec(substring)
  if (!m) throw new InterpolationError(`Invalid template: ${JSON.stringify(template)}`)
  const [, escaped, named, bracedName] = m
  if (escaped) return escaped
  const braced = !named
  const substitution = named || bracedName || ''
  if (!substitution) throw new InterpolationError(`Invalid template: ${JSON.stringify(template)}`)
  if (braced) {
    const value = apply(substitution, lookup, onUnset)
    if (value !== undefined) return value + substitute(rest, lookup, onUnset)
  }
  const value = lookup(substitution)
  if (value === undefined) onUnset?.(substitution)
  return value ?? ''
}

function firstClosingBrace(s: string): number {
  let open = 0
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '}') {
      open--
      if (open === 0) return i
    }
    if (s[i] === '{') {
      open++
      i++
    }
  }
  return -1
}

function partition(s: string, sep: string): [string, string] {
  const at = s.indexOf(sep)
  return at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + sep.length)]
}

/**
 * One operator of ${NAME<sep>ARG}: the argument is interpolated first (and may fail even when it
 * goes unused, as in Compose), then `decide` picks the result from the variable's value.
 */
function operator(sep: string, decide: (name: string, value: string | undefined, arg: string) => string): Substitution {
  return (substitution, lookup, onUnset) => {
    if (!substitution.includes(sep)) return undefined
    const [name, rest] = partition(substitution, sep)
    const arg = substitute(rest, lookup, onUnset)
    return decide(name, lookup(name), arg)
  }
}

/** ${NAME:-default} / ${NAME-default}: the default when unset (or, with the colon, empty). */
const withDefault = (sep: ':-' | '-') =>
  operator(sep, (_, value, dflt) => (value === undefined || (sep === ':-' && value === '') ? dflt : value))

/** ${NAME:+alt} / ${NAME+alt}: the alternative when set (and, with the colon, not empty). */
const withAlternative = (sep: ':+' | '+') =>
  operator(sep, (_, value, alt) => (value !== undefined && (sep === '+' || value !== '') ? alt : (value ?? '')))

/** ${NAME:?message} / ${NAME?message}: an error when unset (or, with the colon, empty). */
const withRequired = (sep: ':?' | '?') =>
  operator(sep, (name, value, reason) => {
    if (value === undefined || (sep === ':?' && value === ''))
      throw new InterpolationError(`required variable ${name} is missing a value${reason ? `: ${reason}` : ''}`)
    return value
  })

const OPERATORS: [string, Substitution][] = [
  [':?', withRequired(':?')],
  ['?', withRequired('?')],
  [':-', withDefault(':-')],
  ['-', withDefault('-')],
  [':+', withAlternative(':+')],
  ['+', withAlternative('+')],
]

function substitutionFor(match: string): Substitution {
  let best = OPERATORS[0]
  let bestAt = Infinity
  for (const op of OPERATORS) {
    const at = match.indexOf(op[0])
    if (at >= 0 && at < bestAt) {
      best = op
      bestAt = at
    }
  }
  return best[1]
}

// ---------------------------------------------------------------------------------------------
// Env-file parser (compose-go dotenv package)
// ---------------------------------------------------------------------------------------------

/** A malformed env file; `line` is the 1-based line where the offending statement starts. */
export class EnvFileError extends Error {
  constructor(
    public line: number,
    public reason: string,
  ) {
    super(`line ${line}: ${reason}`)
  }
}

export interface EnvStatement {
  key: string
  /** undefined for a bare `KEY` line that the lookup does not know (Compose then leaves KEY out). */
  value: string | undefined
  line: number
}

/** Go's unicode.IsSpace. */
function isUnicodeSpace(c: string): boolean {
  return /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(c)
}

/** compose-go's isSpace: whitespace other than a line feed. */
function isSpace(c: string): boolean {
  return c === '\t' || c === '\v' || c === '\f' || c === '\r' || c === ' ' || c === '\u0085' || c === '\u00a0'
}

function trimRightUnicodeSpace(s: string): string {
  let end = s.length
  while (end > 0 && isUnicodeSpace(s[end - 1])) end--
  return s.slice(0, end)
}

const KEY_RUNE = /^[_.\-[\]\p{L}\p{N}]$/u
// Go's \s is [\t\n\f\r ] (no \v).
const EXPORT = /^export[\t\n\f\r ]+/

/**
 * Parses env-file text as Compose v2 does and returns its variables in file order.
 * `lookup` is consulted for interpolation BEFORE the keys defined earlier in the same text, and alone
 * for a bare `KEY` line. Throws EnvFileError (with the line number) for a malformed line.
 */
export function parseEnvFile(text: string, lookup: Lookup = noLookup): Record<string, string> {
  const out: Record<string, string> = {}
  for (const { key, value } of parseEnvStatements(text, lookup)) {
    if (value !== undefined)
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** parseEnvFile's statements with their line numbers (a later statement for the same key wins). */
export function parseEnvStatements(text: string, lookup: Lookup = noLookup): EnvStatement[] {
  const scan = new EnvScanner(text.startsWith('\uFEFF') ? text.slice(1) : text) // a UTF-8 BOM is skipped
  const statements: EnvStatement[] = []
  const defined = new Map<string, string>()
  // Earlier keys of the same file come second: Compose asks the caller's environment first.
  const resolve: Lookup = (name) => lookup(name) ?? defined.get(name)
  while (scan.skipBlank()) {
    const line = scan.line()
    const { key, terminator } = scan.key(line)
    if (terminator === '\n') {
      // A bare KEY: inherited from the environment, or unset.
      const value = lookup(key)
      statements.push({ key, value, line })
      if (value !== undefined) defined.set(key, value)
      continue
    }
    const value = scan.value(line, resolve)
    statements.push({ key, value, line })
    defined.set(key, value)
  }
  return statements
}

/** A cursor over env-file text, reading it as compose-go's dotenv parser does. */
class EnvScanner {
  private i = 0
  private lineNo = 1
  private counted = 0

  constructor(private s: string) {}

  /** The line the cursor is on. */
  line(): number {
    for (; this.counted < this.i; this.counted++) if (this.s[this.counted] === '\n') this.lineNo++
    return this.lineNo
  }

  /** Skips whitespace, blank lines and comment lines (a `#` first on its line); false at the end. */
  skipBlank(): boolean {
    const { s } = this
    for (;;) {
      while (this.i < s.length && isUnicodeSpace(s[this.i])) this.i++
      if (this.i >= s.length) return false
      if (s[this.i] !== '#') return true
      const nl = s.indexOf('\n', this.i)
      if (nl < 0) return false
      this.i = nl
    }
  }

  /** An optional `export `, then the key, which runs to `=`, `:` (YAML style) or a line feed (a bare KEY). */
  key(line: number): { key: string; terminator: string } {
    const { s } = this
    const fail = (reason: string): never => {
      throw new EnvFileError(line, reason)
    }
    if (EXPORT.test(s.slice(this.i, this.i + 64))) {
      this.i += 'export'.length
      while (this.i < s.length && isSpace(s[this.i])) this.i++
      if (this.i >= s.length) fail('zero length string') // Compose's words for a trailing `export `
    }
    let j = this.i
    let terminator = ''
    while (j < s.length) {
      const c = String.fromCodePoint(s.codePointAt(j)!)
      if (c === '=' || c === ':' || c === '\n') {
        terminator = c
        break
      }
      if (!isSpace(c) && !KEY_RUNE.test(c))
        fail(
          `unexpected character ${JSON.stringify(c)} in variable name ` +
            `${JSON.stringify(s.slice(this.i).split('\n')[0])}`,
        )
      j += c.length
    }
    // Compose's quirk: text at the end of the file with neither `=` nor a line feed is the value of
    // an empty key (an env_file then yields "" => text; a project .env makes Compose fail).
    const key = terminator ? trimRightUnicodeSpace(s.slice(this.i, j)) : ''
    if (terminator) this.i = j + 1
    if (key.includes(' ')) fail('key cannot contain a space')
    return { key, terminator }
  }

  /** The value: quoted (escapes in double quotes, interpolated) or plain (to the line's end, ` #` starts a comment). */
  value(line: number, resolve: Lookup): string {
    const { s } = this
    while (this.i < s.length && isSpace(s[this.i])) this.i++
    const quote = s[this.i]
    if (quote === '"' || quote === "'") {
      const raw = this.quoted(quote, line)
      return quote === '"' ? expand(expandEscapes(raw), resolve, line) : raw
    }
    const nl = s.indexOf('\n', this.i)
    let raw = nl < 0 ? s.slice(this.i) : s.slice(this.i, nl)
    this.i = nl < 0 ? s.length : nl + 1
    const comment = raw.indexOf(' #') // only a SPACE before # starts a comment
    if (comment >= 0) raw = raw.slice(0, comment)
    return expand(trimRightUnicodeSpace(raw), resolve, line)
  }

  /**
   * A quoted value's text. A backslash escapes the quote character (and is dropped); before
   * anything else it is kept. Whatever follows the closing quote is parsed as the next statement
   * (so `A="x" B=y` sets both, and `A="x" # note` is a comment).
   */
  private quoted(quote: string, line: number): string {
    const { s } = this
    let raw = ''
    let escaping = false
    for (let k = this.i + 1; k < s.length; k++) {
      const c = s[k]
      if (escaping) {
        escaping = false
        if (c !== quote) raw += '\\'
        raw += c
      } else if (c === '\\') escaping = true
      else if (c === quote) {
        this.i = k + 1
        return raw
      } else raw += c
    }
    throw new EnvFileError(line, `unterminated quoted value ${s.slice(this.i).split('\n')[0]}`)
  }
}

function expand(value: string, lookup: Lookup, line: number): string {
  try {
    return substitute(value, lookup)
  } catch (e) {
    if (e instanceof InterpolationError) throw new EnvFileError(line, e.message)
    throw e
  }
}

// Escapes honoured inside double quotes: \a \b \f \n \r \t \v \" \\ \$ and \0ooo (octal).
// Anything else (\c, \x41, \') stays as written, backslash included.
const ESCAPE = /\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})/g
const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '"': '"',
  '\\': '\\',
}

function expandEscapes(s: string): string {
  return s.replace(ESCAPE, (match) => {
    if (match === '\\$') return '$$' // a literal $, protected from interpolation
    if (match.startsWith('\\0')) {
      // Compose drops the 0 and decodes exactly three octal digits (\0101 = "A"); otherwise it
      // keeps the text without its 0 (\0 = "\", \01 = "\1", \0777 = "\777").
      const rewritten = '\\' + match.slice(2)
      if (/^\\[0-7]{3}$/.test(rewritten)) {
        const code = parseInt(rewritten.slice(1), 8)
        if (code <= 255) return String.fromCodePoint(code)
      }
      return rewritten
    }
    return SIMPLE_ESCAPES[match[1]] ?? match
  })
}
