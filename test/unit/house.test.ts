// The house rules that keep the code readable, checked: a function in lib/ fits a screen (60 lines)
// unless a comment above it says why not; every fact the registry holds is read from it (the
// Makefile's phase list, the README's exit codes and phase table).
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { PHASES, STEPS } from '../../lib/run/registry.ts'
import { EXIT } from '../../lib/util/exits.ts'

const MAX_LINES = 60
/** Written in the comment above a longer function, with the reason. */
const WHY = /\bLong:/

function files(dir: string, ending = /\.ts$/): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f)
    return statSync(p).isDirectory() ? files(p, ending) : ending.test(p) ? [p] : []
  })
}

/** Every function, method and named arrow of a file with its length in lines and the comment above it. */
export function functionsOf(file: string): { name: string; line: number; lines: number; comment: string }[] {
  const text = readFileSync(file, 'utf8')
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: { name: string; line: number; lines: number; comment: string }[] = []
  const visit = (n: ts.Node) => {
    let name: string | undefined
    let holder: ts.Node = n
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) name = n.name.getText()
    else if (ts.isConstructorDeclaration(n)) name = 'constructor'
    else if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && (ts.isVariableDeclaration(n.parent) || ts.isPropertyAssignment(n.parent))) {
      name = n.parent.name.getText()
      holder = ts.isVariableDeclaration(n.parent) ? n.parent.parent.parent : n.parent
    }
    if (name) {
      const start = src.getLineAndCharacterOfPosition(n.getStart()).line
      const end = src.getLineAndCharacterOfPosition(n.getEnd()).line
      const comment = (ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? []).map((r) => text.slice(r.pos, r.end)).join('\n')
      found.push({ name, line: start + 1, lines: end - start + 1, comment })
    }
    ts.forEachChild(n, visit)
  }
  visit(src)
  return found
}

test(`no function in lib/ is longer than ${MAX_LINES} lines unless the comment above it says why ("Long: ...")`, () => {
  const long = files(path.join(SUITE_ROOT, 'lib'))
    .flatMap((f) => functionsOf(f).map((fn) => ({ ...fn, file: path.relative(SUITE_ROOT, f) })))
    .filter((fn) => fn.lines > MAX_LINES && !WHY.test(fn.comment))
    .map((fn) => `${fn.file}:${fn.line} ${fn.name} (${fn.lines} lines)`)
  assert.equal(long, [])
})

const MAX_WIDTH = 120
const code = () => [...files(path.join(SUITE_ROOT, 'lib')), ...files(path.join(SUITE_ROOT, 'scripts'), /\.m?ts$/)]

test(`no line in lib/ or scripts/ is wider than ${MAX_WIDTH} characters`, () => {
  const wide = code().flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((line, i) => (line.length > MAX_WIDTH ? [`${path.relative(SUITE_ROOT, f)}:${i + 1} (${line.length})`] : [])),
  )
  assert.equal(wide, [])
})

test("a restart mode's name is compared in lib/modes/index.ts alone: everything else asks the mode", () => {
  const compared = /(===|!==)\s*'(in-place|restart|recreate|rebuild)'|'(in-place|restart|recreate|rebuild)'\s*(===|!==)|\.restart\.mode\s*(===|!==)/
  const found = code()
    .filter((f) => !f.endsWith(path.join('lib', 'modes', 'index.ts')))
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
    .filter(([, , line]) => compared.test(line))
    .map(([f, n, line]) => `${path.relative(SUITE_ROOT, f)}:${n}: ${line.trim()}`)
  assert.equal(found, [])
  assert.match(readFileSync(path.join(SUITE_ROOT, 'lib', 'modes', 'index.ts'), 'utf8'), /'in-place': \(\) => new InPlace\(\)/)
})

test('no type or interface name is declared twice in lib/ and scripts/: one name, one thing', () => {
  const seen = new Map<string, string[]>()
  for (const f of code()) {
    const src = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true)
    const visit = (n: ts.Node) => {
      if (ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) seen.set(n.name.text, [...(seen.get(n.name.text) ?? []), path.relative(SUITE_ROOT, f)])
      ts.forEachChild(n, visit)
    }
    visit(src)
  }
  assert.equal([...seen].filter(([, where]) => where.length > 1).map(([name, where]) => `${name}: ${where.join(', ')}`), [])
})

test('the measure sees long functions and the reasons given for them', () => {
  const tmp = path.join(SUITE_ROOT, 'test', 'fixtures', 'house-sample.ts')
  const fns = functionsOf(tmp)
  assert.equal(fns.map((f) => [f.name, f.lines, WHY.test(f.comment)]), [['short', 3, false], ['long', 63, true], ['arrow', 3, false]])
})

test("the Makefile takes the phases from the suite (no list of its own), and the suite lists the registry's, in order", () => {
  const makefile = readFileSync(path.join(SUITE_ROOT, 'Makefile'), 'utf8')
  assert.not.match(makefile, /^PHASES\s*:?=.*\bassess\b/m, 'no phase list written in the Makefile')
  assert.match(makefile, /scripts\/reset_and_run\.mts --list-phases/)
  const listed = execFileSync('node', ['--import', 'tsx', 'scripts/reset_and_run.mts', '--list-phases'], { cwd: SUITE_ROOT }).toString().trim().split('\n')
  assert.equal(listed, PHASES.map((p) => p.name))
  for (const step of STEPS.filter((s) => s.number === 0)) assert.ok(new RegExp(`^${step.name}:`, 'm').test(makefile) || step.name === 'check-circuit' || step.name === 'check-consistency', `make ${step.name}`)
})

test("the README's tables hold every exit code and every phase the registry has", () => {
  const readme = readFileSync(path.join(SUITE_ROOT, 'README.md'), 'utf8')
  for (const code of Object.values(EXIT)) assert.match(readme, new RegExp(`^\\| ${code} \\|`, 'm'), `exit code ${code} in the README`)
  for (const p of PHASES) assert.match(readme, new RegExp(`^\\| ${p.number} \\| ${p.name} \\| \`scripts/${p.name}.mts\` \\|`, 'm'), `phase ${p.name} in the README`)
})

test.run()
