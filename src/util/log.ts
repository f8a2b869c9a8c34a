/**
 * Logging through `debug` (DEBUG=pstore-sim:*). The library is loaded only when DEBUG is set:
 * loading it costs more than a whole boot of a small region, and every mount starts a process.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export type Logger = (format: string, ...args: unknown[]) => void

export function logger(namespace: string): Logger {
  if (!process.env.DEBUG) return () => undefined
  const createDebug = require('debug') as (name: string) => Logger
  return createDebug(`pstore-sim:${namespace}`)
}
