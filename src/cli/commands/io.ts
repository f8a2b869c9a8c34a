/** Input and output the commands share: TEXT or stdin, files a user names, --json. */
import fs from 'node:fs'
import { PstoreSimError } from '../../util/errors.js'
import { rawText } from '../arguments.js'

/** yargs hands a lone `-` positional over as "": look at the raw words to tell it from "". */
export function isStdin(value: string | undefined, rawArgs: string[]): boolean {
  return value === undefined || value === '-' || (value === '' && rawArgs.includes('-'))
}

/** TEXT as the bytes given (argv is not always UTF-8: pmsg writers send binary), or stdin. */
export function readText(value: string | undefined, rawArgs: string[]): Buffer {
  if (isStdin(value, rawArgs)) return fs.readFileSync(0)
  return rawText(value!, rawArgs)
}

export function readFileOrFail(file: string): string {
  try {
    return fs.readFileSync(file, 'latin1')
  } catch (err) {
    throw new PstoreSimError(`${file}: cannot read: ${(err as Error).message}`)
  }
}

export function print(result: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n' : text())
}
