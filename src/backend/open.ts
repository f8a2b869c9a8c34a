/** The backend an image's setup names, behind the backend interface. */
import type { RegionImage } from '../format/region.js'
import type { PstoreBackend } from './backend.js'
import { BlkBackend } from './blk/backend.js'
import { EfiBackend } from './efi/efi.js'
import { ErstBackend } from './erst/erst.js'
import { RamoopsBackend } from './ramoops/backend.js'
import type { BackendSetup } from './setup.js'

export function openBackend(setup: BackendSetup, region: RegionImage): PstoreBackend {
  switch (setup.backend) {
    case 'blk':
      return new BlkBackend(setup, region)
    case 'erst':
      return new ErstBackend(setup, region)
    case 'efi':
      return new EfiBackend(setup, region)
    case 'ramoops':
      return new RamoopsBackend(setup, region)
  }
}
