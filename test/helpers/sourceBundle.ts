/**
 * A module of src/ as one plain JavaScript file, for a test's child process (a clean Node with no
 * loader: its figures are the module's alone). esbuild bundles it in milliseconds, so these tests
 * need no `npm run build` and always run the source they test.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as esbuild from 'esbuild'
import { repoRoot } from './fixtures.js'

/** `src/<rel>` bundled (ESM, with what it imports) into a temporary file removed when the process ends; its path. */
export async function sourceBundle(rel: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-bundle-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const outfile = path.join(dir, `${path.basename(rel, '.ts')}.mjs`)
  await esbuild.build({
    entryPoints: [path.join(repoRoot, 'src', rel)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // as the built package loads them: from node_modules at run time
    external: ['pako', 'debug', '@bokuweb/zstd-wasm'],
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    nodePaths: [path.join(repoRoot, 'node_modules')],
    logLevel: 'warning',
  })
  return outfile
}
