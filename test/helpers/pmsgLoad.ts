/**
 * Load on a mount's pmsg FIFO for the reliability and soak tests: writer processes that write
 * numbered lines, one write() each, and report how many were acknowledged (write() returned),
 * and the check that every acknowledged line reached the pmsg zone.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { productCommand } from './mount.js'

/**
 * The writers: one process, one worker thread per writer, each with its own fd and blocking
 * write()s (truly concurrent, as separate programs logging to /dev/pmsg0 are). Writer ID writes
 * `w<ID> <N>\n` for N = 1…max, one write() each, pausing `pauseMs` every `pauseEvery` lines, and
 * stops at the first error (EPIPE once the daemon stops reading). Prints the counts as JSON.
 */
const WRITERS = `
const { Worker, isMainThread, workerData, parentPort } = require('worker_threads')
const fs = require('fs')
if (isMainThread) {
  const [fifo, count, max, pauseEvery, pauseMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])]
  const acked = new Array(count).fill(0)
  let left = count
  let opened = 0
  for (let id = 0; id < count; id++) {
    const w = new Worker(process.argv[1], { workerData: { fifo, id, max, pauseEvery, pauseMs } })
    w.on('message', (n) => { if (n === 'open') { if (++opened === count) process.stdout.write('ready\\n') } else acked[id] = n })
    w.on('exit', () => { if (--left === 0) process.stdout.write(JSON.stringify(acked)) })
  }
} else {
  const { fifo, id, max, pauseEvery, pauseMs } = workerData
  let acked = 0
  let fd
  // O_WRONLY alone: never creates a regular file where the FIFO is gone
  try { fd = fs.openSync(fifo, fs.constants.O_WRONLY) } catch { parentPort.postMessage('open'); parentPort.postMessage(0); process.exit(0) }
  parentPort.postMessage('open')
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  while (acked < max) {
    try { fs.writeSync(fd, 'w' + id + ' ' + (acked + 1) + '\\n') } catch { break }
    acked++
    if (acked % pauseEvery === 0) Atomics.wait(sleeper, 0, 0, pauseMs)
  }
  parentPort.postMessage(acked)
}
`

export interface Writers {
  /** Resolves with each writer's acknowledged line count once all have exited. */
  done: Promise<number[]>
  /** Resolves once every writer has the FIFO open. */
  ready: Promise<void>
  child: ChildProcess
}

export function startWriters(fifo: string, count: number, maxLines: number, pauseEvery = 40, pauseMs = 1): Writers {
  // a fresh private directory: a predictable /tmp name could be another user's symlink
  const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-writers-'))
  const script = path.join(scriptDir, 'writers.cjs')
  fs.writeFileSync(script, WRITERS, { flag: 'wx', mode: 0o600 })
  const child = spawn(...productCommand(process.execPath, [script, fifo, String(count), String(maxLines), String(pauseEvery), String(pauseMs)]), {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  const ready = new Promise<void>((resolve) => child.stdout!.on('data', () => out.startsWith('ready\n') && resolve()))
  const done = new Promise<number[]>((resolve, reject) => {
    child.stdout!.prependListener('data', (d) => (out += d))
    child.on('exit', () => {
      fs.rmSync(scriptDir, { recursive: true, force: true })
      try {
        resolve(JSON.parse(out.replace(/^ready\n/, '')) as number[])
      } catch {
        reject(new Error(`writers printed ${JSON.stringify(out)}`))
      }
    })
  })
  return { done, ready, child }
}

export interface LossReport {
  /** Acknowledged lines not in the zone. */
  missingLines: number
  /** Their bytes. */
  missingBytes: number
  /** Lines in the zone that are not `w<ID> <N>` of an acknowledged or in-flight write. */
  damaged: string[]
  ackedLines: number
}

/** Which acknowledged lines are missing from the pmsg text (pmsg-ramoops-0 after the next boot). */
export function checkLines(pmsg: string, acked: number[]): LossReport {
  const seen = acked.map(() => new Set<number>())
  const damaged: string[] = []
  for (const line of pmsg.split('\n')) {
    if (line === '') continue
    const m = /^w(\d+) (\d+)$/.exec(line)
    if (!m || !seen[Number(m[1])]) {
      damaged.push(line)
      continue
    }
    seen[Number(m[1])].add(Number(m[2]))
  }
  let missingLines = 0
  let missingBytes = 0
  acked.forEach((n, id) => {
    for (let i = 1; i <= n; i++) {
      if (!seen[id].has(i)) {
        missingLines++
        missingBytes += `w${id} ${i}\n`.length
      }
    }
  })
  return { missingLines, missingBytes, damaged, ackedLines: acked.reduce((a, b) => a + b, 0) }
}
