#!/usr/bin/env node
/**
 * scripts/bundle.mjs: the CLI and the daemon each start from one pre-built file (issue 15).
 * Run by `npm run build` after `tsc`: esbuild bundles the CLI (dist/src/cli/: main.js, the bin,
 * CommonJS; full.mjs; execNamespace.js) and the daemon (dist/src/daemon/main.cjs, CommonJS), with
 * every module and dependency they import; tsc's other CLI files are removed (nothing loads them).
 * Same depth in dist/: the bin's path, mount(8)'s helper symlink and every path the code derives
 * from its own file stay what they were. Node then reads and compiles one file instead of
 * resolving ~80 (yargs alone is 40).
 *
 * Left out of the bundle, loaded at run time as before: the native layer (native/index.cjs and
 * its addons, required by a path computed at run time, which esbuild leaves alone), pako and
 * debug (from node_modules through createRequire, and only when needed). yargs' locale files are copied beside the
 * bundle (dist/src/yargs/locales) and its platform shim is told where the package root is, so
 * that `--version` and messages in every locale stay what they were.
 *
 *   node scripts/bundle.mjs            (from the repository root, after tsc)
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/**
 * The CLI: src/cli/main.ts (the plain forms of the frequent commands, cli/fastPath.ts) as
 * dist/src/cli/main.js, and the full command line (cli/full.ts: yargs, the engine) as
 * dist/src/cli/full.mjs beside it, which main.ts imports only when it needs it (its
 * `import('./full.js')` is pointed there). The daemon: one file.
 */
const fullCli = {
  name: 'cli-main-to-full',
  setup(build) {
    build.onResolve({ filter: /^\.\/full\.js$/ }, (args) =>
      /[\\/]src[\\/]cli[\\/]main\.ts$/.test(args.importer) ? { path: './full.mjs', external: true } : undefined,
    )
  },
}

/**
 * yargs' ESM shim derives two paths from its own file: the package root (the path before
 * `node_modules`: where `--version` finds package.json) and its locales (../../../locales).
 * In the bundle its file is dist/src/cli/main.js: give it both as they were.
 */
const YARGS_SHIM = /node_modules[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/
const yargsShim = {
  name: 'yargs-shim-paths',
  setup(build) {
    build.onLoad({ filter: YARGS_SHIM }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8')
      const from = ['const __dirname = fileURLToPath(import.meta.url);', "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));"]
      const to = [
        // dist/src/cli/main.js → dist/src/yargs/lib/platform-shims/esm.mjs: ../../../locales is
        // dist/src/yargs/locales, where the locales are copied
        "const __dirname = resolve(dirname(fileURLToPath(import.meta.url)), '../yargs/lib/platform-shims/esm.mjs');",
        // the package root (dist/src/cli/ → ../../..), with the trailing slash yargs had
        "const mainFilename = resolve(dirname(fileURLToPath(import.meta.url)), '../../..') + '/';",
      ]
      let contents = source
      for (let i = 0; i < from.length; i++) {
        if (!contents.includes(from[i])) throw new Error(`${args.path}: "${from[i]}" not found: yargs changed, update scripts/bundle.mjs`)
        contents = contents.replace(from[i], to[i])
      }
      return { contents, loader: 'js' }
    })
  },
}

/**
 * string-width (yargs' help layout: cliui, wrap-ansi; three copies) builds an Intl.Segmenter and
 * Unicode-property regexes as its module loads: ~35 ms of CPU of every full CLI call, most of
 * which lay out no help at all. Each is built when first used instead: a Proxy that hands every
 * property (methods bound) of the real one, made then.
 */
const STRING_WIDTH = /node_modules[\\/](?:.+[\\/])?string-width[\\/]index\.js$/
const EAGER = /^const (\w+) = (new Intl\.Segmenter\(\)|\/.*\\p\{.*\/[a-z]*);$/gm
const LAZY =
  'const __lazy = (make) => { let made; const real = () => (made ??= make()); return new Proxy({}, { get: (_, k) => { const v = Reflect.get(real(), k); return typeof v === "function" ? v.bind(real()) : v }, set: (_, k, v) => Reflect.set(real(), k, v) }) };\n'
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(build) {
    build.onLoad({ filter: STRING_WIDTH }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8')
      const contents = source.replace(EAGER, (_, name, value) => `const ${name} = __lazy(() => ${value});`)
      if (contents === source) throw new Error(`${args.path}: no Intl.Segmenter or \\p{} regex at the top: string-width changed, update scripts/bundle.mjs`)
      return { contents: LAZY + contents, loader: 'js' }
    })
  },
}

function copyLocales() {
  const from = path.join(root, 'node_modules/yargs/locales')
  const to = path.join(root, 'dist/src/yargs/locales')
  fs.rmSync(to, { recursive: true, force: true })
  fs.mkdirSync(to, { recursive: true })
  for (const name of fs.readdirSync(from)) if (name.endsWith('.json')) fs.copyFileSync(path.join(from, name), path.join(to, name))
}

// CommonJS starts faster than ESM (no module loader to set up: ~10 ms of CPU a process here), so
// the two files every event and every mount start from are CommonJS; the full command line,
// loaded by import() when needed, stays ESM (yargs is ESM).
const ESM_REQUIRE = "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);"
const CJS_IMPORT_META = "'use strict'; const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;"
/**
 * esbuild's CommonJS output wraps every `require("node:fs")` of an ESM import in __toESM, which
 * defines a getter on a new object for each of the module's ~100 properties, once per importing
 * module: ~2 ms of every CLI call (six copies of node:fs alone). A built-in needs no interop:
 * an object with the module as its prototype answers named imports, and `default` is the module.
 */
const CJS_BUILTIN = 'const __nodeBuiltin = (m) => ({ __proto__: m, default: m });'
const TO_ESM_BUILTIN = /__toESM\((require\("node:[a-z_/]+"\)), 1\)/g
function unwrapBuiltins(file) {
  const source = fs.readFileSync(file, 'utf8')
  const unwrapped = source.replace(TO_ESM_BUILTIN, '__nodeBuiltin($1)')
  if (unwrapped === source) throw new Error(`${file}: no __toESM(require("node:…"), 1) found: esbuild changed, update scripts/bundle.mjs`)
  fs.writeFileSync(file, unwrapped)
}
const cjs = { format: 'cjs', banner: { js: `${CJS_IMPORT_META} ${CJS_BUILTIN}` }, define: { 'import.meta.url': '__importMetaUrl' } }
const esm = { format: 'esm', banner: { js: ESM_REQUIRE }, outExtension: { '.js': '.mjs' } }
const builds = [
  { entryPoints: { 'src/cli/main': 'src/cli/main.ts' }, plugins: [fullCli], ...cjs },
  // run as its own process inside exec's namespace (cli/exec.ts), from this CommonJS directory
  { entryPoints: { 'src/cli/execNamespace': 'src/cli/execNamespace.ts' }, plugins: [], ...cjs },
  { entryPoints: { 'src/cli/full': 'src/cli/full.ts' }, plugins: [yargsShim, lazyStringWidth], ...esm },
  { entryPoints: { 'src/daemon/main': 'src/daemon/main.ts' }, plugins: [], ...cjs, outExtension: { '.js': '.cjs' } },
]
const outputs = {}
for (const b of builds) {
  const result = await esbuild.build({
    ...b,
    absWorkingDir: root,
    outdir: path.join(root, 'dist'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    // loaded at run time from node_modules (createRequire), as in the unbundled build
    external: ['pako', 'debug', '@bokuweb/zstd-wasm'],
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  })
  if (result.errors.length) process.exit(1)
  if (b.format === 'cjs') for (const out of Object.keys(result.metafile.outputs)) if (!out.endsWith('.map')) unwrapBuiltins(path.join(root, out))
  Object.assign(outputs, result.metafile.outputs)
}
copyLocales()
// The CLI keeps its path (dist/src/cli/main.js: what bin/pstore-sim runs, and users' scripts that
// call it with node) and is CommonJS: this directory's package.json says so. Nothing loads tsc's other
// files here (the JS API imports no cli/ module, exec's namespace side is bundled too); the full
// command line is full.mjs.
fs.writeFileSync(path.join(root, 'dist/src/cli/package.json'), '{ "type": "commonjs" }\n')
// tsc's ESM files of the CLI would not even load here, and the bundles hold them: leave only those.
const cliBundles = new Set(['main.js', 'execNamespace.js', 'full.mjs', 'package.json'])
for (const name of fs.readdirSync(path.join(root, 'dist/src/cli'))) {
  if (!cliBundles.has(name) && !cliBundles.has(name.replace(/\.map$/, ''))) fs.rmSync(path.join(root, 'dist/src/cli', name), { recursive: true, force: true })
}
fs.chmodSync(path.join(root, 'dist/src/cli/main.js'), 0o755)
for (const [out, info] of Object.entries(outputs)) {
  if (out.endsWith('.map')) continue
  process.stderr.write(`bundle: ${out} ${(info.bytes / 1024).toFixed(0)} KiB, ${Object.keys(info.inputs).length} modules\n`)
}
