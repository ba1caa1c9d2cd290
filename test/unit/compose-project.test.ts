// Unit tests of lib/compose-project.ts on fixtures in a temp dir (no Docker): file discovery, project name, .env handling and service environments as Compose v2 computes them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { loadComposeProject, normalizeProjectName } from '../../lib/config/compose-project.ts'

const ROOT = mkdtempSync(path.join(tmpdir(), 'compose-project-'))
let counter = 0

/** Writes a fixture (paths relative to a fresh directory, or to `sub` of it) and returns that directory. */
function fixture(files: Record<string, string>, sub = ''): string {
  const base = path.join(ROOT, `f${++counter}`)
  const dir = path.join(base, sub)
  mkdirSync(dir, { recursive: true })
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, content)
  }
  return dir
}

const svc = (env: Record<string, string> = {}) =>
  `services:\n  s:\n    image: busybox\n${Object.keys(env).length ? `    environment:\n${Object.entries(env).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}\n`).join('')}` : ''}`

function throwsMatching(fn: () => unknown, ...patterns: RegExp[]) {
  try {
    fn()
  } catch (e) {
    for (const p of patterns) assert.match((e as Error).message, p)
    return
  }
  assert.unreachable(`expected an error matching ${patterns.join(', ')}`)
}

// ---------------------------------------------------------------------------------------------

const NORMALIZE: [string, string][] = [
  ['myapp', 'myapp'],
  ['MyApp', 'myapp'],
  ['My.App Dir', 'myappdir'],
  ['_under', 'under'],
  ['-_-x', 'x'],
  ['a_b-C', 'a_b-c'],
  ['ÄBC-Ünï', 'bc-n'],
  ['...', ''],
  ['fastapi-k8-proto', 'fastapi-k8-proto'],
]
for (const [input, expected] of NORMALIZE) {
  test(`normalizeProjectName(${JSON.stringify(input)}) = ${JSON.stringify(expected)}`, () => {
    assert.is(normalizeProjectName(input), expected)
  })
}

// ---------------------------------------------------------------------------------------------
// File discovery

const DISCOVERY: [name: string, files: string[], expected: string[]][] = [
  ['compose.yaml alone', ['compose.yaml'], ['compose.yaml']],
  ['compose.yaml with its override', ['compose.yaml', 'compose.override.yaml'], ['compose.yaml', 'compose.override.yaml']],
  [
    'every name: compose.yaml and compose.override.yml win',
    ['docker-compose.yaml', 'docker-compose.yml', 'compose.yml', 'compose.yaml', 'docker-compose.override.yaml', 'docker-compose.override.yml', 'compose.override.yaml', 'compose.override.yml'],
    ['compose.yaml', 'compose.override.yml'],
  ],
  ['compose.yml beats docker-compose.*', ['compose.yml', 'docker-compose.yml'], ['compose.yml']],
  ['docker-compose.yml beats docker-compose.yaml', ['docker-compose.yaml', 'docker-compose.yml'], ['docker-compose.yml']],
  ['the override need not match the main name', ['compose.yaml', 'docker-compose.override.yml'], ['compose.yaml', 'docker-compose.override.yml']],
  ['compose.override.yaml beats docker-compose.override.yml', ['docker-compose.yml', 'docker-compose.override.yml', 'compose.override.yaml'], ['docker-compose.yml', 'compose.override.yaml']],
]
for (const [name, names, expected] of DISCOVERY) {
  test(`discovery: ${name}`, () => {
    const dir = fixture(Object.fromEntries(names.map((n) => [n, svc()])))
    const p = loadComposeProject(dir, {})
    assert.equal(p.files, expected.map((n) => path.join(dir, n)))
    assert.is(p.filesSource, 'default names')
    assert.is(p.dir, dir)
  })
}

const COMPOSE_FILE: [name: string, files: Record<string, string>, env: Record<string, string>, expected: string[], source: string][] = [
  ['from the shell, split on :', { 'a.yml': svc(), 'b.yml': svc(), 'compose.yaml': svc() }, { COMPOSE_FILE: 'a.yml:b.yml' }, ['a.yml', 'b.yml'], 'COMPOSE_FILE in the environment'],
  ['with a custom separator', { 'a.yml': svc(), 'b.yml': svc() }, { COMPOSE_FILE: 'b.yml;./a.yml', COMPOSE_PATH_SEPARATOR: ';' }, ['b.yml', 'a.yml'], 'COMPOSE_FILE in the environment'],
  ['an empty separator means :', { 'a.yml': svc(), 'b.yml': svc() }, { COMPOSE_FILE: 'a.yml:b.yml', COMPOSE_PATH_SEPARATOR: '' }, ['a.yml', 'b.yml'], 'COMPOSE_FILE in the environment'],
  ['from .env (the override is then ignored)', { '.env': 'COMPOSE_FILE=b.yml:a.yml\n', 'a.yml': svc(), 'b.yml': svc(), 'compose.override.yaml': svc() }, {}, ['b.yml', 'a.yml'], 'COMPOSE_FILE in <dir>/.env'],
  ['COMPOSE_FILE and its separator from .env', { '.env': 'COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=a.yml,b.yml\n', 'a.yml': svc(), 'b.yml': svc() }, {}, ['a.yml', 'b.yml'], 'COMPOSE_FILE in <dir>/.env'],
  ['the .env separator with the .env COMPOSE_FILE, even if the shell has one', { '.env': 'COMPOSE_FILE=a.yml,b.yml\n', 'a.yml': svc(), 'b.yml': svc() }, { COMPOSE_PATH_SEPARATOR: ',' }, ['a.yml', 'b.yml'], 'COMPOSE_FILE in <dir>/.env'],
  ['the shell beats .env', { '.env': 'COMPOSE_FILE=a.yml\n', 'a.yml': svc(), 'b.yml': svc() }, { COMPOSE_FILE: 'b.yml' }, ['b.yml'], 'COMPOSE_FILE in the environment'],
]
for (const [name, files, env, expected, source] of COMPOSE_FILE) {
  test(`COMPOSE_FILE: ${name}`, () => {
    const dir = fixture(files)
    const p = loadComposeProject(dir, env)
    assert.equal(p.files, expected.map((n) => path.join(dir, n)))
    assert.is(p.filesSource, source.replace('<dir>', dir))
  })
}

test('COMPOSE_FILE into a subdirectory from the shell: the project is there and only its .env is read', () => {
  const dir = fixture({ '.env': 'X=root\nR=root\n', 'sub/.env': 'X=sub\n', 'sub/x.yml': 'services:\n  s:\n    image: busybox\n    environment:\n      X: ${X}\n      R: ${R:-unset}\n' })
  const p = loadComposeProject(dir, { COMPOSE_FILE: 'sub/x.yml' })
  assert.is(p.dir, path.join(dir, 'sub'))
  assert.is(p.name, 'sub')
  assert.equal(p.dotenvFiles, [path.join(dir, 'sub/.env')])
  assert.equal(p.environment('s'), { X: 'sub', R: 'unset' })
})

test('COMPOSE_FILE into a subdirectory from .env: both .env files are read, the first one wins', () => {
  const dir = fixture({
    '.env': 'COMPOSE_FILE=sub/x.yml\nX=root\n',
    'sub/.env': 'X=sub\nS=sub\nCOMPOSE_PROJECT_NAME=subname\n',
    'sub/x.yml': 'services:\n  s:\n    image: busybox\n    environment:\n      X: ${X}\n      S: ${S:-unset}\n',
  })
  const p = loadComposeProject(dir, {})
  assert.equal(p.dotenvFiles, [path.join(dir, '.env'), path.join(dir, 'sub/.env')])
  assert.equal(p.dotenv, { COMPOSE_FILE: 'sub/x.yml', X: 'root', S: 'sub', COMPOSE_PROJECT_NAME: 'subname' })
  assert.equal(p.environment('s'), { X: 'root', S: 'sub' })
  assert.is(p.name, 'subname')
  assert.is(p.nameSource, `COMPOSE_PROJECT_NAME in ${path.join(dir, 'sub/.env')}`)
})

const DISCOVERY_ERRORS: [name: string, files: Record<string, string>, env: Record<string, string>, patterns: RegExp[]][] = [
  ['no compose file', { 'compose.override.yaml': svc() }, {}, [/no compose file in /, /compose\.yaml, compose\.yml, docker-compose\.yml, docker-compose\.yaml/, /set COMPOSE_FILE/]],
  ['a missing file in COMPOSE_FILE', { 'a.yml': svc() }, { COMPOSE_FILE: 'a.yml:missing.yml' }, [/COMPOSE_FILE in the environment names .*missing\.yml, which does not exist/, /fix COMPOSE_FILE/]],
  ['a missing file in the .env COMPOSE_FILE', { '.env': 'COMPOSE_FILE=nope.yml\n' }, {}, [/COMPOSE_FILE in .*\.env names .*nope\.yml, which does not exist/]],
  ['an empty COMPOSE_FILE', { 'compose.yaml': svc() }, { COMPOSE_FILE: '' }, [/COMPOSE_FILE in the environment has an empty entry/, /unset COMPOSE_FILE/]],
  ['an empty entry', { 'a.yml': svc() }, { COMPOSE_FILE: 'a.yml::a.yml' }, [/empty entry/]],
  ['a directory in COMPOSE_FILE', { 'd/x': '' }, { COMPOSE_FILE: 'd' }, [/which is a directory/]],
  ["a separator only the .env has, for the shell's COMPOSE_FILE", { '.env': 'COMPOSE_PATH_SEPARATOR=;\n', 'a.yml': svc(), 'b.yml': svc() }, { COMPOSE_FILE: 'a.yml;b.yml' }, [/a\.yml;b\.yml, which does not exist/]],
  ['an invalid COMPOSE_DISABLE_ENV_FILE', { 'compose.yaml': svc() }, { COMPOSE_DISABLE_ENV_FILE: 'yes' }, [/COMPOSE_DISABLE_ENV_FILE="yes" .* is not a boolean/]],
]
for (const [name, files, env, patterns] of DISCOVERY_ERRORS) {
  test(`discovery fails: ${name}`, () => {
    const dir = fixture(files)
    throwsMatching(() => loadComposeProject(dir, env), ...patterns)
  })
}

// ---------------------------------------------------------------------------------------------
// Project name

const NAMES: [name: string, files: Record<string, string>, env: Record<string, string>, expected: string, source: string, sub?: string][] = [
  ['from the shell', { 'compose.yaml': 'name: yaml\n' + svc(), '.env': 'COMPOSE_PROJECT_NAME=dotenv\n' }, { COMPOSE_PROJECT_NAME: 'shell' }, 'shell', 'COMPOSE_PROJECT_NAME in the environment'],
  ['from .env, over name:', { 'compose.yaml': 'name: yaml\n' + svc(), '.env': 'COMPOSE_PROJECT_NAME=dotenv\n' }, {}, 'dotenv', 'COMPOSE_PROJECT_NAME in <dir>/.env'],
  ['an empty shell value hides the .env one', { 'compose.yaml': svc(), '.env': 'COMPOSE_PROJECT_NAME=dotenv\n' }, { COMPOSE_PROJECT_NAME: '' }, 'app', 'the directory name <dir>', 'app'],
  ['name: interpolated and normalised', { 'compose.yaml': 'name: My.App ${SUFFIX:-x}\n' + svc() }, { SUFFIX: 'Y2' }, 'myappy2', 'name: in <dir>/compose.yaml'],
  ['name: interpolated from .env', { 'compose.yaml': 'name: ${N}\n' + svc(), '.env': 'N=from-dot\n' }, {}, 'from-dot', 'name: in <dir>/compose.yaml'],
  ['the last file with a name: wins', { 'compose.yaml': 'name: main\n' + svc(), 'compose.override.yaml': 'name: Override\n' }, {}, 'override', 'name: in <dir>/compose.override.yaml'],
  ['an empty name: keeps the earlier one', { 'compose.yaml': 'name: main\n' + svc(), 'compose.override.yaml': 'name: ""\n' }, {}, 'main', 'name: in <dir>/compose.yaml'],
  ['$$ in name:', { 'compose.yaml': 'name: "$$x"\n' + svc() }, {}, 'x', 'name: in <dir>/compose.yaml'],
  ['the directory name', { 'compose.yaml': svc() }, {}, 'myappdir', 'the directory name <dir>', 'My.App Dir'],
  ['an empty name: falls back to the directory', { 'compose.yaml': 'name: ""\n' + svc() }, {}, 'under', 'the directory name <dir>', '_under'],
]
for (const [name, files, env, expected, source, sub] of NAMES) {
  test(`project name: ${name}`, () => {
    const dir = fixture(files, sub)
    const p = loadComposeProject(dir, env)
    assert.is(p.name, expected)
    assert.is(p.nameSource, source.replace('<dir>', dir))
  })
}

const NAME_ERRORS: [name: string, files: Record<string, string>, env: Record<string, string>, patterns: RegExp[], sub?: string][] = [
  ['invalid COMPOSE_PROJECT_NAME in the shell', { 'compose.yaml': svc() }, { COMPOSE_PROJECT_NAME: 'MyApp' }, [/invalid project name "MyApp" \(COMPOSE_PROJECT_NAME in the environment\)/, /e\.g\. "myapp"/]],
  ['invalid COMPOSE_PROJECT_NAME in .env', { 'compose.yaml': svc(), '.env': 'COMPOSE_PROJECT_NAME=my.app\n' }, {}, [/invalid project name "my\.app" \(COMPOSE_PROJECT_NAME in .*\.env\)/]],
  ['a name: that normalises to nothing', { 'compose.yaml': 'name: "..."\n' + svc() }, {}, [/compose\.yaml: name: "\.\.\." leaves an empty project name/]],
  ['a name: that interpolates to nothing', { 'compose.yaml': 'name: ${UNSET}\n' + svc() }, {}, [/leaves an empty project name/]],
  ['a non-string name:', { 'compose.yaml': 'name: 123\n' + svc() }, {}, [/compose\.yaml: name must be a string/]],
  ['a directory name that normalises to nothing', { 'compose.yaml': svc() }, {}, [/leaves an empty project name; set COMPOSE_PROJECT_NAME/], '...'],
]
for (const [name, files, env, patterns, sub] of NAME_ERRORS) {
  test(`project name fails: ${name}`, () => {
    const dir = fixture(files, sub)
    throwsMatching(() => loadComposeProject(dir, env), ...patterns)
  })
}

// ---------------------------------------------------------------------------------------------
// .env and service environments

test('the project .env: parsed with the shell as lookup, exposed as dotenv', () => {
  const dir = fixture({ '.env': 'A=1\nB=${A}x\nPW=p@ss:w/rd#1%\n', 'compose.yaml': svc({ X: '${B}', Y: '${A}' }) })
  const p = loadComposeProject(dir, { A: 'shell' })
  assert.equal(p.dotenv, { A: '1', B: 'shellx', PW: 'p@ss:w/rd#1%' })
  assert.equal(p.dotenvFiles, [path.join(dir, '.env')])
  assert.equal(p.environment('s'), { X: 'shellx', Y: 'shell' })
})

test('no .env: dotenv is empty', () => {
  const p = loadComposeProject(fixture({ 'compose.yaml': svc() }), {})
  assert.equal(p.dotenv, {})
  assert.equal(p.dotenvFiles, [])
})

test('COMPOSE_DISABLE_ENV_FILE=true skips the .env', () => {
  const dir = fixture({ '.env': 'X=dot\n', 'compose.yaml': svc({ X: '${X:-none}' }) })
  const p = loadComposeProject(dir, { COMPOSE_DISABLE_ENV_FILE: 'true' })
  assert.equal(p.dotenv, {})
  assert.equal(p.environment('s'), { X: 'none' })
})

test('undefined shell variables count as unset', () => {
  const dir = fixture({ '.env': 'X=dot\n', 'compose.yaml': svc({ X: '${X}' }) })
  assert.equal(loadComposeProject(dir, { X: undefined }).environment('s'), { X: 'dot' })
})

const ENVIRONMENTS: [name: string, files: Record<string, string>, env: Record<string, string>, expected: Record<string, Record<string, string>>][] = [
  [
    'env_file then environment:, map and list forms',
    {
      '.env': 'PW=p@ss:w/rd#1%\nFROM_DOT=dot\n',
      'compose.yaml':
        'services:\n  s:\n    image: busybox\n    env_file: .env\n    environment:\n      X: ${FROM_DOT}\n      PW: override\n  t:\n    image: busybox\n    environment:\n      - X=${FROM_DOT}-${SHELL_ONLY}\n      - FROM_DOT\n      - NOWHERE\n      - EMPTY=\n      - DUP=1\n      - DUP=2\n',
    },
    { SHELL_ONLY: 'sh' },
    { s: { PW: 'override', FROM_DOT: 'dot', X: 'dot' }, t: { X: 'dot-sh', FROM_DOT: 'dot', EMPTY: '', DUP: '2' } },
  ],
  [
    'a bare KEY in environment: removes an env_file value the project environment lacks',
    { 'v.env': 'FOO=file\nBAR=file\n', '.env': 'BAR=dot\n', 'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: v.env\n    environment: [FOO, BAR]\n' },
    {},
    { s: { BAR: 'dot' } },
  ],
  [
    'env_file lookups: earlier env_files, then the project environment, then the same file',
    {
      'a.env': 'K=from-a\nK2=\n',
      'b.env': 'L=${K}\nL2=${K2:-empty}\nL3=${K2-unset}\nSAME=b\nM=${SAME}\nK\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env, {path: missing.env, required: false}]\n',
    },
    { K: 'shell', SAME: 'shell' },
    { s: { K: 'from-a', K2: '', L: 'from-a', L2: 'empty', L3: '', SAME: 'b', M: 'shell' } },
  ],
  [
    'YAML values typed as go-yaml does',
    {
      'compose.yaml':
        'services:\n  s:\n    image: busybox\n    environment:\n      OCT: 010\n      OCT2: 0o17\n      HEX: 0x1F\n      BIN: 0b101\n      FLT: 1.50\n      E6: 1e6\n      E5: 100000.0\n      SMALL: 1e-5\n      TENK: 0.0001\n      BIG: 18446744073709551616\n      U64: 9223372036854775808\n      NEG: -9223372036854775809\n      NEG0: -0.0\n      DOT: .5\n      EIGHT: 08\n      UNDER: 1_000\n      T: true\n      F: False\n      YES: yes\n      ON: On\n      NUL: null\n      TILDE: ~\n      EMPTY:\n      QUOTED: "010"\n      STR: !!str 010\n      INT: !!int "12"\n      DATE: 2001-12-14\n      STAMP: 2001-12-14T21:59:43.10-05:00\n      UTC: 2001-12-14 21:59:43.5\n      SEXA: 1:20\n      NOTNUM: 0b2\n',
    },
    { NUL: 'from-shell' },
    {
      s: {
        OCT: '8', OCT2: '15', HEX: '31', BIN: '5', FLT: '1.5', E6: '1e+06', E5: '100000', SMALL: '1e-05', TENK: '0.0001',
        BIG: '1.8446744073709552e+19', U64: '9223372036854775808', NEG: '-9.223372036854776e+18', NEG0: '-0', DOT: '0.5', EIGHT: '8', UNDER: '1000',
        T: 'true', F: 'false', YES: 'yes', ON: 'On', NUL: 'from-shell', QUOTED: '010', STR: '010', INT: '12',
        DATE: '2001-12-14 00:00:00 +0000 UTC', STAMP: '2001-12-14 21:59:43.1 -0500 -0500', UTC: '2001-12-14 21:59:43.5 +0000 UTC', SEXA: '1:20', NOTNUM: '0b2',
      },
    },
  ],
  [
    'merge keys, anchors and several documents',
    {
      'compose.yaml': 'x-common: &common\n  C: "3"\n  D: "4"\nservices:\n  s:\n    image: busybox\n    environment:\n      <<: *common\n      A: "1"\n      C: override\n---\nservices:\n  s:\n    environment:\n      - B=2\n',
    },
    {},
    { s: { A: '1', B: '2', C: 'override', D: '4' } },
  ],
  [
    'environment and env_file across files: sequences, a repeated env_file keeps its first place',
    {
      'a.env': 'A=a\nX=xa\n',
      'b.env': 'A=b\nY=${X}\n',
      'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env]\n    environment:\n      FOO: x\n      BAR: y\n      NUM: 010\n',
      'compose.override.yaml': 'services:\n  s:\n    env_file: [b.env, a.env]\n    environment:\n      - FOO\n      - BAR=\n  t:\n    image: busybox\n',
    },
    {},
    { s: { A: 'b', X: 'xa', Y: 'xa', BAR: '', NUM: '8' }, t: {} },
  ],
  [
    'env_file paths spelled differently are different entries',
    { 'a.env': 'A=a\n', 'b.env': 'A=b\n', 'compose.yaml': 'services:\n  s:\n    image: busybox\n    env_file: [a.env, b.env]\n', 'compose.override.yaml': 'services:\n  s:\n    env_file: [./a.env]\n' },
    {},
    { s: { A: 'a' } },
  ],
  [
    'env_file paths are relative to the project directory, whichever file names them',
    { 'a.yml': svc(), 'sub/x.yml': 'services:\n  s:\n    env_file: e.env\n', 'e.env': 'E=root\n', 'sub/e.env': 'E=sub\n' },
    { COMPOSE_FILE: 'a.yml:sub/x.yml' },
    { s: { E: 'root' } },
  ],
  [
    '$$ and ${...} in compose values',
    { 'compose.yaml': 'services:\n  s:\n    image: busybox\n    environment:\n      A: "$$literal ${U:-dflt} ${V:+alt}"\n      B: \'${V}\'\n' },
    { V: 'v' },
    { s: { A: '$literal dflt alt', B: 'v' } },
  ],
]
for (const [name, files, env, expected] of ENVIRONMENTS) {
  test(`environment: ${name}`, () => {
    const p = loadComposeProject(fixture(files), env)
    assert.equal(p.services.sort(), Object.keys(expected).sort())
    for (const [service, vars] of Object.entries(expected)) assert.equal(p.environment(service), vars, service)
  })
}

const PROFILES: [name: string, env: Record<string, string>, dotenv: string, expected: string[]][] = [
  ['no COMPOSE_PROFILES: services without profiles', {}, '', ['s']],
  ['from the shell', { COMPOSE_PROFILES: 'debug' }, '', ['s', 'dbg']],
  ['from .env, interpolated profiles', { P: 'y' }, 'COMPOSE_PROFILES=y\n', ['s', 't']],
  ['a list with spaces; profiles merge across files', { COMPOSE_PROFILES: 'x, tools' }, '', ['s', 't', 'u']],
  ['* activates all', { COMPOSE_PROFILES: '*' }, '', ['s', 'dbg', 't', 'u']],
]
for (const [name, env, dotenv, expected] of PROFILES) {
  test(`services and profiles: ${name}`, () => {
    const dir = fixture({
      ...(dotenv ? { '.env': dotenv } : {}),
      'compose.yaml': 'services:\n  s:\n    image: busybox\n  dbg:\n    image: busybox\n    profiles: [debug]\n  t:\n    image: busybox\n    profiles: ["${P:-x}", tools]\n  u:\n    image: busybox\n    profiles: [other]\n    environment: [U=1]\n',
      'compose.override.yaml': 'services:\n  u:\n    profiles: [tools]\n',
    })
    const p = loadComposeProject(dir, env)
    assert.equal(p.services, expected)
    assert.equal(p.environment('u'), { U: '1' }) // inactive services still answer
  })
}

const ERRORS: [name: string, files: Record<string, string>, run: (dir: string) => unknown, patterns: RegExp[]][] = [
  ['a bad .env line names the file and line', { '.env': 'A=1\n\nBAD KEY=1\n', 'compose.yaml': svc() }, (d) => loadComposeProject(d, {}), [/\/\.env: line 3: key cannot contain a space; fix that line/]],
  ['a .env line without a name', { '.env': 'A=1\n=value\n', 'compose.yaml': svc() }, (d) => loadComposeProject(d, {}), [/\.env: line 2: no variable name/]],
  ['unparsable YAML names the file', { 'compose.yaml': 'services:\n  s:\n    environment:\n      - A=1\n     bad: [\n' }, (d) => loadComposeProject(d, {}), [/compose\.yaml is not valid YAML; fix the file: All mapping items must start at the same column at line 5/]],
  ['a duplicate YAML key', { 'compose.yaml': 'services:\n  s:\n    environment:\n      A: "1"\n      A: "2"\n' }, (d) => loadComposeProject(d, {}), [/compose\.yaml is not valid YAML; fix the file: .*unique/i]],
  ['.inf is refused', { 'compose.yaml': 'services:\n  s:\n    environment:\n      A: .inf\n' }, (d) => loadComposeProject(d, {}), [/compose\.yaml is not valid YAML; fix the file: .*\.inf is not a value Compose accepts; quote it/]],
  ['an interpolation error names file and path', { 'compose.yaml': 'services:\n  s:\n    command: echo ${NEED:?set NEED}\n' }, (d) => loadComposeProject(d, {}), [/compose\.yaml: error while interpolating services\.s\.command: required variable NEED is missing a value: set NEED/]],
  ['services must be a mapping', { 'compose.yaml': 'services:\n' }, (d) => loadComposeProject(d, {}), [/compose\.yaml: services must be a mapping/]],
  ['include: is not modelled', { 'compose.yaml': 'include:\n  - other.yaml\n' + svc() }, (d) => loadComposeProject(d, {}), [/compose\.yaml uses include:/]],
  ['extends: is not modelled', { 'compose.yaml': 'services:\n  base:\n    image: busybox\n  s:\n    extends: base\n' }, (d) => loadComposeProject(d, {}).environment('s'), [/service s uses extends: \(in .*compose\.yaml\)/]],
  ['an unknown service', { 'compose.yaml': svc() }, (d) => loadComposeProject(d, {}).environment('nope'), [/service "nope" is not defined in .*compose\.yaml \(services: s\)/]],
  ['a missing env_file', { 'compose.yaml': 'services:\n  s:\n    env_file: nope.env\n' }, (d) => loadComposeProject(d, {}).environment('s'), [/service s: env file .*nope\.env not found/, /required: false/]],
  ['a bad env_file line', { 'v.env': 'OK=1\nX="open\n', 'compose.yaml': 'services:\n  s:\n    env_file: v.env\n' }, (d) => loadComposeProject(d, {}).environment('s'), [/v\.env: line 2: unterminated quoted value/, /env_file of service s/]],
  ['a required variable in an env_file', { 'v.env': 'X=${NEED:?}\n', 'compose.yaml': 'services:\n  s:\n    env_file: v.env\n' }, (d) => loadComposeProject(d, {}).environment('s'), [/v\.env: line 1: required variable NEED is missing a value/]],
]
for (const [name, files, run, patterns] of ERRORS) {
  test(`fails: ${name}`, () => {
    const dir = fixture(files)
    throwsMatching(() => run(dir), ...patterns)
  })
}

test.after(() => rmSync(ROOT, { recursive: true, force: true }))

test.run()
