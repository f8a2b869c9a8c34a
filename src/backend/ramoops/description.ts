import type { ZonedDescription } from '../zoneDescription.js'

/** What `inspect` shows of a ramoops region: its zones (backend.ts describe()). */
export interface RamoopsDescription extends ZonedDescription {
  kind: 'ramoops'
}
