/**
 * The native layer has one version (native/version.h, NATIVE_VERSION in util/fuseNative.ts),
 * checked once at load. An installation whose native/build is missing (`npm ci` without the
 * setup) or was built from other sources (an older checkout's build left in place) must be
 * refused by the daemon, the JS API and check-addon: exit 2, one line naming the problem and
 * `npm run setup`, nothing mounted.
 *
 * Both situations are built for real: a copy of the package (dist/, package.json, native/'s
 * sources, native-setup/) beside the repo's node_modules; for the second, the copy's native/
 * is built with node-gyp from sources whose version.h says 8, then version.h is put back.
 */

import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { NATIVE_VERSION } from '../../src/util/fuseNative.js'
import { repoRoot } from '../helpers/fixtures.js'
import { run, tempDir } from '../helpers/mount.js'

// a space and a non-ASCII letter in the path: node-gyp's build must not split or mangle it
const root = tempDir(t, 'pstore-sim native version é-')
const pkg = path.join(root, 'pstore-sim')
const image = path.join(root, 'img.bin')
const cli = path.join(pkg, 'dist', 'src', 'cli', 'main.js')
const mounted = (dir: string): boolean => fs.readFileSync('/proc/mounts', 'utf8').includes(` ${dir.replace(/ /g, '\\040')} `)
const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

fs.mkdirSync(pkg)
// the repo's modules linked one by one, but napi-macros (whose folder the build includes) copied
// into the copy's path, so that the compiler's -I path has the space in it too
fs.mkdirSync(path.join(pkg, 'node_modules'))
for (const entry of fs.readdirSync(path.join(repoRoot, 'node_modules'))) {
  const from = path.join(repoRoot, 'node_modules', entry)
  if (entry === 'napi-macros') fs.cpSync(from, path.join(pkg, 'node_modules', entry), { recursive: true })
  else fs.symlinkSync(from, path.join(pkg, 'node_modules', entry))
}
fs.cpSync(path.join(repoRoot, 'dist'), path.join(pkg, 'dist'), { recursive: true })
fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(pkg, 'package.json'))
fs.cpSync(path.join(repoRoot, 'native-setup'), path.join(pkg, 'native-setup'), { recursive: true })
fs.cpSync(path.join(repoRoot, 'native'), path.join(pkg, 'native'), {
  recursive: true,
  filter: (src) => !src.startsWith(path.join(repoRoot, 'native', 'build')),
})

t.before(async () => {
  const formatted = await run(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'format', image, '--mem-size', '64K'])
  if (formatted.code !== 0) throw new Error(`format failed: ${formatted.stderr}`)
})

/** `pstore-sim mount` and the JS API's mount() from the copy: both refused with `line`. */
async function refusedEverywhere(t: Test, line: RegExp, what: string): Promise<void> {
  const mnt = path.join(root, `mnt-${what}`)
  const result = await run(process.execPath, [cli, 'mount', image, mnt])
  if (result.code === 0) t.teardown(() => run(process.execPath, [cli, 'umount', mnt]).then(() => undefined))
  t.equal(result.code, 2, 'pstore-sim mount: an environment problem')
  t.match(result.stderr, line, 'one line naming the problem and the setup to run')
  t.equal(result.stdout.length, 0)
  t.notOk(mounted(mnt), 'no mount left behind')

  const apiMnt = path.join(root, `api-${what}`)
  const script = `
    import { mount } from ${JSON.stringify(path.join(pkg, 'dist/src/index.js'))}
    try {
      const m = await mount(${JSON.stringify(image)}, ${JSON.stringify(apiMnt)})
      await m.unmount()
      console.log(JSON.stringify({ mounted: true }))
    } catch (err) {
      console.log(JSON.stringify({ exitCode: err.exitCode, message: err.message }))
    }`
  const api = await run(process.execPath, ['--input-type=module', '-e', script])
  t.equal(api.code, 0, api.stderr)
  const outcome = JSON.parse(api.stdout.toString())
  t.equal(outcome.exitCode, 2, 'the JS API: an environment error')
  t.match(`pstore-sim: ${outcome.message}\n`, line, 'the same line')
  t.notOk(mounted(apiMnt), 'no mount left behind')
}

t.test('no native/build (npm ci without the setup): refused with one line', async (t) => {
  const line = new RegExp(
    `^pstore-sim: the native addons do not load \\(Cannot find module '\\./build/Release/fuse\\.node'.*\\): run "npm run setup" in ${literal(pkg)} \\(native-setup/setup\\.sh builds native/ against libfuse 3\\)\n$`,
  )
  await refusedEverywhere(t, line, 'none')
})

t.test('addons built from sources of another version: refused with one line', async (t) => {
  const header = path.join(pkg, 'native', 'version.h')
  const sources = fs.readFileSync(header, 'utf8')
  t.match(sources, new RegExp(`^#define PSTORE_NATIVE_VERSION ${NATIVE_VERSION}$`, 'm'), 'version.h and NATIVE_VERSION agree')
  const old = NATIVE_VERSION - 1
  fs.writeFileSync(header, sources.replace(/^#define PSTORE_NATIVE_VERSION \d+$/m, `#define PSTORE_NATIVE_VERSION ${old}`))
  // as native-setup/setup.sh builds: npm's bundled node-gyp, Node's headers from npm's nodedir
  const npmCli = (await run('sh', ['-c', 'readlink -f "$(command -v npm)"'])).stdout.toString().trim()
  const gyp = path.resolve(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  const nodedir = (await run('npm', ['config', 'get', 'nodedir'])).stdout.toString().trim()
  const nodedirArg = nodedir && nodedir !== 'undefined' && nodedir !== 'null' ? [`--nodedir=${nodedir}`] : []
  const built = await run(process.execPath, [gyp, 'rebuild', ...nodedirArg], { cwd: path.join(pkg, 'native') })
  t.equal(built.code, 0, `node-gyp built version ${old}: ${built.stderr.toString().slice(-500)}`)
  fs.writeFileSync(header, sources) // the checkout moved on; its build did not

  const line = new RegExp(
    `^pstore-sim: native/build holds version ${old} of the native addons, this pstore-sim needs version ${NATIVE_VERSION}: run "npm run setup" in ${literal(pkg)} to rebuild them\n$`,
  )
  await refusedEverywhere(t, line, 'old')

  const check = await run(process.execPath, [path.join(pkg, 'native-setup', 'check-addon.cjs')])
  t.equal(check.code, 2, 'check-addon: exit 2')
  t.match(
    check.stderr,
    new RegExp(`^check-addon: FAILED: native/build is version ${old}, native/version\\.h says ${NATIVE_VERSION}: the addons were built from older sources\n`),
    'check-addon names the stale build',
  )
})
