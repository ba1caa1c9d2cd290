// lib/ has no import circle, type imports included; its folders are layers, each importing only from those below it; no phase script imports a target.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { SUITE_ROOT } from '../../lib/config/config.ts'

function files(dir: string, ending: RegExp): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f)
    return statSync(p).isDirectory() ? files(p, ending) : ending.test(p) ? [p] : []
  })
}
const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*from '(\.[^']+)'/gm)].map((m) => path.normalize(path.join(path.dirname(file), m[1])))

test('no module of lib/ imports itself back, not even through types', () => {
  const graph = new Map(files(path.join(SUITE_ROOT, 'lib'), /\.ts$/).map((f) => [f, importsOf(f)]))
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string) => {
    state.set(n, 'open')
    stack.push(n)
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m].map((f) => path.relative(SUITE_ROOT, f)).join(' -> '))
      else if (!state.has(m)) visit(m)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const f of graph.keys()) if (!state.has(f)) visit(f)
  assert.equal(cycles, [])
})

/** lib/'s folders from the bottom up: a module imports from its own folder and those before it. */
export const LAYERS = ['util', 'config', 'targets', 'access', 'app', 'modes', 'safety', 'run']

test("lib/'s folders are layers: util, config, targets, access, app, modes, safety, run; none imports from one above it", () => {
  const lib = path.join(SUITE_ROOT, 'lib')
  const layer = (f: string) => LAYERS.indexOf(path.relative(lib, f).split(path.sep)[0])
  const upward: string[] = []
  for (const f of files(lib, /\.ts$/)) {
    assert.ok(layer(f) >= 0, `${path.relative(SUITE_ROOT, f)} is in one of the folders ${LAYERS.join(', ')}`)
    for (const i of importsOf(f)) if (layer(i) > layer(f)) upward.push(`${path.relative(lib, f)} -> ${path.relative(lib, i)}`)
  }
  assert.equal(upward, [])
})

test('phase scripts speak to the target interface, never to a target', () => {
  const offenders = files(path.join(SUITE_ROOT, 'scripts'), /\.mts$/).filter((f) => importsOf(f).some((i) => /targets[\\/](compose|kubernetes|index)\.ts$/.test(i)))
  assert.equal(offenders.map((f) => path.relative(SUITE_ROOT, f)), [])
})

test.run()
