/**
 * An image opened for simulation: its setup, its region and the simulated machine's volatile
 * state (kept in `IMAGE.state.json` between commands while no daemon owns the image).
 */
import fs from 'node:fs'
import { ImageError, RegionImage } from '../format/region.js'
import { MachineState, SimulatedMachine } from './machine.js'
import { ProbeError, RamoopsConfig } from '../backend/ramoops/config.js'
import { computeLayout } from '../backend/ramoops/layout.js'
import { isAuto, SetupError, SetupOverrides, setupForImage, SetupSource, sidecarPath, writeSidecar } from './imageSetup.js'

export function statePath(image: string): string {
  return `${image}.state.json`
}

export class Simulation {
  private constructor(
    readonly image: string,
    readonly config: RamoopsConfig,
    readonly source: SetupSource,
    readonly region: RegionImage,
    readonly machine: SimulatedMachine,
    readonly readOnly: boolean,
  ) {}

  static open(image: string, overrides: SetupOverrides, options: { readOnly: boolean; clock?: () => number }): Simulation {
    if (!fs.existsSync(image)) throw new ImageError(`${image}: no such image (create one with pstore-sim format)`)
    const { config, source } = setupForImage(image, overrides)
    const region = RegionImage.open(image, { readOnly: options.readOnly, expectedSize: config.memSize })
    const machine = new SimulatedMachine(config, region, loadState(image), options.clock)
    return new Simulation(image, config, source, region, machine, options.readOnly)
  }

  /** Persists the machine's volatile state (never for read-only images: evidence stays untouched). */
  saveState(): void {
    if (this.readOnly) return
    const file = statePath(this.image)
    const tmp = `${file}.tmp-${process.pid}`
    fs.writeFileSync(tmp, JSON.stringify(this.machine.state) + '\n')
    fs.renameSync(tmp, file)
  }

  close(): void {
    this.region.close()
    this.saveState()
  }
}

function loadState(image: string): MachineState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(statePath(image), 'utf8')) as MachineState
    return state.version === 1 ? state : undefined
  } catch {
    return undefined
  }
}


/**
 * `pstore-sim format`: a zeroed image of mem_size bytes, its sidecar, and a first boot that
 * gives every zone its signature, as a kernel's first boot would.
 */
export function formatImage(image: string, overrides: SetupOverrides, options: { force?: boolean } = {}): { config: RamoopsConfig; dmesgZones: number } {
  if (fs.existsSync(image) && !options.force) throw new SetupError(`${image}: already exists; pass --force to overwrite it`)
  if (!overrides.cmdline && !overrides.dtsFile && overrides.params?.mem_size === undefined) {
    throw new SetupError(`${image}: give the region's setup: --mem-size (e.g. 1M) and the zone sizes, or --cmdline "ramoops.mem_size=…", or --dts FILE`)
  }
  if (isAuto(overrides.target?.kernel)) throw new SetupError(`${image}: --kernel auto reads the version from an existing dump; format needs the target's version, e.g. --kernel 6.12.0`)
  // The setup resolved and laid out before the first byte is written: a refused format leaves
  // no image or sidecar behind (and an existing one untouched).
  const { config, source } = setupForImage(image, overrides, { ignoreSidecar: true })
  try {
    computeLayout(config)
  } catch (err) {
    if (err instanceof ProbeError) throw new SetupError(`${image}: the kernel would refuse this setup: ${err.message}`)
    throw err
  }
  fs.rmSync(sidecarPath(image), { force: true }) // a new setup, not the old one overridden
  const fd = fs.openSync(image, 'w')
  try {
    fs.ftruncateSync(fd, config.memSize)
  } finally {
    fs.closeSync(fd)
  }
  writeSidecar(image, source, config)
  fs.rmSync(statePath(image), { force: true })
  const sim = Simulation.open(image, {}, { readOnly: false })
  sim.machine.boot()
  sim.close()
  return { config, dmesgZones: sim.machine.ramoops.dmesg.length }
}
