/**
 * What `pstore-sim inspect` prints for people: the setup, every zone and every record of an
 * Inspection (machine/inspect.ts), with the CLI's advice (`--kernel`) where the setup and the
 * dump disagree.
 */

import { LINUX_EFI_CRASH_GUID_TEXT } from '../backend/efi/dumpName.js'
import type { EfiSetupJson } from '../backend/efi/efiSetup.js'
import type { EfiFate } from '../backend/efi/readPass.js'
import type { ErstSetupJson } from '../backend/erst/erstSetup.js'
import type { RamoopsSetupJson } from '../backend/ramoops/ramoopsSetup.js'
import type { EfiDescription, ErstDescription, Inspection } from '../machine/inspect.js'
import type { ZoneVerdict } from '../machine/zoneVerdict.js'

const hex = (n: number) => '0x' + n.toString(16)

/** For a record left compressed: which algorithms' decoders take its bytes. */
function matchText(names: string[] | undefined): string {
  if (!names) return ''
  return names.length ? `; its bytes decode as ${names.join(' or ')}` : '; its bytes decode with none of deflate, lzo, lz4, lz4hc, 842, zstd'
}

function ftraceNote(r: Inspection): string[] {
  const k = r.ftraceKernel
  if (!k || k.matchesSetup) return []
  const capped = k.version.endsWith('.255') ? ' (sublevel 255 or more)' : ''
  return [
    `ftrace  the ftrace zones are signed by kernel ${k.version}${capped} (${k.signature}), not the setup's ${r.setup.kernel}: ` +
      `a ${r.setup.kernel} kernel would zap them at boot and show no ftrace record; read them with --kernel ${k.version} (or --kernel auto)`,
  ]
}

/** What the kernel makes of a slot's ids that a reader of the CPER header would not expect. */
function slotNote(s: ErstDescription['slots'][number]): string {
  if (s.recordId === '18446744073709551615') return "  (an all-ones id: the kernel's listing ends here)"
  if (s.headerId !== undefined && s.headerId !== s.recordId)
    return `  (its CPER header says record_id ${s.headerId}: the kernel names the file by the map's id)`
  return ''
}

/**
 * The records section every backend's text ends with: why the read pass fails, if it does, then
 * a line a record; `algorithms`: what a compressed record's bytes decode as (ERST's text has none).
 */
function recordLines(r: Inspection, nameWidth: number, algorithms: boolean): string[] {
  const lines = ['', r.records.length ? 'records:' : 'records: none']
  if (r.readPassFailure) lines.push(`  (the kernel's read pass fails, so it lists no file at all: ${r.readPassFailure})`)
  for (const rec of r.records) {
    const matches = algorithms ? matchText(rec.compressedWith) : ''
    const note = rec.inflateError ? `  (not inflated: ${rec.inflateError}${matches})` : algorithms && rec.compressedWith ? `  (${rec.compressedWith[0]})` : ''
    lines.push(`  ${rec.name.padEnd(nameWidth)} ${String(rec.size).padStart(8)} bytes${rec.mtime ? `  ${rec.mtime}` : ''}${note}`)
  }
  return lines
}

function formatErst(r: Inspection, e: NonNullable<Inspection['erst']>, s: ErstSetupJson): string {
  const h = e.header
  const lines = [
    `image   ${r.image}`,
    `setup   erst: size ${hex(s.size)} record_size ${hex(h.recordSize || s.record_size)} (bufsize ${e.bufsize}) kernel ${s.kernel}`,
    `header  magic ${h.magic} storage_offset ${hex(h.storageOffset)} version ${hex(h.version)} record_count ${h.recordCount}${e.invalid ? `  INVALID: ${e.invalid}` : ''}`,
    '',
    'slot  record id              length  time        section   part',
  ]
  for (const s of e.slots) {
    if (s.recordId === null) lines.push(`${String(s.slot).padEnd(5)} free`)
    else if (s.error) lines.push(`${String(s.slot).padEnd(5)} ${s.recordId.padEnd(22)} ${s.error}${slotNote(s)}`)
    else
      lines.push(
        `${String(s.slot).padEnd(5)} ${s.recordId.padEnd(22)} ${String(s.length).padEnd(7)} ${String(s.timestamp).padEnd(11)} ${String(s.section).padEnd(9)} ${s.part ?? (s.section === 'dmesg-z' ? '(compressed)' : '')}${s.creator === 'pstore' ? '' : '  (not pstore)'}${slotNote(s)}`,
      )
  }
  lines.push(...recordLines(r, 32, false))
  return lines.join('\n') + '\n'
}

const EFI_FATE_WORDS: Record<EfiFate, string> = {
  lists: 'lists',
  'enc.z': 'shows it as .enc.z',
  'ends-read-pass': 'ENDS THE READ PASS',
  'not-read': 'NOT READ',
  ignored: 'ignores it',
  skipped: 'skips it',
  duplicate: 'DROPS it (duplicate)',
}

/** One variable's fate under the target kernel: efi-pstore's variables, and a firmware variable only where it ends the pass. */
function efiVerdictLine(v: EfiDescription['variables'][number], kernel: string): string[] {
  const verdict = v.verdict
  if (!verdict || (v.guid !== LINUX_EFI_CRASH_GUID_TEXT && verdict.fate !== 'ends-read-pass')) return []
  return [`          -> ${kernel} ${EFI_FATE_WORDS[verdict.fate]}${verdict.file ? ` ${verdict.file}` : ''}: ${verdict.why} [${verdict.kernel}]`]
}

function formatEfi(r: Inspection, e: NonNullable<Inspection['efi']>, s: EfiSetupJson): string {
  const st = e.store
  const lines = [
    `image   ${r.image}`,
    `setup   efi: store ${s.size} bytes, record_size ${s.record_size} kernel ${s.kernel}`,
    e.invalid
      ? `store   INVALID: ${e.invalid} (OVMF offers no variable services: efi-pstore does not register, no file)`
      : `store   variables ${hex(st?.start ?? 0)}..${hex(st?.end ?? 0)}, free from ${hex(st?.freeOffset ?? 0)} (${st?.freeBytes} bytes), ${st?.deletedBytes} bytes of deleted variables, QueryVariableInfo remaining ${st?.remaining}`,
    ...(e.readPass ? [`read    ${e.readPass.reads} pstore variable(s) read; the pass ends: ${e.readPass.stop}`] : []),
    ...e.areas.map((a) => `area    ${hex(a.offset).padEnd(9)} ${String(a.size).padEnd(7)} ${a.label}`),
    '',
    'offset    state  attr  size   name (guid)',
  ]
  for (const v of e.variables) {
    const what = v.pstore ? `  id ${v.pstore.id}` : ''
    lines.push(
      `${hex(v.offset).padEnd(9)} ${v.state.padEnd(6)} ${String(v.attributes).padEnd(5)} ${String(v.dataSize).padEnd(6)} ${v.name} (${v.guid})${v.live ? (v.inTransition ? '  in delete transition' : '') : '  deleted'}${what}`,
      ...efiVerdictLine(v, r.setup.kernel),
    )
  }
  lines.push(...recordLines(r, 32, true))
  return lines.join('\n') + '\n'
}

const FATE_WORDS: Record<ZoneVerdict['fate'], string> = {
  keeps: 'keeps',
  empty: 'nothing to keep',
  zaps: 'ZAPS',
  'ends-read-pass': 'ENDS THE READ PASS',
  'not-read': 'NOT READ',
  'enc.z': 'shows it as .enc.z',
}

/** One zone's fate under the target kernel, with the kernel code that decides it. */
function verdictLine(v: ZoneVerdict, kernel: string): string {
  return `-> ${kernel} ${FATE_WORDS[v.fate]}${v.file ? ` ${v.file}` : ''}: ${v.why} [${v.kernel}]`
}

/** What --detect found, and the setup as a board takes it. */
function detectedText(r: Inspection): string[] {
  const d = r.detected
  if (!d) return []
  const f = d.forms
  const lines = [
    '',
    'detected from the bytes:',
    ...d.told.map((t) => `  ${t}`),
    'not in the bytes:',
    ...d.unknowns.map((t) => `  ${t}`),
    '',
    'as pstore-sim flags (what you would pass instead of --detect):',
    `  ${f.pstoreSim}`,
    'as module parameters:',
    `  ${f.moduleParams}`,
  ]
  lines.push('on the kernel command line:', `  ${f.cmdline}`)
  if (f.qemu) lines.push('as QEMU options:', `  ${f.qemu}`)
  if (f.devicetree) lines.push('as a device-tree node:', ...f.devicetree.split('\n').map((l) => `  ${l}`))
  if (f.uboot.args) lines.push("U-Boot's pstore:", `  ${f.uboot.args}`)
  else if (f.uboot.why) lines.push(`U-Boot's pstore cannot read it: ${f.uboot.why}`)
  for (const c of f.uboot.caveats) lines.push(`  (${c})`)
  if (d.backend === 'ramoops') lines.push('(ADDRESS: the physical address the region was reserved at)')
  lines.push('')
  return lines
}

export function formatInspection(r: Inspection): string {
  return formatSetupAndZones(r).replace(
    /^(setup .*\n(?:next .*\n)?)/m,
    (m) =>
      m +
      detectedText(r)
        .map((l) => l + '\n')
        .join(''),
  )
}

function ramoopsSetupLine(s: RamoopsSetupJson): string {
  const perCpu = s.ftracePerCpu ? ` (per CPU, ${s.cpus} CPUs)` : ''
  return `setup   ${s.source}: mem_size ${hex(s.memSize)} record ${hex(s.recordSize)} console ${hex(s.consoleSize)} pmsg ${hex(s.pmsgSize)} ftrace ${hex(s.ftraceSize)}${perCpu} ecc ${s.eccSize} max_reason ${s.maxReason} kernel ${s.kernel}`
}

function formatSetupAndZones(r: Inspection): string {
  const s = r.setup
  if (r.erst && s.backend === 'erst') return formatErst(r, r.erst, s)
  if (r.efi && s.backend === 'efi') return formatEfi(r, r.efi, s)
  const b = r.blk
  const setupLine = b
    ? `setup   pstore_blk: ${Object.entries(b.params)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} (sizes in KiB), disk ${b.diskSize} bytes, kernel ${s.kernel}\n` +
      `next    dump to dmesg zone ${b.next.writeCnt}; Oops counter ${b.next.oopsCounter}, Panic counter ${b.next.panicCounter} (continued from the disk)`
    : undefined
  const lines = [
    `image   ${r.image}`,
    setupLine ?? (s.backend === 'ramoops' ? ramoopsSetupLine(s) : `setup   ${s.backend} kernel ${s.kernel}`),
    ...ftraceNote(r),
    '',
    'zone        offset     size       capacity   sig         valid  start      used       boot',
  ]
  for (const z of r.zones) {
    const name = `${z.type}[${z.index}]`.padEnd(11)
    lines.push(
      `${name} ${hex(z.offset).padEnd(10)} ${String(z.size).padEnd(10)} ${String(z.capacity).padEnd(10)} ${z.signature}  ${(z.signatureValid ? 'yes' : 'no').padEnd(6)} ${String(z.start).padEnd(10)} ${String(z.used).padEnd(10)} ${z.bootOutcome}${z.ecc ? ` ecc: ${z.ecc.correctedBytes} corrected, ${z.ecc.badBlocks} bad` : ''}`,
    )
    if (z.verdict && z.verdict.fate !== 'empty') lines.push(`            ${verdictLine(z.verdict, r.setup.kernel)}`)
  }
  lines.push(`unused tail: ${r.unusedTail.size} bytes at ${hex(r.unusedTail.offset)}`, ...recordLines(r, 24, true))
  return lines.join('\n') + '\n'
}
