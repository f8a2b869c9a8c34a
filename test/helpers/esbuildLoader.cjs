/**
 * The unit tier's TypeScript loader (`npm run test:unit`: tap --node-arg=--require=THIS). tap's
 * TypeScript plugin starts ts-node, and with it the whole TypeScript compiler, in every test
 * process (~1 s of CPU each on this project's machine, before it transpiles a module); esbuild
 * strips the types instead. Types are still checked, once, by `tsc -p tsconfig.test.json`;
 * ts-node ran transpile-only as well.
 *
 * --require runs before tap's --import loaders: TAP_TYPE_STRIP_ONLY=1 is the plugin's own switch
 * that leaves ts-node out (tap sets it to 0 on Node < 22, where it would mean Node's own type
 * stripping), and the hooks (esbuildLoaderHooks.mjs) load the .ts files instead.
 *
 * Without coverage (tap's runner then gives each test process _TAPJS_PROCESSINFO_COVERAGE_=0) the
 * hooks also load tap's process-info hook (@tapjs/processinfo, an --import the runner always adds)
 * as an empty module: it only records, for the coverage report and `tap --changed`, which files a
 * process loaded (the line lengths of each, their source maps at exit, a JSON file per process),
 * and it cost ~0.4 s of CPU per test file. Stack traces keep their .ts lines (--enable-source-maps
 * is tap's own argument). `npm run test:coverage` does not use this file: its processes keep it.
 *
 * Run as a program (`node test/helpers/esbuildLoader.cjs`, before tap), it transpiles every .ts of
 * src/ and test/ at once into node_modules/.cache/pstore-sim-tests/: the test processes then read
 * those (starting esbuild cost each ~0.3 s of CPU), and transpile only a file changed since.
 */
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const root = path.resolve(__dirname, '../..')
const cacheDir = path.join(root, 'node_modules/.cache/pstore-sim-tests')

if (require.main === module) {
  const sources = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name)
      if (e.isDirectory() && e.name !== 'fixtures') walk(full)
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(full)
    }
  }
  walk(path.join(root, 'src'))
  walk(path.join(root, 'test'))
  fs.rmSync(cacheDir, { recursive: true, force: true })
  const { outputFiles } = require('esbuild').buildSync({
    entryPoints: sources,
    outbase: root,
    outdir: cacheDir,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'external',
    write: false,
    logLevel: 'warning',
  })
  // each copy is loaded as its .ts file's URL: its map names the file relative to that
  const maps = new Map(outputFiles.filter((f) => f.path.endsWith('.map')).map((f) => [f.path.slice(0, -4), f.text]))
  for (const f of outputFiles.filter((o) => o.path.endsWith('.js'))) {
    const map = JSON.parse(maps.get(f.path))
    map.sources = [path.basename(f.path, '.js') + '.ts']
    const code = f.text.replace(/\/\/# sourceMappingURL=.*\n?$/, '')
    fs.mkdirSync(path.dirname(f.path), { recursive: true })
    fs.writeFileSync(f.path, `${code}//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`)
  }
} else {
  process.env.TAP_TYPE_STRIP_ONLY = '1'
  const skipProcessInfo = process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0'
  require('node:module').register('./esbuildLoaderHooks.mjs', {
    parentURL: pathToFileURL(__filename),
    data: { root, cacheDir, skipProcessInfo },
  })
}
