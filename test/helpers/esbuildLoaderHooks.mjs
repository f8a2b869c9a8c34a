/**
 * Module hooks of test/helpers/esbuildLoader.cjs: a .ts module is loaded as the ESM esbuild
 * transpiles it to (with an inline source map: stack traces name the .ts lines), from the
 * transpiled tree when it is there and not older than the file, else transpiled now; and
 * `./x.js` imported from a .ts module is x.ts when that exists, as tsc resolves it (NodeNext).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

let root = ''
let cacheDir = ''
let skipProcessInfo = false
export function initialize(data) {
  ;({ root, cacheDir, skipProcessInfo } = data)
}

// as tsc compiles them (tsconfig.json: target ES2022, so class fields are defined, not assigned)
const tsconfigRaw = { compilerOptions: { useDefineForClassFields: true } }

const isTs = (url) => url.startsWith('file:') && new URL(url).pathname.endsWith('.ts')

// tap's process-info hook (its runner's --import, and NODE_OPTIONS'): see esbuildLoader.cjs
const processInfoImport = /\/@tapjs\/processinfo\/dist\/esm\/import\.mjs$/

export async function resolve(specifier, context, next) {
  if (skipProcessInfo && processInfoImport.test(specifier)) return { url: 'data:text/javascript,', shortCircuit: true }
  const parent = context.parentURL
  if (parent && isTs(parent) && specifier.endsWith('.js') && /^\.{1,2}\//.test(specifier)) {
    const ts = new URL(`${specifier.slice(0, -3)}.ts`, parent)
    if (fs.existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true }
  }
  return next(specifier, context)
}

/** The transpiled tree's copy of `file`, if it is there and not older than the file. */
function transpiled(file) {
  const rel = path.relative(root, file)
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined
  const copy = path.join(cacheDir, rel.replace(/\.ts$/, '.js'))
  try {
    return fs.statSync(copy).mtimeMs >= fs.statSync(file).mtimeMs ? fs.readFileSync(copy, 'utf8') : undefined
  } catch {
    return undefined
  }
}

/**
 * tap runs its test processes with --enable-source-maps (stack traces and failure excerpts name
 * the .ts lines, through the maps esbuild puts inline), and Node then reads and parses the map of
 * every module as it loads: 125 of tap's ESM modules point to a .map file, ~75 ms of CPU
 * per test process (issue 28). The map comment of modules under node_modules is dropped here:
 * only tap's internal frames, which it leaves out of its reports, lose their .ts names.
 */
const sourceMapComment = /\n\/\/# sourceMappingURL=[^\n]*\s*$/

export async function load(url, context, next) {
  if (!isTs(url)) {
    const loaded = await next(url, context)
    if (loaded.format !== 'module' || !url.includes('/node_modules/') || loaded.source == null) return loaded
    const source = typeof loaded.source === 'string' ? loaded.source : Buffer.from(loaded.source).toString('utf8')
    return { ...loaded, source: source.replace(sourceMapComment, '\n') }
  }
  const file = fileURLToPath(url)
  let source = transpiled(file)
  if (source === undefined) {
    const { transform } = await import('esbuild')
    const out = await transform(await fs.promises.readFile(file, 'utf8'), {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: file,
      tsconfigRaw,
    })
    source = out.code
  }
  return { format: 'module', source, shortCircuit: true }
}
