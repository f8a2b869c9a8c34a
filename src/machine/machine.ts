/**
 * The simulated machine that owns the region: what a kernel keeps in RAM between events of one
 * boot (dump write counter, oops counter, the printk log, the ftrace counter, whether it
 * halted after a panic) and the kernel's side of every event: boot, printk to the console,
 * panics and oopses through the kmsg dumper, /dev/pmsg0 writes and ftrace records.
 *
 * The state is plain JSON so that it survives between CLI commands while no daemon runs.
 */
import type { BackendMemory, BootReport, DmesgWriteResult, LentRing, PstoreBackend } from '../backend/backend.js'
import { openBackend } from '../backend/open.js'
import { type BackendSetup, targetOf } from '../backend/setup.js'
import type { TargetSetup } from '../backend/target.js'
import type { RegionImage } from '../format/region.js'
import { encodeFtraceRecord } from '../pstore/ftrace.js'
import {
  buildDumpPart,
  DEFAULT_KMSG_BYTES,
  type DumpInput,
  type DumpReason,
  dumpParts,
  formatConsoleRecord,
  formatSyslogRecord,
  type LogRecord,
  logFromText,
  reasonIsDumped,
} from '../pstore/kmsgDumper.js'
import { KMSG_DUMP, type PstoreRecord } from '../pstore/record.js'
import { PstoreSimError } from '../util/errors.js'
import { bootBanner, oopsReport, panicReport } from './crashReport.js'

/** The simulated kernel's own volatile state; the backend keeps its own kernel memory (backend.memory()). */
export interface MachineVolatile {
  bootCount: number
  /** Wall clock at the last boot, in ms since the epoch. */
  bootedAtMs: number
  oopsCount: number
  halted: boolean
  /** This boot's printk records, formatted in syslog form, oldest first. */
  log: string[]
  /** The last uptime handed out, so that records stay in order within a boot. */
  lastUptimeUs: number
  /** Global ftrace record counter (the `ts` field). */
  ftraceCounter: number
}

/**
 * The machine's volatile state as `IMAGE.state.json` keeps it between commands, each piece
 * once: the machine's own, and the backend's kernel memory as the backend reports it (ramoops'
 * dump_write_cnt, erst's record id counter, pstore/blk's counters).
 */
export interface MachineState extends MachineVolatile {
  version: 2
  backendMemory: BackendMemory
}

/** Version 1 (before 2026-12): ramoops' dumpWriteCnt beside the rest of the backend's memory. */
interface MachineStateV1 extends MachineVolatile {
  version: 1
  dumpWriteCnt: number
  backendMemory?: BackendMemory
}

/**
 * A state file's JSON as the current version: version 1 is migrated (its dumpWriteCnt joins the
 * backend's memory, which is what its machine handed the backend on open); anything else,
 * unknown or damaged, is no state (the machine starts as after a power cut).
 */
export function stateFromJson(json: unknown): MachineState | undefined {
  const state = json as MachineState | MachineStateV1 | null
  if (typeof state !== 'object' || state === null) return undefined
  if (state.version === 2) return typeof state.backendMemory === 'object' && state.backendMemory !== null ? state : undefined
  if (state.version !== 1) return undefined
  const { version: _version, dumpWriteCnt, backendMemory, ...own } = state
  return { ...own, version: 2, backendMemory: { ...backendMemory, dumpWriteCnt } }
}

/** The target kernel or setup lacks what an event needs (a frontend, a zone). */
export class MachineSetupError extends PstoreSimError {
  override name = 'MachineSetupError'
}

/** An ftrace call the target cannot record: which one (0-based), which field, its value. */
export class FtraceCallError extends PstoreSimError {
  override name = 'FtraceCallError'
  constructor(
    readonly index: number,
    readonly field: 'cpu' | 'ip' | 'parentIp',
    readonly value: number | bigint,
    readonly limit: string,
  ) {
    super(`ftrace record ${index + 1}: ${field} ${typeof value === 'bigint' ? '0x' + value.toString(16) : value} ${limit}`)
  }
}

function checkFtraceCall(call: { cpu: number; ip: bigint; parentIp: bigint }, index: number, wordBits: 64 | 32): void {
  if (!Number.isInteger(call.cpu) || call.cpu < 0 || call.cpu > 0xffffffff)
    throw new FtraceCallError(index, 'cpu', call.cpu, 'is not a CPU number (0 to 2^32-1)')
  const max = (1n << BigInt(wordBits)) - 1n
  for (const field of ['ip', 'parentIp'] as const) {
    const value = call[field]
    if (typeof value !== 'bigint' || value < 0n || value > max) throw new FtraceCallError(index, field, value, `does not fit the target's ${wordBits}-bit word`)
  }
}

/** An event on a machine that panicked and has not rebooted; `event` names it (the CLI adds how to reboot). */
export class MachineHaltedError extends PstoreSimError {
  override name = 'MachineHaltedError'
  constructor(readonly event: string) {
    super(`the simulated machine halted after a panic: ${event} needs a reboot first`, { problem: 'halted', param: 'reboot', value: event })
  }
}

/** CONFIG_LOG_BUF_SHIFT=17: the printk ring keeps the newest 128 KiB. */
const LOG_BUFFER_BYTES = 128 * 1024

export interface CrashOptions {
  reason: DumpReason
  /** Replaces this boot's log for the dump (already formatted or plain lines). */
  logText?: string
  /** Wall-clock seconds for the record header; default now. */
  time?: number
  compress?: boolean
  /** Default: the last 10240 bytes rule of pstore (kmsg_bytes); 0 stores nothing. */
  kmsgBytes?: number
  /** Panic message, e.g. "sysrq triggered crash". */
  message?: string
}

/** One part of a dump and what the backend's write answered for it (ids in decimal: results travel as JSON). */
export type PartResult = { part: number; compressed: boolean; bytes: number } & (
  | { stored: true; slot: number; id: string }
  | { stored: false; errno: Extract<DmesgWriteResult, { stored: false }>['errno']; why: string }
)

export interface CrashResult {
  /** Part 1 was stored. */
  stored: boolean
  /** Where part 1 went (ramoops: the dmesg zone). */
  zone?: number
  compressed?: boolean
  reason: DumpReason
  why?: string
  /** psinfo->name of the backend that took the dump. */
  backend?: string
  /** Every part the dumper handed over, in order, stored or refused. */
  parts?: PartResult[]
}

function freshVolatile(): MachineVolatile {
  return { bootCount: 0, bootedAtMs: Date.now(), oopsCount: 0, halted: false, log: [], lastUptimeUs: 0, ftraceCounter: 0 }
}

export class SimulatedMachine {
  readonly backend: PstoreBackend
  /** The target kernel and machine of the setup (its frontends, word size, compression, quirks). */
  readonly target: TargetSetup
  private volatile: MachineVolatile
  /** Bytes in state.log, kept so that printk does not sum the whole log each time. */
  private logBytes: number

  constructor(
    readonly setup: BackendSetup,
    readonly region: RegionImage,
    state?: MachineState,
    private readonly clock: () => number = Date.now,
  ) {
    this.backend = openBackend(setup, region)
    this.target = targetOf(setup)
    const { version: _version, backendMemory, ...own } = state ?? { version: 2, backendMemory: {} }
    this.volatile = { ...freshVolatile(), ...own }
    this.logBytes = this.volatile.log.reduce((n, r) => n + r.length, 0)
    this.backend.restoreMemory(backendMemory)
  }

  /** The state to keep between commands: the machine's own and, read now, the backend's memory. */
  get state(): Readonly<MachineState> {
    return { version: 2, ...this.volatile, backendMemory: this.backend.memory() }
  }

  /** Halted by a panic until the next boot. */
  get halted(): boolean {
    return this.volatile.halted
  }

  /** A reboot: the backend's probe (ramoops validates every zone, snapshots, zaps console and pmsg), then a read pass. */
  boot(): { reports: BootReport[]; records: PstoreRecord[] } {
    const reports = this.backend.boot()
    this.volatile = { ...freshVolatile(), bootCount: this.volatile.bootCount + 1, bootedAtMs: this.clock(), ftraceCounter: this.volatile.ftraceCounter }
    this.logBytes = 0
    const records = this.backend.readRecords()
    for (const line of bootBanner(this.setup)) this.printk(line, 6)
    return { reports, records }
  }

  uptimeUs(): number {
    const elapsed = Math.max(0, Math.round((this.clock() - this.volatile.bootedAtMs) * 1000))
    this.volatile.lastUptimeUs = Math.max(elapsed, this.volatile.lastUptimeUs + 1)
    return this.volatile.lastUptimeUs
  }

  private assertRunning(what: string): void {
    if (this.volatile.halted) {
      throw new MachineHaltedError(what)
    }
  }

  /** printk(): the log gets the record; the console zone gets it when the console frontend is built in. */
  printk(text: string, level = 6, facility = 0): void {
    const record: LogRecord = { facility, level, uptimeUs: this.uptimeUs(), text }
    const line = formatSyslogRecord(record)
    this.volatile.log.push(line)
    this.logBytes += line.length
    while (this.logBytes > LOG_BUFFER_BYTES && this.volatile.log.length > 1) this.logBytes -= this.volatile.log.shift()!.length
    // A refused console write (a zone whose start the kernel would write past) loses the
    // console copy only: printk never fails, and the log keeps the record.
    const backend = this.backend
    if (this.target.frontends.console && backend.writeConsole && !backend.whyNot('console') && !backend.consoleRefusal?.()) {
      backend.writeConsole(Buffer.from(formatConsoleRecord(record), 'latin1'))
    }
  }

  /** Console lines, as the kernel would print them (one printk per line). */
  console(text: string): number {
    this.assertRunning('console output')
    if (!this.target.frontends.console) throw new MachineSetupError('this target kernel has no pstore console frontend (CONFIG_PSTORE_CONSOLE off)')
    const missing = this.backend.whyNot('console')
    if (missing) throw new MachineSetupError(missing)
    const refusal = this.backend.consoleRefusal?.()
    if (refusal) throw refusal
    const lines = text.split('\n')
    if (lines[lines.length - 1] === '') lines.pop()
    for (const line of lines) this.printk(line, 6)
    return lines.length
  }

  /** One write(2) to /dev/pmsg0. */
  pmsg(bytes: Uint8Array): number {
    this.assertRunning('a pmsg write')
    if (!this.target.frontends.pmsg) throw new MachineSetupError('this target kernel has no /dev/pmsg0 (CONFIG_PSTORE_PMSG off)')
    const missing = this.backend.whyNot('pmsg')
    if (missing || !this.backend.writePmsg) throw new MachineSetupError(missing ?? `${this.backend.name} stores no pmsg records`)
    return this.backend.writePmsg(bytes)
  }

  /**
   * Whether /dev/pmsg0's bytes may be stored by a writer outside JS (the daemon's FIFO pump):
   * the backend can lend its pmsg ring (PstoreBackend.lendsPmsgRing).
   */
  get lendsPmsgRing(): boolean {
    return this.target.frontends.pmsg && this.backend.lendsPmsgRing === true
  }

  /**
   * The pmsg ring for that writer, or 'drop' when pmsg() would store nothing now (the machine
   * halted, or the zone's write is refused): such bytes are read and dropped. Until
   * reclaimPmsgRing() nothing here may touch the ring.
   */
  lendPmsgRing(): LentRing | 'drop' {
    if (this.halted) return 'drop'
    return this.backend.lendPmsgRing?.() ?? 'drop'
  }

  reclaimPmsgRing(): void {
    this.backend.reclaimPmsgRing?.()
  }

  /**
   * Function-trace records, each appended as the ftrace frontend would on that CPU. Every call
   * is checked first: a bad one stores none of them.
   */
  ftrace(calls: Array<{ cpu: number; ip: bigint; parentIp: bigint }>): number {
    this.assertRunning('ftrace records')
    if (!this.target.frontends.ftrace) throw new MachineSetupError('this target kernel has no pstore ftrace frontend (CONFIG_PSTORE_FTRACE off)')
    const backend = this.backend
    const missing = backend.whyNot('ftrace')
    if (missing || !backend.writeFtrace || !backend.checkFtrace) throw new MachineSetupError(missing ?? `${backend.name} stores no ftrace records`)
    const writeFtrace = backend.writeFtrace.bind(backend)
    const records = calls.map((call, i) => {
      checkFtraceCall(call, i, this.target.wordBits)
      backend.checkFtrace?.(call.cpu)
      return encodeFtraceRecord(
        { ip: call.ip, parentIp: call.parentIp, cpu: call.cpu, timestamp: BigInt(this.volatile.ftraceCounter + i) },
        this.target.wordBits,
      )
    })
    records.forEach((record, i) => writeFtrace(calls[i].cpu, record))
    this.volatile.ftraceCounter += calls.length
    return calls.length
  }

  /**
   * Builds, and throws away, what a panic would dump now (its report, the log, compressed as
   * this target compresses), changing nothing: run once while the machine is idle, so that the
   * first real crash runs compiled code (cold, the deflate of a record cost ~8 ms of a 130 ms
   * `pstore-sim panic`).
   */
  warmUpCrash(): void {
    if (this.volatile.halted || this.backend.whyNot('dmesg')) return
    const uptimeUs = this.volatile.lastUptimeUs
    const report = panicReport(this.setup, 'warm-up').map(([level, text]) => formatSyslogRecord({ facility: 0, level, uptimeUs, text }))
    buildDumpPart(this.dumpInput('panic', this.volatile.oopsCount + 1, [...this.volatile.log, ...report], true, { sec: 0, nsec: 0 }))
  }

  /** What kmsg_dump() hands the dumper on this target: bufsize and compression are the backend's. */
  private dumpInput(reason: DumpReason, oopsCount: number, log: string[], compress: boolean, time: DumpInput['time']): DumpInput {
    const { bufsize } = this.backend
    return {
      reason,
      oopsCount,
      log,
      bufsize,
      compress: compress && this.target.compress,
      flavour: this.target.quirks.compression,
      algorithm: this.target.compressAlgorithm,
      time,
      kernelExactDeflate: this.backend.kernelExactDeflate === true,
    }
  }

  /** A panic, oops, emergency restart or shutdown: the report is logged, then kmsg_dump(). */
  crash(options: CrashOptions): CrashResult {
    this.assertRunning(`a ${options.reason}`)
    const reason = options.reason
    const uptime = this.volatile.lastUptimeUs
    if (options.logText === undefined) {
      const report = reason === 'panic' ? panicReport(this.setup, options.message) : reason === 'oops' ? oopsReport(this.setup) : []
      for (const [level, line] of report) this.printk(line, level)
    }
    const result: CrashResult = { stored: false, reason }
    if (!reasonIsDumped(reason, this.setup.maxReason)) {
      result.why = `max_reason ${this.setup.maxReason} does not dump ${reason} (${reason} needs max_reason >= ${KMSG_DUMP[reason]})`
    } else if ((options.kmsgBytes ?? DEFAULT_KMSG_BYTES) <= 0) {
      result.why = 'kmsg_bytes is 0: the dumper stores nothing'
    } else if (this.backend.whyNot('dmesg')) {
      result.why = this.backend.whyNot('dmesg')
    } else {
      this.volatile.oopsCount++
      const log = options.logText !== undefined ? logFromText(options.logText, uptime) : this.volatile.log
      const nowMs = options.time !== undefined ? options.time * 1000 : this.clock()
      const sec = Math.floor(nowMs / 1000)
      const time = { sec, nsec: Math.round((nowMs - sec * 1000) * 1e6) }
      const input = this.dumpInput(reason, this.volatile.oopsCount, log, options.compress ?? true, time)
      const written = dumpParts({ ...input, kmsgBytes: options.kmsgBytes ?? DEFAULT_KMSG_BYTES }, (part) => this.backend.writeDmesg(part))
      const parts = written.map(
        ({ part, result }): PartResult => ({
          part: part.part,
          compressed: part.compressed,
          bytes: part.payload.length,
          ...(result.stored ? { ...result, id: String(result.id) } : result),
        }),
      )
      const first = parts[0]
      if (!first) result.why = 'the log is empty: nothing to dump'
      else if (first.stored) Object.assign(result, { stored: true, zone: first.slot, compressed: first.compressed })
      else result.why = `${this.backend.name} refused part 1 (-${first.errno}): ${first.why}`
      if (parts.length) Object.assign(result, { backend: this.backend.name, parts })
    }
    if (reason === 'panic') {
      this.printk(`---[ end Kernel panic - not syncing: ${options.message ?? 'sysrq triggered crash'} ]---`, 0)
      this.volatile.halted = true
    }
    return result
  }
}
