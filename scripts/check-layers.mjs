#!/usr/bin/env node
// The import direction of src/ (ARCHITECTURE.md): a module imports only from its own layer or a
// lower one, so the engine never depends on the daemon or the CLI and every backend sits below
// the simulated machine. Prints each violation as `file: imports target (layer → layer)`.
// No file reaches itself through its imports either (type-only imports count: a cycle of types
// is still two files that cannot be read one without the other); each cycle is printed once.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const LAYERS = ['util', 'format', 'pstore', 'backend', 'machine', 'daemon', 'cli']
const srcDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src')

/** The layer of a file under src/: its first folder; index.ts (the JS API) is above them all. */
function layerOf(file) {
  const top = path.relative(srcDir, file).split(path.sep)[0]
  if (top === 'index.ts') return LAYERS.length
  const rank = LAYERS.indexOf(top)
  if (rank < 0) throw new Error(`${path.relative(srcDir, file)}: not in a layer folder (${LAYERS.join(', ')})`)
  return rank
}

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) yield* sources(full)
    else if (entry.name.endsWith('.ts')) yield full
  }
}

const problems = []
/** file → the src/ files it imports */
const imports = new Map()
for (const file of sources(srcDir)) {
  const text = fs.readFileSync(file, 'utf8')
  const targets = new Set()
  for (const [, spec] of text.matchAll(/(?:from\s+|import\(\s*)['"](\.\.?\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts')
    if (!target.startsWith(srcDir + path.sep)) continue
    targets.add(target)
    const [from, to] = [layerOf(file), layerOf(target)]
    if (to > from) problems.push(`${path.relative(srcDir, file)}: imports ${path.relative(srcDir, target)} (${LAYERS[from] ?? 'index'} → ${LAYERS[to]})`)
  }
  imports.set(file, targets)
}
if (problems.length) {
  console.error(`check-layers: ${problems.length} import(s) against the layer order ${LAYERS.join(' < ')}:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}

/** Import cycles by depth-first search; each reported once, as the path from its first file. */
function cycles() {
  const found = new Map()
  const state = new Map() // file → 'open' while on the stack, 'done' after
  const stack = []
  const visit = (file) => {
    state.set(file, 'open')
    stack.push(file)
    for (const next of imports.get(file) ?? []) {
      if (state.get(next) === 'open') {
        const loop = stack.slice(stack.indexOf(next)).map((f) => path.relative(srcDir, f))
        const key = [...loop].sort().join(' ')
        if (!found.has(key)) found.set(key, [...loop, loop[0]].join(' → '))
      } else if (!state.has(next)) visit(next)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of [...imports.keys()].sort()) if (!state.has(file)) visit(file)
  return [...found.values()]
}
const loops = cycles()
if (loops.length) {
  console.error(`check-layers: ${loops.length} import cycle(s) in src/:\n  ${loops.join('\n  ')}`)
  process.exit(1)
}
console.log(`check-layers: ok (${LAYERS.join(' < ')} < index, no import cycle)`)
