/**
 * Installed without native-setup (`npm ci` alone), fuse-native keeps its prebuilt, unpatched
 * addon: it loads and would mount, but with ms times. The daemon and the JS API must refuse
 * it: exit 2, one line naming the problem and `npm run setup`.
 *
 * The situation is built for real: a copy of the package (dist/, package.json) whose
 * node_modules links every package of ours except fuse-native, copied without its build/ (so
 * its index.js falls back to prebuilds/linux-x64/node.napi.node, as after `npm ci`).
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { REQUIRED_PATCH_LEVEL } from '../../src/util/fuseNative.js'
import { repoRoot } from '../helpers/fixtures.js'
import { run, tempDir } from '../helpers/mount.js'

const root = tempDir(t, 'pstore-sim-unpatched-')
const pkg = path.join(root, 'pstore-sim')
const modules = fs.realpathSync(path.join(repoRoot, 'node_modules'))
fs.mkdirSync(path.join(pkg, 'node_modules'), { recursive: true })
fs.cpSync(path.join(repoRoot, 'dist'), path.join(pkg, 'dist'), { recursive: true })
fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(pkg, 'package.json'))
for (const name of fs.readdirSync(modules)) {
  if (name !== 'fuse-native') fs.symlinkSync(path.join(modules, name), path.join(pkg, 'node_modules', name))
}
const fuseNative = path.join(modules, 'fuse-native')
fs.cpSync(fuseNative, path.join(pkg, 'node_modules', 'fuse-native'), {
  recursive: true,
  filter: (src) => src !== path.join(fuseNative, 'build'),
})
const cli = path.join(pkg, 'dist', 'src', 'cli', 'main.js')
const image = path.join(root, 'img.bin')
const message = new RegExp(
  `^pstore-sim: the fuse-native addon is not pstore-sim's patched build \\(patch level 0, need ${REQUIRED_PATCH_LEVEL}; .*\\): run "npm run setup" in (\\S+) to build it\n$`,
)

const mounted = (dir: string): boolean => fs.readFileSync('/proc/mounts', 'utf8').includes(` ${dir} `)

t.before(async () => {
  const formatted = await run(process.execPath, [cli, 'format', image, '--mem-size', '64K'])
  if (formatted.code !== 0) throw new Error(`format failed: ${formatted.stderr}`)
})

t.test('the copy really loads the prebuilt addon', async (t) => {
  const probe = await run(process.execPath, ['-e', 'const F = require("fuse-native"); console.log(F.NATIVE_PATCH_LEVEL, require.resolve("fuse-native"))'], {
    cwd: pkg,
  })
  t.equal(probe.code, 0, probe.stderr)
  t.equal(probe.stdout.toString().trim(), `0 ${path.join(pkg, 'node_modules/fuse-native/index.js')}`, 'patch level 0 from the copy (prebuilds/, no build/)')
})

t.test('pstore-sim mount: exit 2, one line, nothing mounted', async (t) => {
  const mnt = path.join(root, 'mnt')
  const result = await run(process.execPath, [cli, 'mount', image, mnt])
  if (result.code === 0) t.teardown(() => run(process.execPath, [cli, 'umount', mnt]).then(() => undefined))
  t.equal(result.code, 2, 'environment problem')
  t.match(result.stderr, message)
  t.equal(message.exec(result.stderr)?.[1], pkg, 'names the package to run the setup in')
  t.equal(result.stdout.length, 0)
  t.notOk(mounted(mnt), 'no mount left behind')
})

t.test('JS API mount(): rejects with exit code 2 and the same line', async (t) => {
  const mnt = path.join(root, 'mnt-api')
  const script = `
    import { mount } from ${JSON.stringify(path.join(pkg, 'dist/src/index.js'))}
    try {
      const m = await mount(${JSON.stringify(image)}, ${JSON.stringify(mnt)})
      await m.unmount()
      console.log(JSON.stringify({ mounted: true }))
    } catch (err) {
      console.log(JSON.stringify({ exitCode: err.exitCode, message: err.message }))
    }`
  const result = await run(process.execPath, ['--input-type=module', '-e', script])
  t.equal(result.code, 0, result.stderr)
  const outcome = JSON.parse(result.stdout.toString())
  t.equal(outcome.exitCode, 2, 'an environment error')
  t.match(`pstore-sim: ${outcome.message}\n`, message)
  t.notOk(mounted(mnt), 'no mount left behind')
})
