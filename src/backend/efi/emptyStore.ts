/**
 * The empty variable store OVMF's 4 MiB build ships (Debian's /usr/share/OVMF/OVMF_VARS_4M.fd),
 * written from its layout (OvmfPkg's VarStore.fdf.inc for FD_SIZE_4MB) rather than copied:
 *
 *   0x00000  firmware volume header, FvLength 0x84000 = 0x84 blocks of 4 KiB
 *   0x00048  authenticated variable store header, Size 0x40000 - 0x48; no variable yet
 *   0x40000  event log block (erased)
 *   0x41000  fault-tolerant-write working block: its 32-byte header, the rest erased
 *   0x42000  fault-tolerant-write spare area (erased), to 0x84000
 */
import fs from 'node:fs'
import { RegionImage } from '../../format/region.js'
import { crc32 } from '../../util/crc32.js'
import { EfiSetupError } from './efiSetup.js'
import { AUTH_STORE_GUID, FTW_WORKING_GUID, FV_HEADER_LENGTH, FV_SYSTEM_GUID, OVMF_4M_SIZE, STORE_FORMATTED, STORE_HEALTHY, VariableStore } from './varstore.js'

const BLOCK = 0x1000
const VARIABLE_AREA = 0x40000
const FTW_WORKING_AT = 0x41000

/** EFI_FVB2 attributes of OVMF's NV store: read/write enabled and status, lock capabilities, erase polarity 1, alignment 16. */
const FV_ATTRIBUTES = 0x0004feff

/** The empty store's bytes. */
export function emptyOvmfStore(): Buffer {
  const b = Buffer.alloc(OVMF_4M_SIZE, 0xff)
  const fv = Buffer.alloc(FV_HEADER_LENGTH)
  FV_SYSTEM_GUID.copy(fv, 16)
  fv.writeBigUInt64LE(BigInt(OVMF_4M_SIZE), 32)
  fv.write('_FVH', 40, 'latin1')
  fv.writeUInt32LE(FV_ATTRIBUTES, 44)
  fv.writeUInt16LE(FV_HEADER_LENGTH, 48)
  fv[55] = 2 // Revision
  fv.writeUInt32LE(OVMF_4M_SIZE / BLOCK, 56)
  fv.writeUInt32LE(BLOCK, 60)
  fv.writeUInt16LE(fvChecksum(fv), 50)
  fv.copy(b, 0)

  const store = Buffer.alloc(28)
  AUTH_STORE_GUID.copy(store, 0)
  store.writeUInt32LE(VARIABLE_AREA - FV_HEADER_LENGTH, 16)
  store[20] = STORE_FORMATTED
  store[21] = STORE_HEALTHY
  store.copy(b, FV_HEADER_LENGTH)

  b.set(ftwWorkingHeader(), FTW_WORKING_AT)
  return b
}

/** The u16 that makes the header's words sum to 0. */
function fvChecksum(header: Buffer): number {
  let sum = 0
  for (let i = 0; i < header.length; i += 2) sum = (sum + header.readUInt16LE(i)) & 0xffff
  return (0x10000 - sum) & 0xffff
}

/**
 * EFI_FAULT_TOLERANT_WORKING_BLOCK_HEADER: the CRC32 is taken with the Crc field and the state
 * bits erased (all ones); then WorkingBlockValid is cleared (bit 0 of the state byte), the queue
 * size is the rest of the block.
 */
function ftwWorkingHeader(): Buffer {
  const h = Buffer.alloc(32, 0xff)
  FTW_WORKING_GUID.copy(h, 0)
  h.writeBigUInt64LE(BigInt(BLOCK - 32), 24)
  h.writeUInt32LE(crc32(h), 16)
  h[20] = 0xfe
  return h
}

/**
 * The bytes `format` writes: OVMF's empty 4 MiB store, or a firmware's own empty store
 * (`--efi-vars-template`), checked to be a variable store OVMF would use before anything is written.
 */
export function initialStore(template: string | undefined): Buffer {
  if (template === undefined) return emptyOvmfStore()
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(template)
  } catch (err) {
    throw new EfiSetupError(
      `${template}: cannot read the variable store template (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'varsTemplate',
    )
  }
  const bad = new VariableStore(RegionImage.fromBuffer(bytes, true)).invalid()
  if (bad) throw new EfiSetupError(`${template} is not a firmware variable store: ${bad}`, 'varsTemplate')
  return bytes
}
