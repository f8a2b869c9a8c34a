/**
 * The daemon's control channel: one JSON request and one JSON answer per line over a unix
 * socket. While an image is mounted every kernel-side event (panic, console, pmsg, ftrace,
 * reboot) goes through its daemon, so the image has one writer and nothing is torn.
 */

import fs from 'node:fs'
import net from 'node:net'
import type { EventResult, KernelEvent } from '../machine/events.js'
import { EnvironmentError, errorWithExitCode, type WireError } from '../util/errors.js'
import { wireError } from './advice.js'

/** A kernel event as it crosses the socket: bytes as base64, addresses as hex (JSON has neither). */
export type WireEvent =
  | Exclude<KernelEvent, { op: 'pmsg' } | { op: 'ftrace' }>
  | { op: 'pmsg'; dataBase64: string }
  | { op: 'ftrace'; calls: Array<{ cpu: number; ip: string; parentIp: string }> }

export type ControlRequest = { op: 'status' } | { op: 'umount' } | WireEvent

export type ControlResponse = { ok: true; result: unknown } | ({ ok: false } & WireError)

export function eventToWire(event: KernelEvent): WireEvent {
  switch (event.op) {
    case 'pmsg':
      return { op: 'pmsg', dataBase64: Buffer.from(event.data).toString('base64') }
    case 'ftrace':
      return { op: 'ftrace', calls: event.calls.map((c) => ({ cpu: c.cpu, ip: '0x' + c.ip.toString(16), parentIp: '0x' + c.parentIp.toString(16) })) }
    default:
      return event
  }
}

export function eventFromWire(wire: WireEvent): KernelEvent {
  switch (wire.op) {
    case 'pmsg':
      return { op: 'pmsg', data: Buffer.from(wire.dataBase64, 'base64') }
    case 'ftrace':
      return { op: 'ftrace', calls: wire.calls.map((c) => ({ cpu: c.cpu, ip: BigInt(c.ip), parentIp: BigInt(c.parentIp) })) }
    default:
      return wire
  }
}

/** Sends one kernel event to the daemon listening on `socketPath` and answers its typed result. */
export async function sendEvent<E extends KernelEvent>(socketPath: string, event: E): Promise<EventResult<E>> {
  return (await sendControl(socketPath, eventToWire(event))) as EventResult<E>
}

export type ControlHandler = (request: ControlRequest) => Promise<unknown>

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
      return { ok: false, ...wireError(err) }
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

export interface SendOptions {
  /** How long the daemon may take to answer (ms). */
  timeoutMs?: number
  /**
   * After the answer, keep the connection until the daemon closes it, at most this long (ms):
   * the daemon never closes one itself, so its end comes when the daemon's process exits.
   */
  untilClosedMs?: number
}

export function sendControl(socketPath: string, request: ControlRequest, { timeoutMs = 30000, untilClosedMs }: SendOptions = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath)
    let buffer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new EnvironmentError(`the daemon at ${socketPath} did not answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'))
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf('\n')
      if (newline < 0) return
      clearTimeout(timer)
      const response = JSON.parse(buffer.slice(0, newline)) as ControlResponse
      buffer = ''
      if (!response.ok) {
        socket.end()
        reject(errorWithExitCode(response.error, response.exitCode, response.name, response.facts, response.kind))
      } else if (untilClosedMs === undefined) {
        socket.end() // the daemon's side then ends too (no half-open sockets)
        resolve(response.result)
      } else {
        const bound = setTimeout(() => socket.destroy(), untilClosedMs)
        socket.once('close', () => {
          clearTimeout(bound)
          resolve(response.result)
        })
      }
    })
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(new EnvironmentError(`cannot reach the daemon at ${socketPath}: ${err.message}`))
    })
  })
}
