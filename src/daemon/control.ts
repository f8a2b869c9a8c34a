/**
 * The daemon's control channel: one JSON request and one JSON answer per line over a unix
 * socket. While an image is mounted every kernel-side event (panic, console, pmsg, ftrace,
 * reboot) goes through its daemon, so the image has one writer and nothing is torn.
 */
import net from 'node:net'
import fs from 'node:fs'
import type { CorruptSpec } from '../backend/ramoops/corrupt.js'
import { PstoreSimError } from '../util/errors.js'

export type ControlRequest =
  | { op: 'status' }
  | { op: 'reboot' }
  | { op: 'umount' }
  | { op: 'panic'; reason: 'panic' | 'oops' | 'emergency' | 'shutdown'; logText?: string; time?: number; compress?: boolean; reboot?: boolean }
  | { op: 'console'; text: string }
  | { op: 'pmsg'; dataBase64: string }
  | { op: 'ftrace'; calls: Array<{ cpu: number; ip: string; parentIp: string }> }
  | { op: 'corrupt'; spec: CorruptSpec }

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string; exitCode: number }

export type ControlHandler = (request: ControlRequest) => Promise<unknown>

export class ControlError extends PstoreSimError {
  constructor(
    message: string,
    override readonly exitCode = 1,
  ) {
    super(message)
  }
}

export function serveControl(socketPath: string, handler: ControlHandler): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true })
  const server = net.createServer((socket) => {
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let newline: number
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        void answer(line).then((response) => socket.write(JSON.stringify(response) + '\n'))
      }
    })
    socket.on('error', () => socket.destroy())
  })
  const answer = async (line: string): Promise<ControlResponse> => {
    try {
      const request = JSON.parse(line) as ControlRequest
      return { ok: true, result: await handler(request) }
    } catch (err) {
      return { ok: false, error: (err as Error).message, exitCode: err instanceof PstoreSimError ? err.exitCode : 1 }
    }
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, () => {
      fs.chmodSync(socketPath, 0o600)
      resolve(server)
    })
  })
}

export function sendControl(socketPath: string, request: ControlRequest, timeoutMs = 30000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath)
    let buffer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ControlError(`the daemon at ${socketPath} did not answer within ${timeoutMs} ms`, 2))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'))
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf('\n')
      if (newline < 0) return
      clearTimeout(timer)
      socket.end()
      const response = JSON.parse(buffer.slice(0, newline)) as ControlResponse
      if (response.ok) resolve(response.result)
      else reject(new ControlError(response.error, response.exitCode))
    })
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(new ControlError(`cannot reach the daemon at ${socketPath}: ${err.message}`, 2))
    })
  })
}
