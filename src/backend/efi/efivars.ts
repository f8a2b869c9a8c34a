/**
 * The variable store as Linux's efivarfs shows it on /sys/firmware/efi/efivars (fs/efivarfs:
 * super.c builds the list at mount, inode.c names and protects, file.c reads), without FUSE:
 *
 * - the list is built once, when efivarfs is mounted (here: at every boot of the machine), by
 *   walking GetNextVariableName() with a 512-byte name buffer (efivar_init()): a name larger than
 *   that, or a name and GUID already listed (buggy firmware), ends the walk; 6.2+ hides the
 *   random-seed GUID's variables. Nothing else adds or removes files but an unlink through
 *   efivarfs itself: efi-pstore's SetVariable() calls do not tell efivarfs, so a variable pstore
 *   erased stays listed until the next boot (reading it then gives 0 bytes, as file.c does on
 *   EFI_NOT_FOUND) and a dump written now appears only after a reboot.
 * - a file is `<name>-<vendor GUID, lower case>`, '/' in the name written '!', mode 0644, its size
 *   4 + the data's size when listed; its content, read from the store at each read, is the
 *   variable's attributes (u32 little-endian) followed by its data (GetVariable()).
 * - only the variables in the kernel's validation table (vars.c variable_validate[]: the boot
 *   entries, console paths, Lang, Timeout, OsIndications of the global GUID, and every variable of
 *   efi-pstore's crash GUID) are removable; every other file is S_IMMUTABLE, so unlink is EPERM.
 */
import { atLeast, type KernelVersion } from '../../format/kernelVersion.js'
import { LINUX_EFI_CRASH_GUID_TEXT } from './dumpName.js'
import { guidText, type StoredVariable, type VariableStore } from './varstore.js'

export const EFI_GLOBAL_VARIABLE_GUID_TEXT = '8be4df61-93ca-11d2-aa0d-00e098032b8c'
export const LINUX_EFI_RANDOM_SEED_TABLE_GUID_TEXT = '1ce1e5bc-7ceb-42f2-81e5-8aadf180f57b'
/** efivar_init()'s name buffer: GetNextVariableName() answers EFI_BUFFER_TOO_SMALL past it. */
export const EFIVARFS_NAME_BUFFER = 512

/**
 * vars.c variable_validate[]: the names (a trailing '*' matches any rest) the kernel knows to be
 * safe to delete; the same table on 6.1 and 6.12.
 */
const REMOVABLE: ReadonlyArray<readonly [guid: string, pattern: string]> = [
  ...[
    'BootNext',
    'BootOrder',
    'Boot*',
    'DriverOrder',
    'Driver*',
    'ConIn',
    'ConInDev',
    'ConOut',
    'ConOutDev',
    'ErrOut',
    'ErrOutDev',
    'Lang',
    'OsIndications',
    'PlatformLang',
    'Timeout',
  ].map((name) => [EFI_GLOBAL_VARIABLE_GUID_TEXT, name] as const),
  [LINUX_EFI_CRASH_GUID_TEXT, '*'],
]

/** variable_matches(): the pattern's characters in order, a '*' matching whatever is left. */
function matches(name: string, pattern: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern
}

/** efivar_variable_is_removable(): whether efivarfs leaves the file without S_IMMUTABLE. */
export function isRemovable(guid: string, name: string): boolean {
  const vendor = guid.toLowerCase()
  return REMOVABLE.some(([g, pattern]) => g === vendor && matches(name, pattern))
}

/** efivarfs_callback()'s file name: the name, '-', the GUID as %pUl; a '/' becomes '!' (it cannot be in a file name). */
export function efivarfsFileName(name: string, guid: string): string {
  return `${name}-${guid.toLowerCase()}`.replace(/\//g, '!')
}

/** One file of the list, as efivarfs made it at mount. */
export interface EfivarFile {
  fileName: string
  /** The variable's name and vendor GUID (stored bytes): what GetVariable and SetVariable are called with. */
  name: string
  guid: Buffer
  /** i_size when listed: 4 + the data's size. */
  size: number
  removable: boolean
}

/** The files efivarfs lists on a mount over this store, in the walk's order (efivar_init()). */
export function efivarfsFiles(store: VariableStore, kernel: KernelVersion): EfivarFile[] {
  if (store.invalid()) return [] // no variable services: efivarfs does not mount (the caller says why)
  const hidesRandomSeed = atLeast(kernel, 6, 2)
  const files: EfivarFile[] = []
  const seen = new Set<string>()
  for (const v of store.listed()) {
    if (v.nameSize > EFIVARFS_NAME_BUFFER) break // EFI_BUFFER_TOO_SMALL: "Variable name size exceeds maximum"
    const guid = guidText(v.guid)
    const key = `${v.name}\0${guid}`
    if (seen.has(key)) break // dup_variable_bug(): the walk ends
    seen.add(key)
    if (hidesRandomSeed && guid === LINUX_EFI_RANDOM_SEED_TABLE_GUID_TEXT) continue
    files.push({ fileName: efivarfsFileName(v.name, guid), name: v.name, guid: v.guid, size: 4 + v.dataSize, removable: isRemovable(guid, v.name) })
  }
  return files
}

/**
 * efivarfs_file_read(): GetVariable() now, as attributes (u32 LE) + data; undefined when the
 * variable is gone (EFI_NOT_FOUND: the read gives 0 bytes).
 */
export function efivarContent(store: VariableStore, file: Pick<EfivarFile, 'name' | 'guid'>): Buffer | undefined {
  const v: StoredVariable | undefined = store.find(file.name, file.guid)
  if (!v) return undefined
  const attributes = Buffer.alloc(4)
  attributes.writeUInt32LE(v.attributes >>> 0, 0)
  return Buffer.concat([attributes, store.data(v)])
}
