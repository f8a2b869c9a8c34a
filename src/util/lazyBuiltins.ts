/**
 * Node built-ins that the CLI's fast path never needs, loaded on first use: node:child_process
 * (with net's streams and dgram) and node:crypto (some 20 JS modules) each cost ~3 ms of a
 * ~100 ms CLI call when imported at the top of a module in its bundle.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export const childProcess = () => require('node:child_process') as typeof import('node:child_process')
export const nodeCrypto = () => require('node:crypto') as typeof import('node:crypto')
