/**
 * Module hooks of test/helpers/esbuildLoader.cjs: a .ts module is loaded as the ESM esbuild
 * transpiles it to (with an inline source map: stack traces and coverage name the .ts lines), and
 * `./x.js` imported from a .ts module is x.ts when that exists, as tsc resolves it (NodeNext).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { transform } from 'esbuild'

// as tsc compiles them (tsconfig.json: target ES2022, so class fields are defined, not assigned)
const tsconfigRaw = { compilerOptions: { useDefineForClassFields: true } }

const isTs = (url) => url.startsWith('file:') && new URL(url).pathname.endsWith('.ts')

export async function resolve(specifier, context, next) {
  const parent = context.parentURL
  if (parent && isTs(parent) && specifier.endsWith('.js') && /^\.{1,2}\//.test(specifier)) {
    const ts = new URL(`${specifier.slice(0, -3)}.ts`, parent)
    if (fs.existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true }
  }
  return next(specifier, context)
}

export async function load(url, context, next) {
  if (!isTs(url)) return next(url, context)
  const file = fileURLToPath(url)
  const { code } = await transform(await fs.promises.readFile(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: file,
    tsconfigRaw,
  })
  return { format: 'module', source: code, shortCircuit: true }
}
