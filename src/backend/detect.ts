/**
 * Which backend an image is for and the setup its own bytes tell (`--detect`): an ERST file by
 * QEMU's "ERSTSTOR" header, a UEFI variable store by its firmware volume and variable store
 * headers (efi/), a pstore/blk disk by its zone signatures and kmsg headers, anything
 * else as a ramoops region (backend/ramoops/detect.ts). What the bytes tell is never asked for;
 * what they cannot tell is said (`unknowns`), and the setup is printed in the forms a board takes
 * it in (module parameters, command line, device tree, U-Boot's `pstore set`).
 */
import { KMSG_HEADER_MAGIC } from './blk/dmesgZone.js'
import { PSTORE_TYPE_ID, PSZ_SIG } from './blk/layout.js'
import type { Detection, SetupForms } from './detection.js'
import { detectEfi } from './efi/detect.js'
import { ERST_MAGIC } from './erst/storage.js'
import { DetectError, type DetectedRamoops, detectRamoops } from './ramoops/detect.js'
import type { TargetOptions } from './target.js'

export type { Detection, SetupForms } from './detection.js'
export { DetectError }

const hex = (n: number) => '0x' + n.toString(16)

/** A version whose layout quirks are the ones seen (zone order, even rounding), for a dump that signs none. */
function representativeKernel(d: DetectedRamoops): string {
  if (d.pmsgBeforeFtrace === false) return d.evenZoneSizes === false ? '6.1.0' : '6.1.192'
  return d.evenZoneSizes === false ? '6.7.0' : '6.12.0'
}

function ramoopsForms(d: DetectedRamoops): SetupForms {
  const record = d.recordSize.max
  const sizes: Array<[string, number]> = [
    ['mem_size', d.memSize],
    ['record_size', record],
    ['console_size', d.consoleSize],
    ['ftrace_size', d.ftraceSize],
    ['pmsg_size', d.pmsgSize],
  ]
  const words = ['mem_address=ADDRESS', ...sizes.map(([k, v]) => `${k}=${hex(v)}`), `ecc=${d.eccSize}`]
  const dt = [
    'reserved-memory {',
    '\t#address-cells = <2>;',
    '\t#size-cells = <2>;',
    '\tranges;',
    '\tramoops@ADDRESS {',
    '\t\tcompatible = "ramoops";',
    `\t\treg = <0x0 ADDRESS 0x0 ${hex(d.memSize)}>;`,
    `\t\trecord-size = <${hex(record)}>;`,
    `\t\tconsole-size = <${hex(d.consoleSize)}>;`,
    `\t\tftrace-size = <${hex(d.ftraceSize)}>;`,
    `\t\tpmsg-size = <${hex(d.pmsgSize)}>;`,
    ...(d.eccSize ? [`\t\tecc-size = <${d.eccSize}>;`] : []),
    ...(d.cpus > 1 ? ['\t\tflags = <0x1>; /* per-CPU ftrace zones */'] : []),
    '\t};',
    '};',
  ].join('\n')
  const flags = [
    `--mem-size ${hex(d.memSize)} --record-size ${hex(record)} --console-size ${hex(d.consoleSize)}`,
    `--ftrace-size ${hex(d.ftraceSize)} --pmsg-size ${hex(d.pmsgSize)} --ecc ${d.eccSize}`,
    ...(d.cpus > 1 ? [`--cpus ${d.cpus}`] : []),
  ].join(' ')
  return {
    moduleParams: words.join(' '),
    cmdline: words.map((w) => `ramoops.${w}`).join(' '),
    devicetree: dt,
    uboot: ubootForm(d),
    pstoreSim: flags,
  }
}

/**
 * U-Boot's cmd/pstore.c steps dmesg zones by record_size from the start, puts console at
 * len - pmsg - ftrace - console, one ftrace zone after it and pmsg last (the 6.1 order); it
 * decodes neither ECC nor compressed records.
 */
function ubootForm(d: DetectedRamoops): SetupForms['uboot'] {
  const dmesg = d.zones.filter((z) => z.type === 'dmesg')
  const ftrace = d.zones.filter((z) => z.type === 'ftrace')
  const area = d.memSize - d.consoleSize - d.ftraceSize - d.pmsgSize
  const caveats: string[] = []
  let why: string | undefined
  if (dmesg.length && (dmesg[0].size !== d.recordSize.max || dmesg.length * dmesg[0].size !== area))
    why = `the kernel's dmesg zones are ${dmesg[0].size} bytes apart (${area} bytes shared by ${dmesg.length}), but U-Boot steps by record-size and expects the console zone right after ${Math.floor(area / d.recordSize.max)} whole records of record-size`
  else if (d.pmsgBeforeFtrace && d.pmsgSize && d.ftraceSize)
    why = "this region has pmsg before ftrace (Linux 6.2+); U-Boot reads the 6.1 order (ftrace before pmsg) and would read each zone at the other's place"
  if (ftrace.length > 1) caveats.push(`U-Boot reads only the first of the ${ftrace.length} per-CPU ftrace zones`)
  if (d.eccSize) caveats.push('U-Boot does not check or correct ECC: it shows the bytes as they are')
  caveats.push('U-Boot shows no compressed dmesg record ("Compressed buffer, display not available")')
  if (why) return { why, caveats }
  const args = [d.memSize, d.recordSize.max, d.consoleSize, d.ftraceSize, d.pmsgSize, d.eccSize].map(hex).join(' ')
  return { args: `pstore set ADDRESS ${args}`, caveats }
}

function detectErst(bytes: Buffer): Detection | undefined {
  if (bytes.length < 24 || bytes.readBigUInt64LE(0) !== ERST_MAGIC) return undefined
  const recordSize = bytes.readUInt32LE(8)
  const words = `-object memory-backend-file,id=erstnvram,mem-path=FILE,size=${hex(bytes.length)},share=on -device acpi-erst,memdev=erstnvram,record_size=${hex(recordSize)}`
  return {
    backend: 'erst',
    source: { backend: 'erst', erst: { size: bytes.length, record_size: recordSize }, target: {} },
    told: [`QEMU acpi-erst backing file ("ERSTSTOR" header): size ${hex(bytes.length)} (the file's), record_size ${hex(recordSize)} (the header's)`],
    unknowns: ['kernel version: ERST records carry none', 'pstore.compress: only the records already written tell it'],
    forms: {
      moduleParams: '(none: ERST is built into the kernel)',
      cmdline: '(none)',
      uboot: { why: 'U-Boot reads ramoops regions only', caveats: [] },
      qemu: words,
      pstoreSim: `--backend erst --erst-size ${hex(bytes.length)} --erst-record-size ${hex(recordSize)}`,
    },
  }
}

/** pstore/blk: dmesg zones carry "DBGC" and the 40-byte kmsg header's magic; the others "DBGC" XOR their type. */
function detectBlk(bytes: Buffer): Detection | undefined {
  const total = Math.min(bytes.length, 128 * 1024 * 1024)
  if (total % 4096 !== 0) return undefined
  const typeOf = new Map(Object.entries(PSTORE_TYPE_ID).map(([t, id]) => [(PSZ_SIG ^ id) >>> 0, t]))
  const zones: Array<{ type: string; offset: number; datalen: number }> = []
  for (let at = 0; at + 16 <= total; at += 4096) {
    const type = typeOf.get(bytes.readUInt32LE(at))
    if (!type) continue
    if (type === 'dmesg' && (at + 16 > total || bytes.readUInt32LE(at + 12) !== KMSG_HEADER_MAGIC)) continue
    zones.push({ type, offset: at, datalen: bytes.readInt32LE(at + 4) })
  }
  const dmesg = zones.filter((z) => z.type === 'dmesg')
  if (!dmesg.length) return undefined
  const first = dmesg[0].offset
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a)
  let kmsg = dmesg.slice(1).reduce((g, z) => gcd(g, z.offset - first), 0)
  const unknowns: string[] = []
  if (!kmsg) {
    kmsg = Math.ceil((dmesg[0].datalen + 12) / 4096) * 4096
    unknowns.push(`kmsg_size: one dmesg zone is written; ${kmsg / 1024} KiB holds it, any size up to ${(total - first) / 1024} KiB would too`)
  }
  const front = zones.filter((z) => z.offset < first)
  const sizes: Record<string, number> = { pmsg: 0, console: 0, ftrace: 0 }
  if (front.length) {
    for (let i = 0; i < front.length; i++) sizes[front[i].type] += (i + 1 < front.length ? front[i + 1].offset : first) - front[i].offset
  } else if (first) {
    sizes.pmsg = first
    unknowns.push(
      `the ${first / 1024} KiB before the first dmesg zone hold pmsg, console or ftrace zones never written: their split is not in the bytes (shown as pmsg)`,
    )
  }
  unknowns.push('blkdev: the disk it was on', 'kernel version: pstore/blk zones carry none')
  const words = [
    `pstore_blk.blkdev=/dev/vda`,
    `pstore_blk.kmsg_size=${kmsg / 1024}`,
    ...['pmsg', 'console', 'ftrace'].filter((t) => sizes[t]).map((t) => `pstore_blk.${t}_size=${sizes[t] / 1024}`),
    'pstore_blk.best_effort=y',
  ]
  return {
    backend: 'blk',
    source: { backend: 'blk', cmdline: words.join(' '), diskSize: bytes.length, target: {} },
    told: [`pstore/blk disk: ${dmesg.length} written dmesg zone(s) from ${hex(first)}, ${kmsg / 1024} KiB apart`],
    unknowns,
    forms: {
      moduleParams: words.map((w) => w.slice('pstore_blk.'.length)).join(' '),
      cmdline: words.join(' '),
      uboot: { why: 'U-Boot reads ramoops regions only', caveats: [] },
      pstoreSim: `--backend blk --cmdline '${words.join(' ')}'`,
    },
  }
}

/** The setup an image's bytes tell; `target` is the user's (their kernel and CPUs win). */
export function detectSetup(bytes: Buffer, target: TargetOptions): Detection {
  const efi = detectEfi(bytes, target)
  if (efi) return efi
  const other = detectErst(bytes) ?? detectBlk(bytes)
  if (other) return { ...other, source: { ...other.source, target: { ...other.source.target, ...target } } }
  const d = detectRamoops(bytes, target.kernel)
  const kernel = target.kernel ?? (d.signedKernel ? `${d.signedKernel.major}.${d.signedKernel.minor}.${d.signedKernel.patch}` : representativeKernel(d))
  const told = [
    `ramoops region of ${hex(d.memSize)} bytes: ${d.zones.filter((z) => z.type === 'dmesg').length} dmesg zones, console ${hex(d.consoleSize)}, pmsg ${hex(d.pmsgSize)}, ftrace ${hex(d.ftraceSize)}${d.ftraceSize ? ` in ${d.cpus} per-CPU zone(s)` : ''}`,
    d.eccSize ? `ECC: ${d.eccSize} parity bytes per 128-byte block (the header parity checks)` : 'ECC: off (no header parity checks)',
    ...(d.signedKernel ? [`kernel ${d.signedKernel.major}.${d.signedKernel.minor}.${d.signedKernel.patch} signed the ftrace zones`] : []),
    ...(d.pmsgBeforeFtrace !== undefined ? [`zone order: ${d.pmsgBeforeFtrace ? 'pmsg before ftrace (6.2+)' : 'ftrace before pmsg (6.1 and earlier)'}`] : []),
  ]
  if (!target.kernel && !d.signedKernel) told.push(`kernel ${kernel} assumed (a version with the layout seen; give --kernel)`)
  return {
    backend: 'ramoops',
    source: {
      backend: 'ramoops',
      params: {
        mem_size: d.memSize,
        record_size: d.recordSize.max,
        console_size: d.consoleSize,
        ftrace_size: d.ftraceSize,
        pmsg_size: d.pmsgSize,
        ecc: d.eccSize,
      },
      target: { cpus: d.cpus, ...target, kernel },
    },
    told,
    unknowns: d.unknowns,
    forms: ramoopsForms(d),
    ramoops: d,
  }
}
