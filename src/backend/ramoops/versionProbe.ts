/**
 * The kernel version a region's ftrace zones were signed by (docs/ramoops-format.md §3.2): each
 * ftrace zone's signature is PERSISTENT_RAM_SIG ^ LINUX_VERSION_CODE, so a dump says which
 * version last booted on it, sublevel included (capped at 255 by LINUX_VERSION_CODE).
 */
import { formatKernelVersion, type KernelVersion } from '../../format/kernelVersion.js'
import { computeLayout, ftraceSignature, PERSISTENT_RAM_SIG, type ZoneLayout } from './layout.js'
import type { RamoopsSetup } from './ramoopsSetup.js'

/** One version per combination of the quirks that move ftrace zones: zone order, even sizes. */
const LAYOUT_CANDIDATES = ['6.12.0', '6.7.0', '6.1.192', '6.1.0']

/** The version a signature encodes, or undefined when it is no plausible LINUX_VERSION_CODE. */
export function versionFromFtraceSignature(sig: number): KernelVersion | undefined {
  const code = (sig ^ PERSISTENT_RAM_SIG) >>> 0
  const major = code >>> 16
  // ramoops exists since 3.x; a dmesg/console/pmsg signature gives 0, garbage a huge major
  if (major < 3 || major > 15) return undefined
  return { major, minor: (code >>> 8) & 0xff, patch: code & 0xff }
}

export interface FtraceVersion {
  version: KernelVersion
  signature: number
  zones: number
}

function ftraceZones(setup: () => RamoopsSetup): ZoneLayout[] | undefined {
  try {
    return computeLayout(setup()).ftrace
  } catch {
    return undefined // that version's probe refuses the setup: not the writer
  }
}

/**
 * `setupFor(kernel)` is the setup as it would be for that version (the ftrace zones move with
 * it), `readU32(offset)` reads the region. The answer is a version whose own layout has every
 * ftrace zone signed with its code; undefined when the setup has no ftrace zone or none fits.
 */
export function probeFtraceVersion(setupFor: (kernel: string) => RamoopsSetup, readU32: (offset: number) => number | undefined): FtraceVersion | undefined {
  for (const candidate of LAYOUT_CANDIDATES) {
    const zones = ftraceZones(() => setupFor(candidate))
    if (!zones) continue
    if (!zones.length) return undefined
    const first = readU32(zones[0].offset)
    const version = first === undefined ? undefined : versionFromFtraceSignature(first)
    if (!version) continue
    let setup: RamoopsSetup
    try {
      setup = setupFor(formatKernelVersion(version))
    } catch {
      continue
    }
    const own = ftraceZones(() => setup)
    const sig = ftraceSignature(setup)
    if (own?.length && own.every((z) => readU32(z.offset) === sig)) return { version, signature: sig, zones: own.length }
  }
  return undefined
}
