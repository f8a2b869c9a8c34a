/**
 * Command-line arguments checked before any command runs: numbers, times, seeds, counts. Each
 * check names the flag and what to give instead, in one line, so that a bad invocation exits 1
 * having changed nothing. Also the raw bytes of argv (Node decodes argv as UTF-8 and replaces
 * what is not) and the words yargs would misread.
 */
import fs from 'node:fs'
import { PstoreSimError } from '../util/errors.js'

export class ArgumentError extends PstoreSimError {
  override name = 'ArgumentError'
}

const WHOLE = /^[+-]?(0x[0-9a-fA-F]+|\d+)$/

/**
 * A yargs `coerce` for a whole-number flag (decimal or 0x hex) within [min, max]. The flag is
 * declared as a string so that the text reaches the check (yargs turns "abc" into NaN).
 */
export function wholeNumber(flag: string, min: number, max: number, example: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined
    // A repeated flag arrives as an array: the last one counts, as for any other flag.
    const text = String(Array.isArray(value) ? value[value.length - 1] : value).trim()
    const negative = text.startsWith('-')
    const body = text.replace(/^[+-]/, '')
    const n = WHOLE.test(text) ? (negative ? -1 : 1) * Number(body) : NaN
    if (!Number.isSafeInteger(n)) throw new ArgumentError(`--${flag}: "${text}" is not a whole number; give e.g. --${flag} ${example}`)
    if (n < min || n > max) throw new ArgumentError(`--${flag}: ${n} is out of range; give a whole number from ${min} to ${max}`)
    return n
  }
}

/** The largest |seconds| whose milliseconds are still exact in a double (about 285,000 years). */
const MAX_TIME_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000)

/** `--time`: wall-clock seconds since the epoch, optionally with a fraction (1700000000.25). */
export function secondsSinceEpoch(flag: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined
    const text = String(Array.isArray(value) ? value[value.length - 1] : value).trim()
    if (!/^-?\d+(\.\d+)?$/.test(text))
      throw new ArgumentError(`--${flag}: "${text}" is not a time; give seconds since the epoch, e.g. --${flag} 1700000000 or 1700000000.25`)
    const n = Number(text)
    if (Math.abs(n) > MAX_TIME_SECONDS)
      throw new ArgumentError(`--${flag}: ${text} is out of range; give seconds from -${MAX_TIME_SECONDS} to ${MAX_TIME_SECONDS}`)
    return n
  }
}

/**
 * The words yargs misreads, rewritten before it parses: `--log -` (stdin) would leave `-` as
 * an unknown positional.
 */
export function normaliseArgs(args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return out.concat(args.slice(i))
    if (args[i] === '--log' && args[i + 1] === '-') {
      out.push('--log=-')
      i++
    } else out.push(args[i])
  }
  return out
}

/**
 * This process's arguments as the bytes it was given (/proc/self/cmdline), or undefined when
 * they cannot be matched to `args` (no /proc, or `args` are not this process's argv).
 */
export function rawArgs(args: string[]): Buffer[] | undefined {
  let cmdline: Buffer
  try {
    cmdline = fs.readFileSync('/proc/self/cmdline')
  } catch {
    return undefined
  }
  const words: Buffer[] = []
  for (let start = 0; start < cmdline.length; ) {
    const end = cmdline.indexOf(0, start)
    const stop = end < 0 ? cmdline.length : end
    words.push(cmdline.subarray(start, stop))
    start = stop + 1
  }
  if (words.length < args.length) return undefined
  const tail = words.slice(words.length - args.length)
  // The same words, decoded as Node decoded them: otherwise these are not our arguments.
  if (tail.some((word, i) => word.toString('utf8') !== args[i])) return undefined
  return tail
}

/**
 * The bytes of a text positional: the raw word it came from when it can be found (the last
 * word equal to the decoded text that is not a flag's value), else its UTF-8 encoding.
 */
export function rawText(value: string, args: string[]): Buffer {
  const raw = rawArgs(args)
  if (raw) {
    for (let i = args.length - 1; i >= 0; i--) {
      if (args[i] !== value) continue
      const previous = args[i - 1] ?? ''
      if (/^--?[a-zA-Z][\w-]*$/.test(previous) && !/^--(no-compress|(no-)?(reboot|json|force|foreground|exact-names|content|help|version))$/.test(previous))
        continue
      return Buffer.from(raw[i])
    }
  }
  return Buffer.from(value, 'utf8')
}

/**
 * `pstore-sim inspect --json | head -c 100`: once the reader has gone, the rest of the output
 * has nowhere to go. End quietly, as `cat` does, instead of an unhandled EPIPE stack trace.
 */
export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(process.exitCode ?? 0)
  })
}
