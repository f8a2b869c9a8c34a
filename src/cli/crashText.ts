/**
 * What `panic` prints for a crash result: shared by the command and the fast path (cli/fastPath.ts),
 * which must not load the engine, so this module holds types only.
 */
import type { CrashResult } from '../machine/machine.js'

export function describeCrash(r: CrashResult): string {
  if (!r.stored) return `nothing stored: ${r.why}\n`
  // Backends that keep more than part 1 (erst) say where each part went.
  if (r.backend === 'erst' && r.parts) {
    return r.parts
      .map((p) =>
        p.stored
          ? `stored ${r.reason} part ${p.part} as record ${p.id} (slot ${p.slot})${p.compressed ? ' (compressed)' : ''}\n`
          : `part ${p.part} dropped (-${p.errno}): ${p.why}\n`,
      )
      .join('')
  }
  // efi: one UEFI variable a part, named by the file it makes
  if ((r.backend === 'efi' || r.backend === 'efi_pstore') && r.parts) {
    return r.parts
      .map((p) =>
        p.stored
          ? `stored ${r.reason} part ${p.part} as dmesg-${r.backend}-${p.id} (variable at 0x${p.slot.toString(16)})${p.compressed ? ' (compressed)' : ''}\n`
          : `part ${p.part} dropped (-${p.errno}): ${p.why}\n`,
      )
      .join('')
  }
  return `stored ${r.reason} in dmesg zone ${r.zone}${r.compressed ? ' (compressed)' : ''}\n`
}
