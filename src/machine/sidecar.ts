/**
 * The sidecar `IMAGE.json` that `format` writes beside an image: the setup's inputs (module
 * parameters, command line, device tree, a backend's own parameters, the target), read back by
 * every later command, and the resolved setup for people and scripts (never read back). Only
 * `format` writes it; a sidecar of an older version is converted in memory
 * (sidecarMigration.ts), one of a newer version refused.
 */
import fs from 'node:fs'
import { type BackendSetup, type SetupJson, type SetupSource, setupJson, sourceProblem } from '../backend/setup.js'
import { writeFileAtomic } from '../util/files.js'
import { settingError } from './setupProblems.js'
import { setupFromVersion1 } from './sidecarMigration.js'

/** The version `format` writes: 2, each backend's setup under its own names (1: ramoops' names for every backend). */
export const SIDECAR_VERSION = 2

export interface Sidecar {
  pstoreSim: typeof SIDECAR_VERSION
  setup: SetupSource
  /** The resolved setup, for people and scripts reading the file; not read back. */
  resolved?: SetupJson
}

export function sidecarPath(image: string): string {
  return `${image}.json`
}

/** The image's sidecar as the current version (an older one converted, the file unchanged); undefined when there is none. */
export function readSidecar(image: string): Sidecar | undefined {
  const file = sidecarPath(image)
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const bad = (detail: string) => settingError({ problem: 'badSidecar', subject: file, param: 'setup', detail })
  let json: { pstoreSim?: unknown; setup?: unknown }
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object')
  const version = json.pstoreSim
  if (Number.isSafeInteger(version) && (version as number) > SIDECAR_VERSION)
    throw settingError({ problem: 'newerSidecar', subject: file, param: 'setup', value: version as number })
  if (version !== 1 && version !== SIDECAR_VERSION) throw bad(`"pstoreSim" is ${JSON.stringify(version) ?? 'missing'}, not a sidecar version (1 or 2)`)
  const setup = version === 1 ? setupFromVersion1(json.setup) : json.setup
  const problem = sourceProblem(setup)
  if (problem) throw bad(problem)
  return { pstoreSim: SIDECAR_VERSION, setup: setup as SetupSource }
}

export function writeSidecar(image: string, source: SetupSource, setup: BackendSetup): void {
  const sidecar: Sidecar = { pstoreSim: SIDECAR_VERSION, setup: source, resolved: setupJson(setup) }
  writeFileAtomic(sidecarPath(image), JSON.stringify(sidecar, null, 2) + '\n')
}
