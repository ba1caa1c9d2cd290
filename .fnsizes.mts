// Lists functions (declarations, methods, arrows assigned to names) with their line counts.
import ts from 'typescript'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
const root = process.argv[2]
const min = Number(process.argv[3] ?? 40)
const files: string[] = []
const walk = (d: string) => { for (const f of readdirSync(d)) { const p = path.join(d, f); if (statSync(p).isDirectory()) walk(p); else if (/\.(ts|mts)$/.test(p)) files.push(p) } }
for (const r of root.split(',')) statSync(r).isDirectory() ? walk(r) : files.push(r)
const rows: [number, string][] = []
for (const f of files) {
  const src = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true)
  const visit = (n: ts.Node) => {
    let name: string | undefined
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) name = n.name?.getText()
    else if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isVariableDeclaration(n.parent)) name = n.parent.name.getText()
    else if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isPropertyAssignment(n.parent)) name = n.parent.name.getText()
    else if (ts.isConstructorDeclaration(n)) name = 'constructor'
    if (name) {
      const a = src.getLineAndCharacterOfPosition(n.getStart()).line
      const b = src.getLineAndCharacterOfPosition(n.getEnd()).line
      if (b - a + 1 >= min) rows.push([b - a + 1, `${f}:${a + 1} ${name}`])
    }
    ts.forEachChild(n, visit)
  }
  visit(src)
}
rows.sort((x, y) => y[0] - x[0])
for (const [n, w] of rows) console.log(`${n}\t${w}`)
