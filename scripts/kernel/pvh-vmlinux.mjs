#!/usr/bin/env node
// Unpacks a bzImage's compressed payload into the ELF vmlinux inside it, for QEMU's PVH boot
// (`-kernel vmlinux`: QEMU jumps to the kernel's XEN_ELFNOTE_PHYS32_ENTRY, so the guest never runs
// the decompressor). Under TCG, decompressing Debian 6.1's xz payload costs ~6 s of every boot and
// 6.12's zstd one ~2 s; the kernel that runs is the same code either way.
//
//   node scripts/kernel/pvh-vmlinux.mjs BZIMAGE OUT
//
// Exit 0: OUT written (via OUT.tmp, renamed). Exit 3: this kernel cannot boot that way (no PVH
// note, an unknown compression): the caller boots the bzImage. Exit 1: unreadable input or a
// failed decompressor.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import zlib from 'node:zlib'

const [bzImagePath, outPath] = process.argv.slice(2)
if (!bzImagePath || !outPath) {
  process.stderr.write('usage: pvh-vmlinux.mjs BZIMAGE OUT\n')
  process.exit(2)
}
const cannot = (why) => {
  process.stderr.write(`pvh-vmlinux: ${bzImagePath}: ${why}; booting the bzImage instead\n`)
  process.exit(3)
}

const image = fs.readFileSync(bzImagePath)
// x86 boot protocol (Documentation/arch/x86/boot.rst): payload_offset/length exist from 2.08 on
if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') cannot('not a bzImage')
if (image.readUInt16LE(0x206) < 0x208) cannot('boot protocol before 2.08 (no payload fields)')
const setupSects = image[0x1f1] || 4
const payloadStart = (setupSects + 1) * 512 + image.readUInt32LE(0x248)
const payload = image.subarray(payloadStart, payloadStart + image.readUInt32LE(0x24c))

/** xz and zstd payloads carry the uncompressed size as a trailing le32 (the kernel's size_append). */
function runDecompressor(cmd, args) {
  const sized = payload.subarray(0, payload.length - 4)
  const r = spawnSync(cmd, args, { input: sized, maxBuffer: 1 << 30 })
  if (r.error || r.status !== 0) {
    process.stderr.write(`pvh-vmlinux: ${cmd} failed on ${bzImagePath}: ${r.error?.message ?? r.stderr.toString().trim()}\n`)
    process.exit(1)
  }
  const expected = payload.readUInt32LE(payload.length - 4)
  if (r.stdout.length !== expected) {
    process.stderr.write(`pvh-vmlinux: ${cmd} gave ${r.stdout.length} bytes, the bzImage says ${expected}\n`)
    process.exit(1)
  }
  return r.stdout
}

const magic = payload.subarray(0, 6)
let vmlinux
if (magic[0] === 0x1f && magic[1] === 0x8b) vmlinux = zlib.gunzipSync(payload)
else if (magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) vmlinux = runDecompressor('xz', ['-dc', '--single-stream'])
else if (magic.readUInt32LE(0) === 0xfd2fb528) vmlinux = runDecompressor('zstd', ['-dc', '-q'])
else cannot(`unknown payload compression (magic ${magic.toString('hex')})`)

// ELF64 little-endian; the decompressed payload is vmlinux followed by its relocations
if (vmlinux.readUInt32BE(0) !== 0x7f454c46 || vmlinux[4] !== 2 || vmlinux[5] !== 1) cannot('payload is not an ELF64 LE image')
const phoff = Number(vmlinux.readBigUInt64LE(0x20))
const shoff = Number(vmlinux.readBigUInt64LE(0x28))
const phentsize = vmlinux.readUInt16LE(0x36)
const phnum = vmlinux.readUInt16LE(0x38)
const shentsize = vmlinux.readUInt16LE(0x3a)
const shnum = vmlinux.readUInt16LE(0x3c)
let elfEnd = Math.max(phoff + phentsize * phnum, shoff + shentsize * shnum)
let pvhEntry = false
for (let i = 0; i < phnum; i++) {
  const ph = phoff + i * phentsize
  const offset = Number(vmlinux.readBigUInt64LE(ph + 8))
  const size = Number(vmlinux.readBigUInt64LE(ph + 32))
  elfEnd = Math.max(elfEnd, offset + size)
  if (vmlinux.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue
  for (let n = offset; n + 12 <= offset + size; ) {
    const namesz = vmlinux.readUInt32LE(n)
    const descsz = vmlinux.readUInt32LE(n + 4)
    const type = vmlinux.readUInt32LE(n + 8)
    const name = vmlinux.toString('latin1', n + 12, n + 12 + namesz)
    if (name === 'Xen\0' && type === 18 /* XEN_ELFNOTE_PHYS32_ENTRY */) pvhEntry = true
    n += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
  }
}
if (!pvhEntry) cannot('no PVH entry note (CONFIG_PVH is off)')

const tmp = `${outPath}.tmp`
fs.rmSync(tmp, { force: true })
const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644)
fs.writeSync(fd, vmlinux, 0, Math.min(elfEnd, vmlinux.length))
fs.closeSync(fd)
fs.renameSync(tmp, outPath)
