/** The backend an image's setup names, behind the backend interface. */
import type { RegionImage } from '../format/region.js'
import type { PstoreBackend } from './backend.js'
import { BlkBackend, isBlkConfig } from './blk/backend.js'
import { isErst } from './erst/config.js'
import { ErstBackend } from './erst/erst.js'
import { RamoopsBackend } from './ramoops/backend.js'
import type { RamoopsConfig } from './ramoops/config.js'

export function openBackend(config: RamoopsConfig, region: RegionImage): PstoreBackend {
  if (isBlkConfig(config)) return new BlkBackend(config.blk, region)
  if (isErst(config)) return new ErstBackend(config, region)
  return new RamoopsBackend(config, region)
}
