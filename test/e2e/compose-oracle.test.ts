// Oracle test: for each fixture, `docker compose config` (Compose v2, no engine needed) and lib/compose-project.ts + lib/dotenv.ts must give the same project name and service environments, or both fail.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { loadComposeProject, type ComposeProject } from '../../lib/config/compose-project.ts'
import { parseEnvFile } from '../../lib/config/dotenv.ts'

// Compose and our reader see exactly the same environment: this, plus each fixture's variables.
const BASE_ENV: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }

function composeVersion(): string | null {
  const r = spawnSync('docker', ['compose', 'version', '--short'], { encoding: 'utf8', env: BASE_ENV })
  return r.status === 0 && /^v?2\./.test(r.stdout.trim()) ? r.stdout.trim() : null
}

interface Answer {
  error?: string
  name?: string
  services?: Record<string, Record<string, string>>
}

/** What Compose answers; `config` writes every `$` as `$$` and a variable it leaves unset as null. */
function parseConfig(status: number | null, stdout: string, stderr: string): Answer {
  if (status !== 0) return { error: (stderr || stdout || `exit ${status}`).trim() }
  const config = JSON.parse(stdout) as { name: string; services?: Record<string, { environment?: Record<string, string | null> }> }
  const services: Record<string, Record<string, string>> = {}
  for (const [name, svc] of Object.entries(config.services ?? {})) {
    services[name] = {}
    for (const [k, v] of Object.entries(svc.environment ?? {})) if (v !== null) services[name][k] = v.replaceAll('$$', '$')
  }
  return { name: config.name, services }
}

// `docker compose config` takes about a second here, so runs are started ahead of the tests, a few at a time.
const PARALLEL = 4
let running = 0
const waiting: (() => void)[] = []

function composeAnswer(cwd: string, env: Record<string, string>): Promise<Answer> {
  return new Promise((resolve) => {
    const start = () => {
      running++
      const child = spawn('docker', ['compose', 'config', '--format', 'json'], { cwd, env: { ...BASE_ENV, ...env } })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d))
      child.stderr.on('data', (d: Buffer) => (stderr += d))
      child.on('close', (status) => {
        running--
        waiting.shift()?.()
        resolve(parseConfig(status, stdout, stderr))
      })
    }
    if (running < PARALLEL) start()
    else waiting.push(start)
  })
}

function ourAnswer(cwd: string, env: Record<string, string>): Answer & { project?: ComposeProject } {
  try {
    const project = loadComposeProject(cwd, { ...BASE_ENV, ...env })
    const services: Record<string, Record<string, string>> = {}
    for (const s of project.services) services[s] = project.environment(s)
    return { name: project.name, services, project }
  } catch (e) {
    return { error: (e as Error).message }
  }
}

function writeTree(root: string, files: Record<string, string>) {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, content)
  }
}

interface Fixture {
  name: string
  /** Path relative to `cwd` -> content. Without a YAML file, defaultCompose() is added. */
  files: Record<string, string>
  /** Shell variables (besides PATH and HOME). */
  env?: Record<string, string>
  /** The directory Compose runs in, below a fresh fixture root (default: the root). */
  cwd?: string
  /** Both must fail. */
  fails?: boolean
  /** Extra checks on our answer. */
  check?: (project: ComposeProject, root: string) => void
}

/**
 * Service `s` takes the .env as its env_file, and also interpolates each variable the .env seems to
 * define into `environment:` (I_<KEY>: "${KEY}"), which checks the .env as the project environment too.
 */
function defaultCompose(dotenv = ''): string {
  const keys = [...new Set([...dotenv.matchAll(/^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*[=:]/gm)].map((m) => m[1]))]
  const environment = keys.map((k) => `      I_${k}: "\${${k}}"\n`).join('')
  return `services:\n  s:\n    image: busybox\n    env_file: .env\n    environment:\n      I_HOME: "\${HOME}"\n${environment}`
}

const ENV_FILE_FIXTURES: Fixture[] = [
  { name: 'inline comment needs a space before #', files: { '.env': 'A=value # comment\nB=value #comment\nC=value#not-a-comment\nD=value\t#tab-is-not-enough\n' } },
  { name: '# glued to the value is part of it (the p@ss:w/rd#1% bug)', files: { '.env': 'POSTGRES_PASSWORD=p@ss:w/rd#1%\nX=#leading\nY= #after-equals\n' } },
  { name: 'comment lines and blank lines', files: { '.env': '# top\n\n   # indented\nA=1\n\n\n#B=2\n' } },
  { name: 'single quotes are literal', files: { '.env': "A='$HOME \\n # kept ${X:-y}'\nB='a\\'b'\nC='two\nlines'\n" } },
  {
    name: 'double quotes: escapes and multi-line',
    files: { '.env': 'A="tab\\tnl\\nquote\\" backslash\\\\ dollar\\$HOME cr\\r"\nB="line1\nline2\n  line3"\nC="\\0101 \\c \\x41 \\\' \\0 \\01"\nD="x" # comment after quotes\n' },
  },
  { name: 'export prefix', files: { '.env': 'export A=1\nexport  B="two"\n\texport C=3\nexportD=4\nexport=5\n' } },
  { name: 'whitespace around key and =', files: { '.env': '  A = spaced value   \nB=\t\ttabs\t\nC :yaml-style\nD: colon value\n' } },
  {
    name: 'interpolation forms',
    files: { '.env': 'A=$A-${A}-${A:-d}-${A-d}-${A:+alt}-${A+alt}\nU=${UNSET:-d1}|${UNSET-d2}|${UNSET:+a}|${UNSET+a}\nE=${EMPTY:-d1}|${EMPTY-d2}|${EMPTY:+a}|${EMPTY+a}|${EMPTY?}\nN=${UNSET:-${A}x}|${UNSET:-{x}}|${A:-x}}|$$|a$|$1\n' },
    env: { A: 'shell', EMPTY: '' },
  },
  {
    name: 'earlier keys of the file vs the shell (the shell wins when set)',
    files: { '.env': 'A=file\nB=${A}-x\nC=$A\nD="${A}"\nE=${ONLY_FILE:-none}\nONLY_FILE=f\nF=${ONLY_FILE}\n' },
    env: { A: 'shell' },
  },
  { name: 'earlier keys of the file when the shell has none', files: { '.env': 'A=file\nB=${A}-x\nC=$A\nD="${A}"\nE=${ONLY_FILE:-none}\nONLY_FILE=f\nF=${ONLY_FILE}\n' } },
  { name: 'shell variables in values', files: { '.env': 'H=$HOME\nP=${SHELLVAR}/bin\nQ="${SHELLVAR:?}"\n' }, env: { SHELLVAR: '/opt/x' } },
  { name: 'CRLF line endings', files: { '.env': 'A=1\r\nB="two"\r\nC=\'three\'\r\nD=four # c\r\nE="multi\r\nline"\r\n\r\n' } },
  { name: 'empty values', files: { '.env': "A=\nB=''\nC=\"\"\nD= \nE=   # comment\nF\n" }, env: { F: '' } },
  {
    name: 'passwords with #, $, a quote and a space, written as Compose allows',
    files: {
      '.env':
        "PW1='p#ss $x \"q\" w'\nPW2=\"p#ss \\$x \\\"q\\\" w\"\nPW3=\"it's \\$1 #a\"\nPW4=p#ss$$x\"q\nPW5='a b#c'\nPW6=\"p@ss:w/rd#1% \\\"x\\\" \\$HOME\"\n",
    },
  },
  { name: 'a key without = takes the shell value (or nothing)', files: { '.env': 'A\nB\nC=1\nC\n  D  \n' }, env: { A: 'from-shell', D: 'd' } },
  { name: 'a quoted value followed by another statement on the same line', files: { '.env': 'A="x" B=y\nC=\'z\'junk\n' } },
  { name: 'keys with dots, dashes, brackets, digits and tabs', files: { '.env': 'a.b=1\nc-d=2\ne[0]=3\n1X=4\nK\tL=5\nÄÖ=6\n' } },
  { name: 'unicode and emoji values', files: { '.env': 'A=héllo wörld\nB="ünï\\ncode 🎉"\nC=\'日本語 # x\'\n' } },
  { name: 'UTF-8 BOM', files: { '.env': '\ufeffA=1\nB=2\n' } },
  { name: 'octal escapes and unknown escapes in double quotes', files: { '.env': 'A="[\\0][\\01][\\012][\\0123][\\0777][\\08][\\c][\\a][\\044A]"\n' } },
  { name: 'an unquoted value keeps backslashes', files: { '.env': 'A=a\\nb\nB=c\\#d\nC=e\\ #f\nD=\\$HOME\n' } },
  { name: 'required variable missing fails', files: { '.env': 'A=${MISSING:?set MISSING first}\n' }, fails: true },
  { name: 'required variable present', files: { '.env': 'A=${PRESENT:?set it}\nB=${PRESENT?}\n' }, env: { PRESENT: 'yes' } },
  { name: 'space in a key fails', files: { '.env': 'A=1\nBAD KEY=1\n' }, fails: true },
  { name: 'unterminated quote fails', files: { '.env': 'A=1\nB="never closed\nC=3\n' }, fails: true },
  { name: 'bad character in a key fails', files: { '.env': 'A=1\nB$=2\n' }, fails: true },
  { name: 'invalid ${} template fails', files: { '.env': 'A=${1BAD}\n' }, fails: true },
  { name: 'an unterminated ${ fails', files: { '.env': 'A=${OPEN\n' }, fails: true },
  { name: 'multi-line ${...} in double quotes fails', files: { '.env': 'A="${U:-a\nb}"\n' }, fails: true },
  { name: 'an .env line with no variable name fails', files: { '.env': 'A=1\n=value\n' }, fails: true },
  { name: 'trailing export at end of file', files: { '.env': 'A=1\nexport ' } },
  { name: 'last line without newline', files: { '.env': 'A=1\nB=two words' } },
]

const COMPOSE_FILE_FIXTURES: Fixture[] = [
  {
    name: 'environment: map and list forms, interpolated from shell and .env',
    files: {
      '.env': 'FROM_DOTENV=dot\nBOTH=dot\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      X: ${FROM_DOTENV}\n      Y: ${BOTH}\n      Z: "$$literal ${UNSET:-dflt}"\n  t:\n    image: busybox\n    environment:\n      - X=${FROM_DOTENV}-${BOTH}\n      - FROM_DOTENV\n      - BOTH\n      - HOME\n      - NOT_ANYWHERE\n      - EMPTY=\n      - DUP=1\n      - DUP=2\n',
    },
    env: { BOTH: 'shell' },
  },
  {
    name: 'environment: overrides env_file; a bare KEY unknown to the project removes the env_file value',
    files: {
      'vars.env': 'FOO=from-file\nBAR=from-file\nBAZ=from-file\n',
      '.env': 'BAZ=from-dotenv\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: vars.env\n    environment:\n      - FOO\n      - BAR=from-compose\n      - BAZ\n',
    },
  },
  {
    name: 'env_file interpolation sees earlier env_files first, then the project environment',
    files: {
      'a.env': 'K=from-a\nK2=\n',
      'b.env': 'L=${K:-nokey}\nL2=${K2:-empty}\nL3=${K2-unset}\nM=${K3:-none}\nK\nK3=b\n',
      '.env': 'K3=dot\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env, {path: missing.env, required: false}]\n',
    },
    env: { K: 'shell' },
  },
  {
    name: 'a required env_file that is missing fails',
    files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: nope.env\n' },
    fails: true,
  },
  {
    name: 'YAML typing of environment values (go-yaml v3)',
    files: {
      'compose.yaml':
        'services:\n  s:\n    image: busybox\n    environment:\n      OCT: 010\n      OCT2: 0o17\n      HEX: 0x1F\n      BIN: 0b101\n      FLT: 1.50\n      E6: 1e6\n      E5: 100000.0\n      SMALL: 1e-5\n      TENK: 0.0001\n      BIG: 18446744073709551616\n      U64: 9223372036854775808\n      NEG: -9223372036854775809\n      NEG0: -0.0\n      DOT: .5\n      EIGHT: 08\n      UNDER: 1_000\n      T: true\n      F: False\n      YES: yes\n      ON: On\n      NUL: null\n      TILDE: ~\n      EMPTY:\n      QUOTED: "010"\n      STR: !!str 010\n      INT: !!int "12"\n      DATE: 2001-12-14\n      STAMP: 2001-12-14T21:59:43.10-05:00\n      UTC: 2001-12-14 21:59:43.5\n      ZULU: 2001-12-14t21:59:43Z\n      PLUS0: 2001-12-14T21:59:43+00:00\n      HALF: 2001-12-14T21:59:43+05:30\n      BADDAY: 2001-02-30\n      SEXA: 1:20\n      NOTNUM: 0b2\n      HUGE: 1e400\n      BIGF: 123456789012.5\n',
    },
    env: { NUL: 'from-shell' },
  },
  {
    name: 'merge keys and anchors',
    files: {
      'compose.yaml': 'x-common: &common\n  C: "3"\n  D: "4"\nservices:\n  s:\n    image: busybox\n    environment:\n      <<: *common\n      A: "1"\n      C: override\n',
    },
  },
  {
    name: 'several YAML documents in one file merge',
    files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      A: "1"\n---\nservices:\n  s:\n    environment:\n      B: "2"\n' },
  },
  { name: 'unparsable YAML fails', files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      - A=1\n     bad: [\n' }, fails: true },
  { name: 'duplicate YAML key fails', files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      A: "1"\n      A: "2"\n' }, fails: true },
  { name: 'an interpolation error in the compose file fails', files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    command: echo ${NEEDED:?}\n' }, fails: true },
  {
    name: 'environment and env_file merge across files (sequence merge, duplicates keep their first position)',
    files: {
      'a.env': 'A=a\nX=xa\n',
      'b.env': 'A=b\nY=${X}\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env]\n    environment:\n      FOO: x\n      BAR: y\n      NUM: 1\n',
      'compose.override.yaml': 'services:\n  s:\n    env_file: [b.env, a.env]\n    environment:\n      - FOO\n      - BAR=\n      - NEW=${A:-none}\n  t:\n    image: busybox\n',
    },
    env: { FOO: 'shell-foo' },
  },
  {
    name: 'profiles: only active services are listed',
    files: {
      '.env': 'COMPOSE_PROFILES=debug\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n  dbg:\n    image: busybox\n    profiles: [debug]\n  t:\n    image: busybox\n    profiles: ["${P:-x}", tools]\n  u:\n    image: busybox\n    profiles: [other]\n',
      'compose.override.yaml': 'services:\n  u:\n    profiles: [tools]\n',
    },
    env: { P: 'y' },
  },
  { name: 'profiles: COMPOSE_PROFILES=* and a list with spaces', files: { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    profiles: [a]\n  t:\n    image: busybox\n    profiles: [b]\n' }, env: { COMPOSE_PROFILES: 'x, b' } },
  {
    name: 'env_file paths differing only in spelling are not merged',
    files: {
      'a.env': 'A=a\n',
      'b.env': 'A=b\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env]\n',
      'compose.override.yaml': 'services:\n  s:\n    env_file: [./a.env]\n',
    },
  },
]

const marker = (name: string) => `services:\n  s:\n    image: busybox\n    environment:\n      FROM_${name.replace(/\W/g, '_')}: "1"\n      LAST: ${JSON.stringify(name)}\n`

const DISCOVERY_FIXTURES: Fixture[] = [
  {
    name: 'compose.override.yaml is picked up',
    files: { 'compose.yaml': marker('compose.yaml'), 'compose.override.yaml': marker('compose.override.yaml') },
    check: (p, root) => assert.equal(p.files, [path.join(root, 'compose.yaml'), path.join(root, 'compose.override.yaml')]),
  },
  {
    name: 'with every name present, compose.yaml and compose.override.yml win',
    files: Object.fromEntries(
      ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml', 'compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yml', 'docker-compose.override.yaml'].map((n) => [n, marker(n)]),
    ),
    check: (p, root) => assert.equal(p.files, [path.join(root, 'compose.yaml'), path.join(root, 'compose.override.yml')]),
  },
  {
    name: 'docker-compose.yml beats docker-compose.yaml',
    files: { 'docker-compose.yaml': marker('docker-compose.yaml'), 'docker-compose.yml': marker('docker-compose.yml'), 'docker-compose.override.yml': marker('dco') },
    check: (p) => assert.equal(p.files.map((f) => path.basename(f)), ['docker-compose.yml', 'docker-compose.override.yml']),
  },
  {
    name: 'the override name need not match the main name',
    files: { 'compose.yaml': marker('compose.yaml'), 'docker-compose.override.yml': marker('docker-compose.override.yml') },
  },
  {
    name: 'COMPOSE_FILE from the shell, split on :',
    files: { 'a.yml': marker('a'), 'b.yml': marker('b'), 'compose.yaml': marker('default'), 'compose.override.yaml': marker('override') },
    env: { COMPOSE_FILE: 'a.yml:b.yml' },
    check: (p) => {
      assert.equal(p.files.map((f) => path.basename(f)), ['a.yml', 'b.yml'])
      assert.is(p.filesSource, 'COMPOSE_FILE in the environment')
    },
  },
  {
    name: 'COMPOSE_FILE with COMPOSE_PATH_SEPARATOR=; from the shell',
    files: { 'a.yml': marker('a'), 'b.yml': marker('b'), 'c.yml': marker('c') },
    env: { COMPOSE_FILE: 'c.yml;./a.yml', COMPOSE_PATH_SEPARATOR: ';' },
  },
  {
    name: 'COMPOSE_FILE from .env (the override file is then ignored)',
    files: { '.env': 'COMPOSE_FILE=b.yml:a.yml\n', 'a.yml': marker('a'), 'b.yml': marker('b'), 'compose.yaml': marker('default'), 'compose.override.yaml': marker('override') },
    check: (p, root) => assert.is(p.filesSource, `COMPOSE_FILE in ${path.join(root, '.env')}`),
  },
  {
    name: 'COMPOSE_FILE and COMPOSE_PATH_SEPARATOR both from .env',
    files: { '.env': 'COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=a.yml,b.yml\n', 'a.yml': marker('a'), 'b.yml': marker('b') },
  },
  {
    name: 'COMPOSE_FILE in the shell beats the .env one',
    files: { '.env': 'COMPOSE_FILE=a.yml\n', 'a.yml': marker('a'), 'b.yml': marker('b') },
    env: { COMPOSE_FILE: 'b.yml' },
  },
  {
    name: "the shell's COMPOSE_FILE is split by the shell's separator only",
    files: { '.env': 'COMPOSE_PATH_SEPARATOR=;\n', 'a.yml': marker('a'), 'b.yml': marker('b') },
    env: { COMPOSE_FILE: 'a.yml;b.yml' },
    fails: true,
  },
  {
    name: 'COMPOSE_FILE into a subdirectory (shell): that directory is the project, its .env is read',
    files: {
      '.env': 'X=from-root\nONLY_ROOT=root\n',
      'sub/.env': 'X=from-sub\n',
      'sub/x.yml': 'services:\n  s:\n    image: busybox\n    env_file: e.env\n    environment:\n      X: ${X}\n      R: ${ONLY_ROOT:-unset}\n',
      'sub/e.env': 'E=sub\n',
      'e.env': 'E=root\n',
    },
    env: { COMPOSE_FILE: 'sub/x.yml' },
    check: (p, root) => {
      assert.is(p.dir, path.join(root, 'sub'))
      assert.equal(p.dotenvFiles, [path.join(root, 'sub/.env')])
    },
  },
  {
    name: 'COMPOSE_FILE into a subdirectory (.env): both .env files, the first one wins',
    files: {
      '.env': 'COMPOSE_FILE=sub/x.yml\nX=from-root\nONLY_ROOT=root\n',
      'sub/.env': 'X=from-sub\nONLY_SUB=sub\nCOMPOSE_PROJECT_NAME=subname\n',
      'sub/x.yml': 'services:\n  s:\n    image: busybox\n    env_file: e.env\n    environment:\n      X: ${X}\n      R: ${ONLY_ROOT:-unset}\n      S: ${ONLY_SUB:-unset}\n',
      'sub/e.env': 'E=sub\n',
    },
    check: (p, root) => assert.equal(p.dotenvFiles, [path.join(root, '.env'), path.join(root, 'sub/.env')]),
  },
  {
    name: 'a later file in another directory: env_file paths stay relative to the project directory',
    files: { 'a.yml': marker('a'), 'sub/x.yml': 'services:\n  s:\n    env_file: e.env\n', 'e.env': 'E=root\n', 'sub/e.env': 'E=sub\n' },
    env: { COMPOSE_FILE: 'a.yml:sub/x.yml' },
  },
  { name: 'a missing file in COMPOSE_FILE fails', files: { 'a.yml': marker('a') }, env: { COMPOSE_FILE: 'a.yml:missing.yml' }, fails: true },
  { name: 'an empty COMPOSE_FILE fails', files: { 'compose.yaml': marker('default') }, env: { COMPOSE_FILE: '' }, fails: true },
  { name: 'an empty entry in COMPOSE_FILE fails', files: { 'a.yml': marker('a'), 'b.yml': marker('b') }, env: { COMPOSE_FILE: 'a.yml::b.yml' }, fails: true },
  { name: 'no compose file fails', files: { 'compose.override.yaml': marker('override only') }, cwd: 'deep/er', fails: true },
  {
    name: 'COMPOSE_DISABLE_ENV_FILE=true skips the .env',
    files: { '.env': 'X=dot\nCOMPOSE_PROJECT_NAME=fromdotenv\n', 'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      X: ${X:-no-dotenv}\n' },
    env: { COMPOSE_DISABLE_ENV_FILE: 'true' },
  },
  { name: 'an invalid COMPOSE_DISABLE_ENV_FILE fails', files: { 'compose.yaml': marker('default') }, env: { COMPOSE_DISABLE_ENV_FILE: 'yes' }, fails: true },
]

const plain = 'services:\n  s:\n    image: busybox\n'
const NAME_FIXTURES: Fixture[] = [
  { name: 'project name from the shell', files: { 'compose.yaml': 'name: from-yaml\n' + plain, '.env': 'COMPOSE_PROJECT_NAME=from-dotenv\n' }, env: { COMPOSE_PROJECT_NAME: 'from-shell' } },
  {
    name: 'project name from .env beats name:',
    files: { 'compose.yaml': 'name: from-yaml\n' + plain, '.env': 'COMPOSE_PROJECT_NAME=from-dotenv\n' },
    check: (p, root) => assert.is(p.nameSource, `COMPOSE_PROJECT_NAME in ${path.join(root, '.env')}`),
  },
  { name: 'an empty COMPOSE_PROJECT_NAME in the shell hides the .env one', files: { 'compose.yaml': plain, '.env': 'COMPOSE_PROJECT_NAME=from-dotenv\n' }, env: { COMPOSE_PROJECT_NAME: '' } },
  { name: 'an invalid COMPOSE_PROJECT_NAME fails (not normalised)', files: { 'compose.yaml': plain }, env: { COMPOSE_PROJECT_NAME: 'MyApp' }, fails: true },
  { name: 'an invalid COMPOSE_PROJECT_NAME in .env fails', files: { 'compose.yaml': plain, '.env': 'COMPOSE_PROJECT_NAME=my.app\n' }, fails: true },
  { name: 'name: is interpolated and normalised', files: { 'compose.yaml': 'name: My.App ${SUFFIX:-x}\n' + plain }, env: { SUFFIX: 'Y2' } },
  { name: 'the override file name: wins', files: { 'compose.yaml': 'name: main\n' + plain, 'compose.override.yaml': 'name: Override\n' } },
  { name: 'an empty name: in the override keeps the main one', files: { 'compose.yaml': 'name: main\n' + plain, 'compose.override.yaml': 'name: ""\n' } },
  { name: 'a name: that normalises to nothing fails', files: { 'compose.yaml': 'name: "..."\n' + plain }, fails: true },
  { name: 'a name: that interpolates to nothing fails', files: { 'compose.yaml': 'name: ${UNSET_NAME}\n' + plain }, fails: true },
  { name: 'a non-string name: fails', files: { 'compose.yaml': 'name: 123\n' + plain }, fails: true },
  { name: 'directory name with capitals, dots and spaces', files: { 'compose.yaml': plain }, cwd: 'My.App Dir' },
  { name: 'directory name with a leading underscore', files: { 'compose.yaml': plain }, cwd: '_under' },
  { name: 'directory name with non-ASCII letters', files: { 'compose.yaml': plain }, cwd: 'ÄBC-Ünï' },
  { name: 'directory name that normalises to nothing fails', files: { 'compose.yaml': plain }, cwd: '...', fails: true },
]

// Compose is the oracle: without `docker compose` v2 this tier fails (scripts/ensure-docker.sh installs it).
const version = composeVersion()
if (!version) throw new Error('compose-oracle: `docker compose` v2 is required as the oracle; install it with scripts/ensure-docker.sh')
{
  const root = mkdtempSync(path.join(tmpdir(), 'compose-oracle-'))
  let n = 0
  const fixtures = [...ENV_FILE_FIXTURES, ...COMPOSE_FILE_FIXTURES, ...DISCOVERY_FIXTURES, ...NAME_FIXTURES]
  for (const f of fixtures) {
    const base = path.join(root, `case-${++n}`)
    const dir = path.join(base, f.cwd ?? '')
    writeTree(dir, Object.keys(f.files).some((k) => /\.ya?ml$/.test(k)) ? f.files : { ...f.files, 'compose.yaml': defaultCompose(f.files['.env']) })
    mkdirSync(dir, { recursive: true })
    const env = f.env ?? {}
    const answer = composeAnswer(dir, env)
    test(`oracle: ${f.name}`, async () => {
      const theirs = await answer
      const ours = ourAnswer(dir, env)
      if (f.fails) assert.ok(theirs.error, `Compose was expected to fail but answered ${JSON.stringify(theirs)}`)
      if (theirs.error) {
        assert.ok(ours.error, `Compose fails (${theirs.error}) but we answered ${JSON.stringify({ name: ours.name, services: ours.services })}`)
        return
      }
      assert.not.ok(ours.error, `we fail (${ours.error}) but Compose answered ${JSON.stringify(theirs)}`)
      assert.is(ours.name, theirs.name, 'project name')
      assert.equal(Object.keys(ours.services!).sort(), Object.keys(theirs.services!).sort(), 'services')
      for (const [svc, envOfCompose] of Object.entries(theirs.services!)) assert.equal(ours.services![svc], envOfCompose, `environment of ${svc}`)
      f.check?.(ours.project!, base)
    })
  }

  // Seeded random env files: one compose run checks a whole batch (one service per file).
  const FUZZ_CASES = Number(process.env.COMPOSE_ORACLE_FUZZ ?? 240)
  const FUZZ_ENV = { A: 'shell', EMPTY: '', 'DOT.K': 'dotted' }
  const cases = Array.from({ length: FUZZ_CASES }, (_, i) => randomEnvFile(i + 1))
  const BATCH = 40
  const REFUSED_PER_BATCH = 4 // the refused cases are checked one run each: a few per batch bound the run time
  for (let start = 0; start < cases.length; start += BATCH) {
    const dir = path.join(root, `fuzz-${start}`)
    // Cases we expect Compose to refuse are checked one by one; the rest in one run.
    const predicted = cases.slice(start, start + BATCH).map((text, i) => ({ text, i: start + i, fails: predictFailure(text, { ...BASE_ENV, ...FUZZ_ENV }) }))
    const good = predicted.filter((c) => !c.fails)
    const batchAnswer = runFuzz(dir, good.map((c) => c.text), FUZZ_ENV)
    const refused = predicted.filter((c) => c.fails).slice(0, REFUSED_PER_BATCH).map((c) => ({ ...c, answer: runFuzz(`${dir}-${c.i}`, [c.text], FUZZ_ENV) }))
    test(`oracle fuzz: env files ${start + 1}-${start + predicted.length}`, async () => {
      const theirs = await batchAnswer
      if (theirs.error) {
        // Find the culprit to report it.
        for (const c of good) {
          const one = await runFuzz(`${dir}-${c.i}`, [c.text], FUZZ_ENV)
          assert.not.ok(one.error, `fuzz case ${c.i}: Compose fails (${one.error}) where we do not, on ${JSON.stringify(c.text)}`)
        }
        assert.unreachable(`Compose failed on the batch: ${theirs.error}`)
      }
      const ours = ourAnswer(dir, FUZZ_ENV)
      good.forEach((c, k) => assert.equal(ours.services![`f${k}`], theirs.services![`f${k}`], `fuzz case ${c.i}: ${JSON.stringify(c.text)}`))
      for (const c of refused) {
        const one = await c.answer
        assert.ok(one.error, `fuzz case ${c.i}: we fail but Compose answers ${JSON.stringify(one.services)} for ${JSON.stringify(c.text)}`)
      }
    })
  }

  function runFuzz(dir: string, texts: string[], env: Record<string, string>): Promise<Answer> {
    const files: Record<string, string> = { 'compose.yaml': 'services:\n' + texts.map((_, k) => `  f${k}:\n    image: busybox\n    env_file: f${k}.env\n`).join('') }
    texts.forEach((t, k) => (files[`f${k}.env`] = t))
    writeTree(dir, files)
    return composeAnswer(dir, env)
  }

  function predictFailure(text: string, env: Record<string, string>): boolean {
    try {
      parseEnvFile(text, (k) => env[k])
      return false
    } catch {
      return true
    }
  }

  test.after(() => rmSync(root, { recursive: true, force: true }))
}

/** A deterministic random env file built from the tokens Compose treats specially. */
function randomEnvFile(seed: number): string {
  let state = seed * 2654435761
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state % n
  }
  const pick = <T>(xs: T[]): T => xs[rand(xs.length)]
  const KEYS = ['A', 'B', 'X', 'k_1', 'lower', 'DOT.K', 'dash-k', 'E']
  const PIECES = ['abc', 'p@ss', ':', '/', ' ', '  ', '\t', '#', ' #', ' # c', '%', '=', '$', '$$', '$A', '${A}', '${B}', '${X:-d}', '${A:+alt}', '${EMPTY-d}', '${EMPTY:-d}', '${U?}', '{', '}', '\\', '\\n', '\\"', "\\'", '\\$', '\\t', 'é', '🎉', '"', "'"]
  const lines: string[] = []
  const count = 1 + rand(6)
  for (let l = 0; l < count; l++) {
    const kind = rand(20)
    if (kind === 0) {
      lines.push(pick(['# comment', '   # indented', '', '  ']))
      continue
    }
    if (kind === 1) {
      lines.push(pick(KEYS)) // bare key
      continue
    }
    let value = ''
    const pieces = rand(5)
    for (let p = 0; p < pieces; p++) value += pick(PIECES)
    const quoting = rand(4)
    if (quoting === 1) value = `"${value.replaceAll('"', '\\"')}${rand(3) === 0 ? '\n' + pick(PIECES) : ''}"`
    else if (quoting === 2) value = `'${value.replaceAll("'", '')}'`
    else value = value.replaceAll('"', '').replaceAll("'", '')
    if (rand(6) === 0) value += pick([' # trailing', '  ', '\t', ' #x'])
    const prefix = pick(['', '', '', 'export ', '  '])
    const sep = pick(['=', '=', '=', ' = ', '= ', ': '])
    lines.push(`${prefix}${pick(KEYS)}${sep}${value}`)
  }
  return lines.join(rand(5) === 0 ? '\r\n' : '\n') + (rand(4) === 0 ? '' : '\n')
}

test.run()
