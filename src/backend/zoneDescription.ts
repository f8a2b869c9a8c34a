/**
 * A zone of a zoned backend (ramoops' persistent RAM zones, pstore/zone's zones) as `inspect`
 * shows it: where it sits, its signature, its ring. Each zoned backend's description holds them.
 */
export interface ZoneDescription {
  type: string
  index: number
  offset: number
  size: number
  capacity: number
  signature: string
  signatureValid: boolean
  start: number
  used: number
  /** pstore/zone's header field (ramoops has none) */
  datalen?: number
}

/** The zones in storage order and what lies after the last one. */
export interface ZonedDescription {
  zones: ZoneDescription[]
  unusedTail: { offset: number; size: number }
}
