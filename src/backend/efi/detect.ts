/**
 * `--detect` for a UEFI variable store: recognised by its firmware volume header ("_FVH") or
 * the authenticated variable store header after it. What the file tells is taken (its size, the
 * store's bounds, the record size the largest efi-pstore variable needs); what it cannot tell is
 * said: the variable names carry no kernel version, and the version names the files
 * (`dmesg-efi-ID` up to 6.1, `dmesg-efi_pstore-ID` from 6.2) and decides record_size.
 */
import { DEFAULT_KERNEL, formatKernelVersion, parseKernelVersion } from '../../format/kernelVersion.js'
import { RegionImage } from '../../format/region.js'
import type { Detection } from '../detection.js'
import type { TargetOptions } from '../target.js'
import { LINUX_EFI_CRASH_GUID_TEXT } from './dumpName.js'
import { EFI_RECORD_SIZE_MIN, type EfiParams, efiBackendName, hasRecordSizeParam } from './efiSetup.js'
import { AUTH_STORE_GUID, FV_HEADER_LENGTH, guidBytes, isLive, VariableStore } from './varstore.js'

const hex = (n: number) => '0x' + n.toString(16)
const CRASH_GUID = guidBytes(LINUX_EFI_CRASH_GUID_TEXT)

/** A firmware volume header, or an authenticated store header where OVMF puts it: this file is a variable store. */
export function looksLikeVarstore(bytes: Buffer): boolean {
  if (bytes.length < FV_HEADER_LENGTH + 16) return false
  return bytes.toString('latin1', 40, 44) === '_FVH' || bytes.subarray(FV_HEADER_LENGTH, FV_HEADER_LENGTH + 16).equals(AUTH_STORE_GUID)
}

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(n))

/** record_size: what the largest efi-pstore variable tells, on a kernel that has the parameter. */
function recordSizeOf(largest: number, kernelGiven: string | undefined): { params: EfiParams; told: string[]; unknowns: string[] } {
  const kernel = parseKernelVersion(kernelGiven ?? DEFAULT_KERNEL)
  if (largest > EFI_RECORD_SIZE_MIN && !hasRecordSizeParam(kernel))
    return {
      params: {},
      told: [
        `the largest efi-pstore variable holds ${largest} bytes, more than the ${EFI_RECORD_SIZE_MIN} a ${formatKernelVersion(kernel)} kernel reads: a 6.2+ kernel with efi_pstore.record_size wrote it`,
      ],
      unknowns: [],
    }
  if (largest > EFI_RECORD_SIZE_MIN) {
    const size = nextPowerOfTwo(largest)
    return {
      params: { record_size: size },
      told: [`efi_pstore.record_size is at least ${largest} (the largest efi-pstore variable's data): a 6.2+ kernel wrote it`],
      unknowns: [
        `record_size: ${size} assumed (the next power of two); any value from ${largest} lists the same files, but the kernel splits its next dumps by it`,
      ],
    }
  }
  return {
    params: {},
    told: [],
    unknowns: [
      largest
        ? `record_size: every efi-pstore variable fits the default ${EFI_RECORD_SIZE_MIN} (the largest holds ${largest} bytes); a 6.2+ kernel may have had a larger efi_pstore.record_size`
        : `record_size: no efi-pstore variable to tell it (default ${EFI_RECORD_SIZE_MIN})`,
    ],
  }
}

/** The store's bounds and contents, one line. */
function storeLine(bytes: Buffer, store: VariableStore): string {
  const g = store.geometry()
  const variables = store.variables()
  const pstore = variables.filter((v) => v.guid.equals(CRASH_GUID))
  const fvLength = Number(bytes.readBigUInt64LE(32))
  const free = g.end - store.freeOffset(variables)
  return (
    `UEFI variable store (firmware volume "_FVH", authenticated store header at ${hex(g.headerAt)}): file ${hex(bytes.length)} bytes` +
    `${fvLength !== bytes.length ? ` (the volume's FvLength says ${hex(fvLength)})` : ''}, variables ${hex(g.start)}..${hex(g.end)}; ` +
    `${variables.length} variables (${pstore.length} efi-pstore's, ${variables.filter((v) => !isLive(v.state)).length} deleted), ${free} bytes free`
  )
}

export function detectEfi(bytes: Buffer, target: TargetOptions): Detection | undefined {
  if (!looksLikeVarstore(bytes)) return undefined
  const store = new VariableStore(RegionImage.fromBuffer(bytes, true))
  const bad = store.invalid()
  const variables = bad ? [] : store.variables()
  const largest = Math.max(0, ...variables.filter((v) => isLive(v.state) && v.guid.equals(CRASH_GUID)).map((v) => v.dataSize))
  const sizes = bad ? { params: {}, told: [], unknowns: ['record_size: the store cannot be read to tell it'] } : recordSizeOf(largest, target.kernel)
  const kernel = target.kernel ?? DEFAULT_KERNEL
  const name = efiBackendName(parseKernelVersion(kernel))
  const told = [
    bad ? `a UEFI firmware volume or variable store header, but OVMF would not use it: ${bad}` : storeLine(bytes, store),
    ...sizes.told,
    `files named ${`dmesg-${name}-ID`} (${name === 'efi' ? 'kernels up to 6.1' : 'kernels 6.2 and later'})`,
  ]
  if (!target.kernel) told.push(`kernel ${kernel} assumed (a variable store carries no kernel version; give --kernel)`)
  const params: EfiParams = { ...sizes.params, size: bytes.length }
  const recordWords = params.record_size ? `record_size=${params.record_size}` : undefined
  return {
    backend: 'efi',
    source: { backend: 'efi', efi: params, target: { ...target, kernel } },
    told,
    unknowns: [
      ...sizes.unknowns,
      'kernel version: efi-pstore variable names carry none, and it names the files (dmesg-efi-ID up to 6.1, dmesg-efi_pstore-ID from 6.2)',
      'printk.always_kmsg_dump: a variable name does not say why the kernel dumped',
      'pstore.compress: "-C" says a record is compressed, not with what',
    ],
    forms: {
      moduleParams: recordWords ?? '(none: efi-pstore.ko with its defaults)',
      cmdline: recordWords ? `efi_pstore.${recordWords}` : '(none)',
      qemu: '-drive if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=FILE',
      uboot: { why: 'U-Boot reads ramoops regions only', caveats: [] },
      pstoreSim: `--backend efi${params.record_size ? ` --efi-record-size ${params.record_size}` : ''} --kernel ${kernel}`,
    },
  }
}
