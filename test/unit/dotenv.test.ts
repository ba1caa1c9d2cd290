// Unit tests of lib/dotenv.ts: env-file parsing and interpolation as Compose v2 does them (expected values taken from `docker compose config`).
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { EnvFileError, interpolate, InterpolationError, parseEnvFile, parseEnvStatements } from '../../lib/config/dotenv.ts'

type Env = Record<string, string>
const lookupIn = (env: Env) => (name: string) => (Object.hasOwn(env, name) ? env[name] : undefined)

const PARSE: [name: string, text: string, env: Env, expected: Env][] = [
  ['blank and comment lines', '# top\n\n   # indented\nA=1\n\n#B=2\n', {}, { A: '1' }],
  ['an inline comment needs a space before #', 'A=value # c\nB=value #c\nC=value#kept\nD=value\t#tab-kept\nE=x # y # z\n', {}, { A: 'value', B: 'value', C: 'value#kept', D: 'value\t#tab-kept', E: 'x' }],
  ['the p@ss:w/rd#1% password', 'POSTGRES_PASSWORD=p@ss:w/rd#1%\n', {}, { POSTGRES_PASSWORD: 'p@ss:w/rd#1%' }],
  ['a # right after = is the value', 'A=#start\nB= #after-space\n', {}, { A: '#start', B: '#after-space' }],
  ['trailing whitespace is trimmed, leading too', 'A=  spaced value  \nB=\t\ttab\t\n', {}, { A: 'spaced value', B: 'tab' }],
  ['single quotes are literal', "A='$HOME \\n # x ${Y:-z}'\nB='a\\'b'\nC='two\nlines'\n", { HOME: '/h' }, { A: '$HOME \\n # x ${Y:-z}', B: "a'b", C: 'two\nlines' }],
  [
    'double quotes: escapes',
    'A="t\\tn\\nq\\" b\\\\ d\\$HOME r\\r"\nB="\\a\\b\\f\\v"\nC="\\c \\x41 \\\'"\n',
    { HOME: '/h' },
    { A: 't\tn\nq" b\\ d$HOME r\r', B: '\x07\b\f\v', C: "\\c \\x41 \\'" },
  ],
  ['double quotes: octal escapes as Compose reads them', 'A="[\\0][\\01][\\012][\\0123][\\0777][\\08][\\044A]"\n', {}, { A: '[\\][\\1][\\12][S][\\777][\\8][\\44A]' }],
  ['double quotes: multi-line and interpolation', 'A="line1\nline2 ${B}"\n', { B: 'b' }, { A: 'line1\nline2 b' }],
  ['text after the closing quote', 'A="x" # comment\nB="y" C=z\nD=\'w\'junk\n', {}, { A: 'x', B: 'y', C: 'z', D: 'w' }],
  ['export prefix', 'export A=1\nexport  B="two"\n\texport C=3\nexportD=4\nexport=5\n', {}, { A: '1', B: 'two', C: '3', exportD: '4', export: '5' }],
  ['whitespace around key and =, YAML style', '  A = spaced   \nB :yaml\nC: colon value\n', {}, { A: 'spaced', B: 'yaml', C: 'colon value' }],
  ['keys with dots, dashes, brackets, digits, tabs, letters', 'a.b=1\nc-d=2\ne[0]=3\n1X=4\nK\tL=5\nÄÖ=6\n', {}, { 'a.b': '1', 'c-d': '2', 'e[0]': '3', '1X': '4', 'K\tL': '5', ÄÖ: '6' }],
  ['the lookup wins over earlier keys of the file', 'A=file\nB=${A}-x\nC=$A\n', { A: 'shell' }, { A: 'file', B: 'shell-x', C: 'shell' }],
  ['earlier keys are used when the lookup has none', 'A=file\nB=${A}-x\nC=${LATER:-none}\nLATER=l\n', {}, { A: 'file', B: 'file-x', C: 'none', LATER: 'l' }],
  ['a bare KEY takes the lookup value or is left out', 'A\nB\nC=1\nC\n  D  \n', { A: 'a', D: '' }, { A: 'a', C: '1', D: '' }],
  ['a bare KEY ignores earlier keys of the file', 'C=1\nC\nE=2\n', {}, { C: '1', E: '2' }],
  ['CRLF', 'A=1\r\nB="two"\r\nC=\'three\'\r\nD=four # c\r\nE="multi\r\nline"\r\n', {}, { A: '1', B: 'two', C: 'three', D: 'four', E: 'multi\r\nline' }],
  ['empty values', "A=\nB=''\nC=\"\"\nD= \n", {}, { A: '', B: '', C: '', D: '' }],
  ['a comment right after = is the value (no space left before #)', 'E=   # c\n', {}, { E: '# c' }],
  [
    'passwords with #, $, a quote and a space',
    "PW1='p#ss $x \"q\" w'\nPW2=\"p#ss \\$x \\\"q\\\" w\"\nPW3=\"it's \\$1 #a\"\nPW4=p#ss$$x\"q\n",
    {},
    { PW1: 'p#ss $x "q" w', PW2: 'p#ss $x "q" w', PW3: "it's $1 #a", PW4: 'p#ss$x"q' },
  ],
  ['an unquoted value keeps backslashes', 'A=a\\nb\nB=c\\#d\nC=e\\ #f\nD=\\$X\n', { X: 'x' }, { A: 'a\\nb', B: 'c\\#d', C: 'e\\', D: '\\x' }],
  ['UTF-8 BOM', '\ufeffA=1\n', {}, { A: '1' }],
  ['unicode', 'A=héllo wörld\nB="🎉\\n"\n', {}, { A: 'héllo wörld', B: '🎉\n' }],
  ['a last line without = is the value of an empty key (Compose quirk)', 'A=1\nFOO', {}, { A: '1', '': 'FOO' }],
  ['a trailing `export ` on its own line', 'A=1\nexport \n', {}, { A: '1' }],
  ['a later statement for the same key wins', 'A=1\nA=2\n', {}, { A: '2' }],
  ['__proto__ is an ordinary key', '__proto__=x\n', {}, JSON.parse('{"__proto__":"x"}') as Env],
]

for (const [name, text, env, expected] of PARSE) {
  test(`parseEnvFile: ${name}`, () => {
    assert.equal(parseEnvFile(text, lookupIn(env)), expected)
  })
}

const PARSE_ERRORS: [name: string, text: string, line: number, message: RegExp][] = [
  ['a space in a key', 'X=1\nY="a\nb"\nZ\n  bad key=1\n', 5, /key cannot contain a space/],
  ['an unterminated quote (the line where it opens)', 'X=1\nY="a\nb"\nZ\n\n#c\nW="unterminated\n', 7, /unterminated quoted value "unterminated/],
  ['a bad character in a key', 'A=1\nB$=2\n', 2, /unexpected character "\$" in variable name "B\$=2"/],
  ['a second quote glued to a single-quoted value', "S='it''s'\n", 1, /unexpected character "'"/],
  ['an invalid template', 'A=1\n\nB=${1BAD}\n', 3, /Invalid template: "\$\{1BAD\}"/],
  ['an unterminated ${', 'A=${OPEN\n', 1, /Invalid template/],
  ['a ${...} across lines', 'A="${U:-a\nb}"\n', 1, /Invalid template/],
  ['a required variable', 'A=1\nB=${NEED:?set NEED first}\n', 2, /required variable NEED is missing a value: set NEED first/],
  ['a trailing export at the end of the file', 'A=1\nexport ', 2, /zero length string/],
]

for (const [name, text, line, message] of PARSE_ERRORS) {
  test(`parseEnvFile fails: ${name}`, () => {
    try {
      parseEnvFile(text)
      assert.unreachable('no error')
    } catch (e) {
      assert.instance(e, EnvFileError)
      assert.is((e as EnvFileError).line, line)
      assert.match((e as Error).message, new RegExp(`^line ${line}: `))
      assert.match((e as Error).message, message)
    }
  })
}

test('parseEnvStatements gives each statement its line', () => {
  const statements = parseEnvStatements('# c\nA=1\nB="x\ny"\n\nC\nD=4\n', () => undefined)
  assert.equal(
    statements.map((s) => [s.key, s.value, s.line]),
    [
      ['A', '1', 2],
      ['B', 'x\ny', 3],
      ['C', undefined, 6],
      ['D', '4', 7],
    ],
  )
})

const ENV: Env = { A: 'shell', EMPTY: '' }
const INTERPOLATE: [template: string, expected: string][] = [
  ['$A ${A}', 'shell shell'],
  ['$A-b|$A_b|${A}b', 'shell-b||shellb'],
  ['${A:-d}|${A-d}|${A:+alt}|${A+alt}', 'shell|shell|alt|alt'],
  ['${U:-d}|${U-d}|${U:+alt}|${U+alt}', 'd|d||'],
  ['${EMPTY:-d}|${EMPTY-d}|${EMPTY:+alt}|${EMPTY+alt}|${EMPTY?}', 'd|||alt|'],
  ['${U:-${A}x}|${A:+${U:-q}}', 'shellx|q'],
  ['${U:-{x}}', '{x}'],
  ['${U:-{}x}', '{}x'],
  ['${U:-a}b}', 'ab}'],
  // A `${X:-...}` match is greedy to the last } of the line, then split at its first balanced }: combined,
  // the same pieces give a different answer (checked with docker compose config).
  ['${U:-{x}}|${U:-{}x}|${U:-a}b}|${A:-x}}z', '{x}|{}x}|ab|shell}z'],
  ['${U-x:-y}|${U:-x-y}', 'x:-y|x-y'],
  ['$$|$$A|a$|$1|$ |$-', '$|$A|a$|$1|$ |$-'],
  ['${a}', ''], // names are case-sensitive
  ['${A:?msg}', 'shell'],
]

for (const [template, expected] of INTERPOLATE) {
  test(`interpolate: ${template}`, () => {
    assert.is(interpolate(template, lookupIn(ENV)), expected)
  })
}

const INTERPOLATE_ERRORS: [template: string, message: RegExp][] = [
  ['${A', /Invalid template: "\$\{A"/],
  ['${}', /Invalid template/],
  ['${1A}', /Invalid template/],
  ['${A:=x}', /Invalid template/],
  ['${U:?the reason}', /^required variable U is missing a value: the reason$/],
  ['${EMPTY:?}', /^required variable EMPTY is missing a value$/],
  ['${U?}', /required variable U/],
  ['${U:-x}${U:?boom}', /boom/],
]

for (const [template, message] of INTERPOLATE_ERRORS) {
  test(`interpolate fails: ${template}`, () => {
    assert.throws(() => interpolate(template, lookupIn(ENV)), (e: unknown) => e instanceof InterpolationError && message.test((e as Error).message))
  })
}

test('interpolate reports unset variables', () => {
  const unset: string[] = []
  assert.is(interpolate('${X}$Y${Z:-d}', lookupIn(ENV), (n) => unset.push(n)), 'd')
  assert.equal(unset, ['X', 'Y'])
})

test.run()
