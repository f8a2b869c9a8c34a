/**
 * An image opened for simulation: its setup, its region and the simulated machine's volatile
 * state (kept in `IMAGE.state.json` between commands while no daemon owns the image).
 */
import fs from 'node:fs'
import { RegionImage } from './region.js'
import { freshState, MachineState, SimulatedMachine } from './machine.js'
import { RamoopsConfig } from './config.js'
import { SetupOverrides, setupForImage, SetupSource } from './setup.js'

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

export { freshState }
