/**
 * Erase, as ramoops_pstore_erase() does it on unlink (docs/ramoops-format.md §8): the record's snapshot is dropped
 * and its zone zapped (start = size = 0). Data bytes stay in RAM. An ftrace record erases only
 * zone 0: other per-CPU zones keep their data and their merge shows again at the next read.
 */

import { PstoreSimError } from '../../util/errors.js'
import type { ZoneType } from './layout.js'
import type { PersistentRamZone } from './zone.js'

export interface ErasableBackend {
  dmesg: PersistentRamZone[]
  console: PersistentRamZone | undefined
  pmsg: PersistentRamZone | undefined
  ftrace: PersistentRamZone[]
}

export class EraseError extends PstoreSimError {
  override name = 'EraseError'
}

export function zoneToErase(backend: ErasableBackend, type: ZoneType, id: number): PersistentRamZone {
  const zone = type === 'dmesg' ? backend.dmesg[id] : type === 'console' ? backend.console : type === 'pmsg' ? backend.pmsg : backend.ftrace[id]
  if (!zone) throw new EraseError(`no ${type} zone ${id} to erase (-EINVAL)`)
  return zone
}

export function eraseRecord(backend: ErasableBackend, type: ZoneType, id: number): void {
  const zone = zoneToErase(backend, type, id)
  zone.freeOld()
  zone.zap()
}
