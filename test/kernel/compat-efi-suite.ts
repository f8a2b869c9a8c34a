/**
 * pstore-sim's efi backend vs a real kernel (Debian's, booted through Debian's OVMF: pflash unit
 * 0 OVMF_CODE_4M.fd read only, unit 1 the variable store; efi-pstore.ko insmod'ed without
 * options). Both directions:
 *
 * 1. pstore-sim writes (format, an Oops compressed, an Oops `--no-compress`, a panic): the kernel
 *    lists what a pstore-sim `-o ro` mount shows (names, sizes, bytes, mtimes); its `rm` changes
 *    the byte pstore-sim's `rm` changes (pstore's variables compared: OVMF adds its own at boot).
 * 2. The kernel writes (an Oops, then a panic): every part is pstore-sim's deflate of its text;
 *    the kernel's writes replayed through pstore-sim's backend give its store byte for byte; the
 *    next boot lists what a pstore-sim `-o ro` mount of that store shows, and its `rm` changes
 *    the byte pstore-sim's `rm` changes.
 * 3. (6.12) A store 6.1 wrote (test/fixtures/efi-6.1): 6.12 lists it under its own name, as
 *    pstore-sim shows it with --kernel 6.12.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { compress, decompress } from '../../src/pstore/compression.js'
import { beforePstoreWrites, efiBackend, parsedName, pstoreVariables } from '../helpers/efiKernel.js'
import { repoRoot } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, run, runProductsUninstrumented, statFiles } from '../helpers/mount.js'
import { type KernelFile, type KernelSelector, kernelInfo, kernelSkipReason, runKernel } from './harness.js'

function logText(lines: number, tag: string): string {
  return (
    Array.from(
      { length: lines },
      (_, i) => `${tag} line ${String(i).padStart(4, '0')} ${((i + 1) * 2654435761) % 4294967291}: pstore-sim wrote this for the kernel`,
    ).join('\n') + '\n'
  )
}

interface MountFile {
  name: string
  size: number
  mtime: number
  mtimeNsec: number
  content: Buffer
}

async function roListing(t: Test, image: string, mnt: string, setup: string[]): Promise<MountFile[]> {
  fs.mkdirSync(mnt, { recursive: true })
  await mountImage(t, image, mnt, ['-o', 'ro', ...setup])
  const out: MountFile[] = []
  for (const s of await statFiles(mnt, await ls(mnt))) {
    out.push({ name: s.name, size: s.size, mtime: s.mtime, mtimeNsec: s.mtimeNsec, content: (await cat(path.join(mnt, s.name))).stdout })
  }
  const u = await pstoreSim(['umount', mnt])
  if (u.code !== 0) throw new Error(`umount ${mnt}: ${u.stderr}`)
  return out
}

async function rmThroughMount(t: Test, dir: string, file: Buffer, name: string, setup: string[]): Promise<Buffer> {
  const img = path.join(dir, `rm-${name}.fd`)
  fs.writeFileSync(img, file)
  const mnt = path.join(dir, `rm-${name}`)
  fs.mkdirSync(mnt)
  await mountImage(t, img, mnt, setup)
  const r = await run('rm', [path.join(mnt, name)])
  t.equal(r.code, 0, `rm ${name} through the mount: ${r.stderr}`)
  t.equal((await pstoreSim(['umount', mnt])).code, 0)
  return fs.readFileSync(img)
}

function sameListing(t: Test, kernel: KernelFile[], ours: MountFile[], what: string): void {
  t.same(kernel.map((f) => f.name).sort(), ours.map((f) => f.name).sort(), `${what}: names`)
  for (const f of kernel) {
    const o = ours.find((x) => x.name === f.name)
    if (!o) continue
    t.equal(o.size, f.size, `${f.name}: size`)
    t.ok(o.content.equals(f.content), `${f.name}: content`)
    t.same([o.mtime, o.mtimeNsec], [f.mtimeSec, f.mtimeNsec], `${f.name}: mtime`)
  }
}

/** pstore's variables of two stores: the same offsets and bytes. */
function samePstoreVariables(t: Test, ours: Buffer, kernels: Buffer, what: string): void {
  t.same(
    pstoreVariables(ours).map((v) => `${v.offset.toString(16)} ${v.bytes.toString('hex')}`),
    pstoreVariables(kernels).map((v) => `${v.offset.toString(16)} ${v.bytes.toString('hex')}`),
    `${what}: pstore's variables byte for byte, at the same offsets`,
  )
}

export async function efiCompatSuite(kernel: KernelSelector): Promise<void> {
  runProductsUninstrumented()
  const skip = await kernelSkipReason(kernel)
  if (skip && process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(`kernel suite (${kernel}) required but: ${skip}`)
  const info = skip ? null : kernelInfo(kernel)
  const unavailable = skip || (info && !info.efiModule ? `${kernel} has no efi-pstore.ko in its initramfs` : false)
  const version = info?.kernelVersion ?? '6.12.0'
  const name = version.startsWith('6.1.') ? 'efi' : 'efi_pstore'
  const registered = `pstore: Registered ${name} as persistent store backend`
  const tag = `[${kernel} ${version}] efi`
  const setup = ['--backend', 'efi', '--kernel', version]
  const tempdir = (t: Test): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-efi-compat-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    return dir
  }
  const cli = async (args: string[]): Promise<string> => {
    const res = await pstoreSim(args)
    if (res.code !== 0) throw new Error(`pstore-sim ${args.join(' ')}: ${res.stderr}`)
    return res.stdout.toString()
  }

  t.test(`${tag}: pstore-sim's dumps through the kernel (list, rm)`, { skip: unavailable || false }, async (t) => {
    const dir = tempdir(t)
    const img = path.join(dir, 'vars.fd')
    await cli(['format', img, ...setup])
    const write = (n: string, text: string): string => {
      const f = path.join(dir, n)
      fs.writeFileSync(f, text)
      return f
    }
    await cli(['panic', img, '--reason', 'oops', '--log', write('a.log', logText(400, 'a')), '--time', '1700000000'])
    await cli(['panic', img, '--reason', 'oops', '--no-compress', '--log', write('b.log', logText(100, 'b')), '--time', '1700000001'])
    await cli(['panic', img, '--log', write('c.log', logText(60, 'c')), '--time', '1700000002'])
    const image = fs.readFileSync(img)
    const ours = await roListing(t, img, path.join(dir, 'ro'), setup)
    t.ok(ours.length >= 8, `${ours.length} files: multi-part dumps`)
    const victim = ours.find((f) => f.content.toString('latin1').startsWith('Oops#2 Part1\n'))?.name ?? 'none'
    const r = await runKernel({ kernel, image, efi: {}, actions: ['list', `rm:${victim}`, 'list'], timeoutMs: 300_000 })
    t.comment(`boot: /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
    t.ok(r.serial.includes(registered), registered)
    sameListing(t, r.listings[0]?.files ?? [], ours, "the kernel's listing = pstore-sim's ro mount")
    t.same(
      r.events.filter((x) => x.startsWith('RM')),
      [`RM ok name=${victim}`],
    )
    t.same(
      r.listings[1]?.files.map((f) => f.name).sort(),
      ours
        .map((f) => f.name)
        .filter((n) => n !== victim)
        .sort(),
      'after rm',
    )
    samePstoreVariables(t, await rmThroughMount(t, dir, image, victim, setup), r.region, 'rm in the guest = rm through pstore-sim')
  })

  t.test(`${tag}: the kernel's Oops and panic through pstore-sim`, { skip: unavailable || false }, async (t) => {
    const dir = tempdir(t)
    const img = path.join(dir, 'vars.fd')
    await cli(['format', img, ...setup])
    const crash = await runKernel({
      kernel,
      image: fs.readFileSync(img),
      efi: {},
      actions: ['kmsg:compat+marker', 'oops', 'sleep:2', 'panic'],
      timeoutMs: 300_000,
    })
    t.ok(crash.panicked, 'panicked')
    const store = crash.region
    const written = pstoreVariables(store)
    t.ok(written.length >= 4, `the kernel wrote ${written.length} variables`)
    const sim = efiBackend(version, store)
    const flavour = sim.setup.quirks.compression
    for (const v of written) {
      const data = store.subarray(v.dataOffset, v.dataOffset + v.dataSize)
      const text = decompress(flavour, data, 1 << 20)
      t.ok(text.ok && compress(flavour, text.data, sim.bufsize, 'deflate', true)?.equals(data), `${v.name}: pstore-sim's deflate = the kernel's bytes`)
    }
    const replay = efiBackend(version, beforePstoreWrites(store))
    for (const v of written) {
      const d = parsedName(v)
      replay.writeDmesg({
        part: d.part,
        count: d.count,
        compressed: d.compressed,
        payload: store.subarray(v.dataOffset, v.dataOffset + v.dataSize),
        time: { sec: Number(d.seconds), nsec: 0 },
      })
    }
    t.ok(replay.region.bytes.equals(store), "the kernel's writes replayed through pstore-sim = its store byte for byte")
    fs.writeFileSync(img, store)
    const ours = await roListing(t, img, path.join(dir, 'ro'), setup)
    const victim = ours[0]?.name ?? 'none'
    const next = await runKernel({ kernel, image: store, efi: {}, actions: ['list', `rm:${victim}`, 'list'], timeoutMs: 300_000 })
    sameListing(t, next.listings[0]?.files ?? [], ours, "the next boot's listing = pstore-sim's ro mount")
    samePstoreVariables(t, await rmThroughMount(t, dir, store, victim, setup), next.region, 'rm in the guest = rm through pstore-sim')
  })

  const old = path.join(repoRoot, 'test/fixtures/efi-6.1/a-oops-panic/vars-after-crash.fd.gz')
  if (name === 'efi_pstore' && fs.existsSync(old)) {
    t.test(`${tag}: a store 6.1 wrote, listed by ${version} under its own name`, { skip: unavailable || false }, async (t) => {
      const dir = tempdir(t)
      const img = path.join(dir, 'vars.fd')
      const store = gunzipSync(fs.readFileSync(old))
      fs.writeFileSync(img, store)
      const ours = await roListing(t, img, path.join(dir, 'ro'), setup)
      t.ok(ours.every((f) => f.name.startsWith('dmesg-efi_pstore-')))
      const r = await runKernel({ kernel, image: store, efi: {}, actions: ['list'], timeoutMs: 300_000 })
      sameListing(t, r.listings[0]?.files ?? [], ours, `${version} on 6.1's store = pstore-sim --kernel ${version}`)
    })
  }
}
