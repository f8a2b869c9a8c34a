#!/usr/bin/env node
// Functions in src/ longer than the limit (default 80 lines), longest first: each is a place
// where one function does several jobs; and files over 400 lines, each a place where one file
// holds several concepts. Exits 1 when there is any (npm run lint).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const limit = Number(process.argv[2] ?? 80)
const fileLimit = 400
const srcDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src')
const long = []
function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) yield* sources(full)
    else if (entry.name.endsWith('.ts')) yield full
  }
}
const longFiles = []
for (const file of sources(srcDir)) {
  const lineCount = fs.readFileSync(file, 'utf8').split('\n').length - 1
  if (lineCount > fileLimit) longFiles.push(`${path.relative(srcDir, file)}: ${lineCount} lines (limit ${fileLimit} a file)`)
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const lines = end - start + 1
      if (lines > limit) {
        const name = node.name?.getText() ?? (ts.isArrowFunction(node) || ts.isFunctionExpression(node) ? '(anonymous)' : '?')
        long.push({ where: `${path.relative(srcDir, file)}:${start + 1}`, name, lines })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
}
long.sort((a, b) => b.lines - a.lines)
for (const f of long) console.error(`${f.where} ${f.name}: ${f.lines} lines (limit ${limit})`)
for (const f of longFiles) console.error(f)
if (long.length || longFiles.length) process.exit(1)
console.log(`check-function-length: ok (no function in src/ over ${limit} lines, no file over ${fileLimit})`)
