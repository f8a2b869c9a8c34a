/**
 * The JS API as a user's test suite meets it: `npm pack`, the tarball unpacked into a temp
 * project's node_modules, `import { formatImage, mount } from 'pstore-sim'` in a separate
 * process, and a TypeScript consumer type-checked against the shipped declarations.
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { cat, ls, pstoreSim, run, tempDir } from '../helpers/mount.js'

/** What `npm pack --json` made: the tarball and the files it holds. */
interface Packed {
  tarball: string
  files: string[]
}

/**
 * `npm pack` once for the whole file (the tests only read the package; each unpacks its own copy):
 * a pack is an npm process, ~2 s of CPU, and the tarball is the same every time.
 */
let packing: Promise<Packed> | undefined
function packOnce(): Promise<Packed> {
  packing ??= (async () => {
    const dir = tempDir(t, 'pstore-sim-pack-')
    const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repoRoot })
    if (pack.code !== 0) throw new Error(`npm pack: ${pack.stderr}`)
    const [result] = JSON.parse(pack.stdout.toString()) as Array<{ filename: string; files: Array<{ path: string }> }>
    return { tarball: path.join(dir, result.filename), files: result.files.map((f) => f.path) }
  })()
  return packing
}

/** The packed package, installed by hand: its own files, the repo's dependencies beside it. */
async function installPacked(dir: string): Promise<string> {
  const { tarball } = await packOnce()
  const project = path.join(dir, 'project')
  const pkgDir = path.join(project, 'node_modules', 'pstore-sim')
  fs.mkdirSync(pkgDir, { recursive: true })
  const untar = await run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'])
  if (untar.code !== 0) throw new Error(`tar: ${untar.stderr}`)
  // npm would install the dependencies and `npm run setup` build native/ from the shipped
  // sources; the repo's node_modules and native/build stand in for them
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(pkgDir, 'node_modules'))
  fs.cpSync(path.join(repoRoot, 'native', 'build', 'Release'), path.join(pkgDir, 'native', 'build', 'Release'), { recursive: true })
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
  return project
}

t.test('the packed package ships only what a user needs', async (t) => {
  const { files } = await packOnce()
  t.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'), 'the library and its types')
  t.ok(files.includes('dist/src/daemon/main.cjs'), 'the daemon entry the API spawns')
  t.ok(files.includes('bin/pstore-sim'), 'the bin')
  t.ok(
    files.includes('dist/src/cli/main.js') && files.includes('dist/src/cli/package.json') && files.includes('dist/src/cli/full.mjs'),
    'the CLI, CommonJS, and the full command line',
  )
  t.ok(
    ['native/fuse.c', 'native/sys.c', 'native/version.h', 'native/binding.gyp', 'native/index.cjs', 'native/sys.cjs', 'native-setup/setup.sh'].every((f) =>
      files.includes(f),
    ),
    'the native sources and what builds them',
  )
  t.notOk(
    files.some((f) => f.startsWith('native/build/')),
    'no addon built here',
  )
  t.same(
    files.filter((f) => /^(test|scripts|src)\//.test(f) || f.endsWith('.map')),
    [],
    'no tests, scripts, sources or source maps',
  )
})

t.test("a test suite uses the API from 'pstore-sim': format, mount, events, typed results, unmount", async (t) => {
  const dir = tempDir(t)
  const project = await installPacked(dir)
  const image = path.join(dir, 'demo.img')
  const mnt = path.join(dir, 'mnt')
  fs.writeFileSync(
    path.join(project, 'suite.mjs'),
    `import { formatImage, mount } from 'pstore-sim'
const [image, mnt] = process.argv.slice(2)
await formatImage(image, { params: { mem_size: 0x100000, record_size: 0x8000, console_size: 0x8000, pmsg_size: 0x1000, ftrace_size: 0x2000 } })
const pstore = await mount(image, mnt, { cacheTimeout: 0 })
const out = {}
out.console = await pstore.console('myapp: hello\\nmyapp: again')
out.pmsg = await pstore.pmsg('from the api')
out.oops = await pstore.panic({ reason: 'oops', compress: false })
out.reboot = await pstore.reboot()
out.fifo = pstore.fifo
console.log(JSON.stringify(out))
`,
  )
  t.teardown(() => run('fusermount3', ['-uz', mnt]))
  const r = await run(process.execPath, ['suite.mjs', image, mnt], { cwd: project })
  t.equal(r.code, 0, `suite: ${r.stderr}`)
  const out = JSON.parse(r.stdout.toString())
  t.same(out.console, { lines: 2 }, 'console answers its line count')
  t.same(out.pmsg, { bytes: 12 }, 'pmsg answers the bytes stored')
  t.match(out.oops, { stored: true, zone: 0, compressed: false, reason: 'oops' }, 'panic answers the CrashResult')
  t.same(out.reboot.files.sort(), ['console-ramoops-0', 'dmesg-ramoops-0', 'pmsg-ramoops-0'], "reboot answers the new boot's files")
  t.equal(out.fifo, `${mnt}.pmsg0`)
  t.same(await ls(mnt), out.reboot.files, 'ls shows what reboot said')
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'from the api')
  t.match((await cat(path.join(mnt, 'dmesg-ramoops-0'))).stdout.toString(), /^Oops#1 Part1\n/)

  fs.writeFileSync(path.join(project, 'unmount.mjs'), `import { unmount } from 'pstore-sim'\nawait unmount(process.argv[2])\n`)
  const u = await run(process.execPath, ['unmount.mjs', mnt], { cwd: project })
  t.equal(u.code, 0, `unmount: ${u.stderr}`)
  t.same(await ls(mnt), [], 'unmounted')
})

t.test('the API rejects options it does not know instead of running on defaults', async (t) => {
  const dir = tempDir(t)
  const project = await installPacked(dir)
  const image = path.join(dir, 'x.img')
  fs.writeFileSync(
    path.join(project, 'typo.mjs'),
    `import { formatImage, mount } from 'pstore-sim'
const [image, which] = process.argv.slice(2)
try {
  if (which === 'format') await formatImage(image, { params: { mem_size: 0x100000, recordsize: 0x8000 } })
  else await mount(image, image + '.mnt', { readonly: true })
  console.log('accepted')
} catch (err) {
  console.log(err.name + ': ' + err.message)
}
`,
  )
  const f = await run(process.execPath, ['typo.mjs', image, 'format'], { cwd: project })
  t.equal(
    f.stdout.toString().trim(),
    'ApiError: formatImage setup.params.recordsize: unknown option (known: mem_address, mem_size, record_size, console_size, ftrace_size, pmsg_size, ecc, max_reason, dump_oops)',
  )
  t.notOk(fs.existsSync(image), 'nothing created')
  const m = await run(process.execPath, ['typo.mjs', image, 'mount'], { cwd: project })
  t.match(m.stdout.toString().trim(), /^ApiError: mount options\.readonly: unknown option \(known: params, .*readOnly/)
  t.notOk(fs.existsSync(`${image}.mnt`), 'no mountpoint made')
})

t.test("the API's errors name its options, not the CLI's flags, and carry the setting as data", async (t) => {
  const dir = tempDir(t)
  const project = await installPacked(dir)
  const image = path.join(dir, 'x.img')
  const mnt = path.join(dir, 'mnt')
  fs.writeFileSync(
    path.join(project, 'errors.mjs'),
    `import { formatImage, mount } from 'pstore-sim'
const [image, mnt] = process.argv.slice(2)
const setup = { params: { mem_size: 0x10000 } }
const seen = {}
const attempt = async (label, action) => {
  try {
    await action()
    seen[label] = 'accepted'
  } catch (err) {
    seen[label] = { name: err.name, message: err.message, param: err.facts?.param, value: err.facts?.value }
  }
}
await attempt('missing', () => mount(image, mnt))
await formatImage(image, setup)
await attempt('exists', () => formatImage(image, setup))
await attempt('auto', () => formatImage(image + '.new', { ...setup, target: { kernel: 'auto' } }))
await formatImage(image + '.pmsg', { params: { mem_size: 0x10000, pmsg_size: 0x1000 } })
await attempt('fifo', () => mount(image + '.pmsg', mnt, { pmsgFifo: image }))
const pstore = await mount(image, mnt)
await attempt('corrupt', () => pstore.corrupt({ flips: [{ offset: 0x10000, bit: 1 }] }))
await pstore.panic()
await attempt('halted', () => pstore.console('after the panic'))
await pstore.unmount()
console.log(JSON.stringify(seen))
`,
  )
  t.teardown(() => run('fusermount3', ['-uz', mnt]))
  const r = await run(process.execPath, ['errors.mjs', image, mnt], { cwd: project })
  t.equal(r.code, 0, `errors.mjs: ${r.stderr}`)
  const seen = JSON.parse(r.stdout.toString())
  // in this process (formatImage) and sent by the daemon (mount's start, its control socket) alike
  t.same(seen.exists, { name: 'SetupError', message: `${image}: already exists; pass { force: true } to overwrite it`, param: 'force' })
  t.match(seen.auto, { name: 'SetupError', param: 'target.kernel', value: 'auto', message: /target\.kernel 'auto' reads the version from an existing dump/ })
  t.same(seen.missing, { name: 'ImageError', message: `${image}: no such image (formatImage creates one)`, param: 'image', value: image })
  t.same(seen.corrupt, { name: 'CorruptError', message: 'flips: offset 65536 is outside the 65536-byte region', param: 'flips' })
  t.match(seen.halted, {
    name: 'MachineHaltedError',
    param: 'reboot',
    value: 'console output',
    message: /halted after a panic: console output needs a reboot first$/,
  })
  t.same(
    seen.fifo,
    { name: 'FifoError', message: `${image}: exists and is not a FIFO: remove it or give another path as pmsgFifo (or pmsgFifo: false)`, param: 'pmsgFifo' },
    'a FIFO error from the daemon speaks the API',
  )
  for (const [label, err] of Object.entries(seen) as Array<[string, { message: string }]>)
    t.notMatch(err.message, /--[a-z]|pstore-sim [a-z]/, `${label}: no CLI flag or command in an API error`)

  // the same facts, phrased by the CLI with its flags (the corrupt error crosses the daemon's socket)
  const m = await pstoreSim(['mount', image, mnt])
  t.equal(m.code, 0, `mount: ${m.stderr}`)
  const c = await pstoreSim(['corrupt', mnt, '--flip', '0x10000:1'])
  t.equal(c.code, 1)
  t.equal(c.stderr.toString(), 'pstore-sim: --flip: offset 65536 is outside the 65536-byte region\n')
  const f = await pstoreSim(['format', image, '--mem-size', '64K'])
  t.match(f.stderr.toString(), /^pstore-sim: .*x\.img: already exists; pass --force to overwrite it\n$/)
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, `umount: ${u.stderr}`)
})

t.test("a daemon's refusal is the class it was thrown as: instanceof holds for an API user", async (t) => {
  const dir = tempDir(t)
  const project = await installPacked(dir)
  const image = path.join(dir, 'x.img')
  const mnt = path.join(dir, 'mnt')
  fs.writeFileSync(
    path.join(project, 'classes.mjs'),
    `import * as api from 'pstore-sim'
const [image, mnt] = process.argv.slice(2)
const seen = {}
const attempt = async (label, cls, action) => {
  try {
    await action()
    seen[label] = 'accepted'
  } catch (err) {
    seen[label] = { name: err.name, isClass: err instanceof api[cls], isBase: err instanceof api.PstoreSimError, exitCode: err.exitCode, param: err.facts?.param }
  }
}
await attempt('missing', 'ImageError', () => api.mount(image, mnt))
await api.formatImage(image, { params: { mem_size: 0x10000, pmsg_size: 0x1000 } })
fs.renameSync(image + '.json', image + '.json.away')
await attempt('noSetup', 'SetupError', () => api.mount(image, mnt))
fs.renameSync(image + '.json.away', image + '.json')
await attempt('refused', 'ProbeError', () => api.mount(image, mnt, { params: { record_size: 0x20000 } }))
const pstore = await api.mount(image, mnt, { target: { frontends: { pmsg: false } }, pmsgFifo: false })
await attempt('noPmsg', 'MachineSetupError', () => pstore.pmsg('x'))
await attempt('corrupt', 'CorruptError', () => pstore.corrupt({ flips: [{ offset: 0x10000, bit: 1 }] }))
await pstore.panic()
await attempt('halted', 'MachineHaltedError', () => pstore.console('after the panic'))
await pstore.unmount()
console.log(JSON.stringify(seen))
`.replace("import * as api from 'pstore-sim'", "import fs from 'node:fs'\nimport * as api from 'pstore-sim'"),
  )
  t.teardown(() => run('fusermount3', ['-uz', mnt]))
  const r = await run(process.execPath, ['classes.mjs', image, mnt], { cwd: project })
  t.equal(r.code, 0, `classes.mjs: ${r.stderr}`)
  const seen = JSON.parse(r.stdout.toString())
  t.same(seen.missing, { name: 'ImageError', isClass: true, isBase: true, exitCode: 1, param: 'image' }, "from the daemon's start-up IPC")
  t.same(seen.noSetup, { name: 'SetupError', isClass: true, isBase: true, exitCode: 1, param: 'setup' })
  t.same(seen.refused, { name: 'ProbeError', isClass: true, isBase: true, exitCode: 1 }, 'an error without facts too (the layout refused it)')
  t.same(seen.noPmsg, { name: 'MachineSetupError', isClass: true, isBase: true, exitCode: 1 }, 'from the control socket, without facts')
  t.same(seen.corrupt, { name: 'CorruptError', isClass: true, isBase: true, exitCode: 1, param: 'flips' })
  t.same(seen.halted, { name: 'MachineHaltedError', isClass: true, isBase: true, exitCode: 1, param: 'reboot' })
})

t.test('a TypeScript consumer type-checks against the shipped declarations', async (t) => {
  const dir = tempDir(t)
  const project = await installPacked(dir)
  fs.writeFileSync(
    path.join(project, 'consumer.ts'),
    `import { mount, type CrashResult, type MountHandle } from 'pstore-sim'
export async function crash(): Promise<number | undefined> {
  const pstore: MountHandle = await mount('a.img', '/tmp/a', { readOnly: false, cacheTimeout: 0, kmsgBytes: 4096 })
  const result: CrashResult = await pstore.panic({ reason: 'oops' })
  const { files } = await pstore.reboot()
  return files.length > 0 ? result.zone : undefined
}
// the names before "setup" was one word still compile (deprecated aliases)
import { type BackendConfig, type BlkConfig, BlkConfigError, blkConfig, type EfiConfig, type ErstConfig, type RamoopsConfig, Simulation } from 'pstore-sim'
export function legacy(r: RamoopsConfig, b: BlkConfig, e: ErstConfig, f: EfiConfig, any: BackendConfig, s: Simulation): number {
  const err: BlkConfigError = new BlkConfigError('x')
  return r.memSize + b.diskSize + e.memSize + f.memSize + s.setup.kernel.major + (any.backend === 'blk' ? err.message.length : 0) + (blkConfig === undefined || Simulation.open === undefined ? 1 : 0)
}
`,
  )
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'] },
      files: ['consumer.ts'],
    }),
  )
  // a Node project has @types/node; the repo's stands in
  fs.symlinkSync(path.join(repoRoot, 'node_modules', '@types'), path.join(project, 'node_modules', '@types'))
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const ok = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project })
  t.equal(ok.code, 0, `tsc: ${ok.stdout.toString()}${ok.stderr}`)
  // the check can fail: a wrong use of a typed result is an error
  fs.appendFileSync(path.join(project, 'consumer.ts'), `export const wrong = async (p: MountHandle): Promise<string> => (await p.console('x')).lines\n`)
  const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project })
  t.not(bad.code, 0, 'a misuse of a result type is caught')
  t.match(bad.stdout.toString(), /Type 'number' is not assignable to type 'string'/)
})
