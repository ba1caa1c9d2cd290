// The house rules that keep the code readable, checked: a function in lib/ fits a screen (60 lines)
// unless a comment above it says why not; every fact the registry holds is read from it (the
// Makefile's phase list, the README's exit codes and phase table).
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { SUITE_ROOT } from '../../lib/config/config.ts'
import { PHASES, STEPS } from '../../lib/run/registry.ts'
import { EXIT } from '../../lib/util/exits.ts'

const MAX_LINES = 60
/** Written in the comment above a longer function, with the reason. */
const WHY = /\bLong:/

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
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

test('the measure sees long functions and the reasons given for them', () => {
  const tmp = path.join(SUITE_ROOT, 'test', 'fixtures', 'house-sample.ts')
  const fns = functionsOf(tmp)
  assert.equal(fns.map((f) => [f.name, f.lines, WHY.test(f.comment)]), [['short', 3, false], ['long', 63, true], ['arrow', 3, false]])
})

test("the Makefile's phase targets are the registry's phases, in order", () => {
  const makefile = readFileSync(path.join(SUITE_ROOT, 'Makefile'), 'utf8')
  const listed = /^PHASES := (.*)$/m.exec(makefile)![1].trim().split(/\s+/)
  assert.equal(listed, PHASES.map((p) => p.name))
  for (const step of STEPS.filter((s) => s.number === 0)) assert.ok(new RegExp(`^${step.name}:`, 'm').test(makefile) || step.name === 'check-circuit' || step.name === 'check-consistency', `make ${step.name}`)
})

test("the README's tables hold every exit code and every phase the registry has", () => {
  const readme = readFileSync(path.join(SUITE_ROOT, 'README.md'), 'utf8')
  for (const code of Object.values(EXIT)) assert.match(readme, new RegExp(`^\\| ${code} \\|`, 'm'), `exit code ${code} in the README`)
  for (const p of PHASES) assert.match(readme, new RegExp(`^\\| ${p.number} \\| ${p.name} \\| \`scripts/${p.name}.mts\` \\|`, 'm'), `phase ${p.name} in the README`)
})

test.run()
