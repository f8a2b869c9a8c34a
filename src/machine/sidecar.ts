/**
 * The sidecar `IMAGE.json` that `format` writes beside an image: the setup's inputs (module
 * parameters, command line, device tree, a backend's own parameters, the target), read back by
 * every later command, and the resolved setup for people and scripts (never read back).
 */
import fs from 'node:fs'
import { type BackendConfig, type SetupJson, type SetupSource, setupJson } from '../backend/setup.js'
import { writeFileAtomic } from '../util/files.js'
import { SetupError, settingError } from './setupProblems.js'

export interface Sidecar {
  pstoreSim: 1
  setup: SetupSource
  /** The resolved setup, for people and scripts reading the file; not read back. */
  resolved?: SetupJson
}

export function sidecarPath(image: string): string {
  return `${image}.json`
}

export function readSidecar(image: string): Sidecar | undefined {
  const file = sidecarPath(image)
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  let json: Sidecar
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw settingError({ problem: 'badSidecar', subject: file, param: 'setup', detail: (err as Error).message })
  }
  if (json?.pstoreSim !== 1 || typeof json.setup !== 'object') throw new SetupError(`${file}: not a pstore-sim sidecar (no "pstoreSim": 1)`)
  return json
}

export function writeSidecar(image: string, source: SetupSource, config: BackendConfig): void {
  const sidecar: Sidecar = { pstoreSim: 1, setup: source, resolved: setupJson(config) }
  writeFileAtomic(sidecarPath(image), JSON.stringify(sidecar, null, 2) + '\n')
}
