/** The backend an image's setup names, behind the backend interface. */
import type { RegionImage } from '../format/region.js'
import type { PstoreBackend } from './backend.js'
import { BlkBackend } from './blk/backend.js'
import { EfiBackend } from './efi/efi.js'
import { ErstBackend } from './erst/erst.js'
import { RamoopsBackend } from './ramoops/backend.js'
import type { BackendConfig } from './setup.js'

export function openBackend(config: BackendConfig, region: RegionImage): PstoreBackend {
  switch (config.backend) {
    case 'blk':
      return new BlkBackend(config, region)
    case 'erst':
      return new ErstBackend(config, region)
    case 'efi':
      return new EfiBackend(config, region)
    case 'ramoops':
      return new RamoopsBackend(config, region)
  }
}
