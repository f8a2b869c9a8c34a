/**
 * A mounted pstore: the simulated machine booted on the image, its files served over FUSE,
 * the pmsg FIFO beside the mountpoint and the control socket the CLI talks to. Mounting is a
 * boot; `reboot` boots again and reloads the view. Every change to the machine is an event run
 * by applyEvent (machine/events.ts); this class decides when (the FIFO's hold, the order of
 * start-up), never how. The process around it: lifecycle.ts; the checks before it: mountpoint.ts.
 */

import type net from 'node:net'
import path from 'node:path'
import type { LentRing } from '../backend/backend.js'
import { hasPmsgDevice } from '../backend/setup.js'
import { type AnyEvent, applyEvent, applyImmediateEvent, type EventContext, type EventResult, type ImmediateEvent } from '../machine/events.js'
import { ImageSession } from '../machine/imageSession.js'
import type { SetupOverrides } from '../machine/imageSetup.js'
import { nowTimespec } from '../pstore/filesystem.js'
import type { MountEntry } from '../pstore/mountView.js'
import { MountView } from '../pstore/mountView.js'
import type { PstoreRecord } from '../pstore/record.js'
import { SymbolTable } from '../pstore/symbols.js'
import { EnvironmentError } from '../util/errors.js'
import { type FuseNative, type FuseOperations, type FuseSession, loadFuse } from '../util/fuseNative.js'
import { logger } from '../util/log.js'
import { type ControlRequest, eventFromWire, serveControl } from './control.js'
import { EfivarsMount } from './efivarsFuse.js'
import { Errno, fuseOperations } from './fuseOperations.js'
import { checkEnvironment, detachMount, escapeFuseOption, fuseDiagnostics, MountError, prepareMountpoint } from './mountpoint.js'
import { NativeFilesMirror } from './nativeFiles.js'
import { checkFifoPath, defaultFifoPath, type PipeTools, PmsgFifo, type RingLender } from './pmsgFifo.js'
import { isMounted, removeMountRecord, runDir, socketPath, writeMountRecord } from './registry.js'

const debug = logger('daemon')

export interface MountOptions {
  image: string
  mountpoint: string
  overrides?: SetupOverrides
  readOnly?: boolean
  /** pstore's kmsg_bytes mount option (default 10240). */
  kmsgBytes?: number
  allowOther?: boolean
  /** Path of the pmsg FIFO; false for none. Default `<mountpoint>.pmsg0`. */
  pmsgFifo?: string | false
  exactNames?: boolean
  /** A System.map to print ftrace symbols with. */
  systemMap?: string
  /** Seconds the kernel may cache attributes and names (default 10; 0: every stat asks the daemon). */
  cacheTimeout?: number
}

/** How long the kernel may cache attributes and names (see PstoreDaemon.cacheTimeout). */
const CACHE_TIMEOUT_S = 10

export class PstoreDaemon {
  readonly session: ImageSession
  readonly view: MountView
  private fuse: FuseSession | undefined
  private fifo: PmsgFifo | undefined
  private control: net.Server | undefined
  private watchdog: NodeJS.Timeout | undefined
  private symbols: SymbolTable | undefined
  private stopping: Promise<void> | undefined
  private nativeFiles = false
  /** An efi machine's store as efivarfs shows it, on a second mount (efivarsFuse.ts). */
  private readonly efivars: EfivarsMount | undefined
  /** FUSE requests that reached the JS handlers, by operation (native answers are not counted). */
  private readonly jsRequests: Record<string, number> = {}
  readonly mountpoint: string
  readonly image: string
  private failed = false
  private stopRequested: () => void = () => undefined
  /** Settles when a stop begins, whoever asked (a signal, the control socket's umount, a failure). */
  readonly stopBegun = new Promise<void>((resolve) => (this.stopRequested = resolve))

  constructor(readonly options: MountOptions) {
    this.mountpoint = path.resolve(options.mountpoint)
    // One writer per image: a read-write mount locks it exclusively, a read-only one shares it
    // (no writer changes bytes it shows). Its boot stays in memory until the mount is up.
    this.session = ImageSession.open(path.resolve(options.image), options.overrides ?? {}, {
      readOnly: !!options.readOnly,
      lock: options.readOnly ? 'shared' : 'exclusive',
      deferWrites: !options.readOnly,
    })
    this.image = this.session.image
    this.efivars = EfivarsMount.forBackend(this.mountpoint, this.session.machine.backend, !!options.readOnly, (name, guid) =>
      this.runNow({ op: 'deleteVariable', name, guid }),
    )
    this.view = new MountView({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }, nowTimespec())
  }

  get hasFifo(): boolean {
    return this.fifo !== undefined
  }

  get fifoPath(): string | undefined {
    if (this.options.pmsgFifo === false || this.options.readOnly) return undefined
    return this.options.pmsgFifo ?? defaultFifoPath(this.mountpoint)
  }

  /** How events reach the machine from this mount: its kmsg_bytes, read-only or not, its view reloaded after a boot. */
  private get eventContext(): EventContext {
    return {
      kmsgBytes: this.options.kmsgBytes,
      readOnly: this.options.readOnly ? { mountpoint: this.mountpoint } : undefined,
      showBoot: (records) => this.showBoot(records),
    }
  }

  /** Runs one event on this mount's machine (the one path: machine/events.ts). */
  private run<E extends AnyEvent>(event: E): Promise<EventResult<E>> {
    return applyEvent(this.session, event, this.eventContext)
  }

  /** The same for an event that never boots, run to its answer now (a FUSE reply or the FIFO waits on it). */
  private runNow<E extends ImmediateEvent>(event: E): EventResult<E> {
    return applyImmediateEvent(this.session, event, this.eventContext)
  }

  /** runNow for the FIFO's side, which has nobody to answer: a failure is logged. */
  private runOrLog(event: ImmediateEvent): void {
    try {
      this.runNow(event)
    } catch (err) {
      debug('%s failed: %s', event.op, (err as Error).message)
    }
  }

  /** Boots the machine (at mount and on reboot); answers the names the view shows. */
  async boot(): Promise<string[]> {
    return (await this.run({ op: 'reboot' })).files
  }

  /**
   * Loads a boot's records into the view. When mounted, the kernel is told to forget every
   * name it may have cached (old and new) and the root's attributes, before this resolves: a
   * reboot is the only change of the file set that does not pass through the kernel.
   */
  private async showBoot(records: PstoreRecord[]): Promise<string[]> {
    const before = this.view.names()
    this.view.load(records, {
      now: nowTimespec(),
      wordBits: this.session.machine.target.wordBits,
      backend: this.session.machine.backend.name,
      symbols: this.symbols,
      exactNames: this.options.exactNames,
    })
    this.efivars?.list.load()
    debug('booted: %d records', records.length)
    if (this.fuse && this.cacheTimeout > 0) {
      await this.fuse.invalidate([...new Set([...before, ...this.view.names()])]).catch((err: Error) => {
        // Without it `ls` could show the previous boot's files for up to the cache timeout.
        throw new MountError(`reboot: the kernel's cache of ${this.mountpoint} could not be invalidated: ${err.message}`)
      })
    }
    return this.view.names()
  }

  /**
   * Seconds the kernel may cache attributes and names. Every change but a reboot reaches us
   * through the kernel (unlink, chmod, utimes, truncate), which updates its cache itself, and a
   * reboot invalidates explicitly (fuse.invalidate).
   */
  private get cacheTimeout(): number {
    return this.options.cacheTimeout ?? CACHE_TIMEOUT_S
  }

  /**
   * Checks everything that can fail before the boot changes a byte (FUSE, /dev/fuse, the run
   * directory, the mountpoint, the FIFO's path); boots into memory; mounts, and only then
   * writes the boot to the image. A failure after the boot leaves the image as it was.
   */
  async start(): Promise<void> {
    checkEnvironment()
    const Fuse = loadFuse()
    if (this.options.systemMap) this.symbols = await SymbolTable.load(this.options.systemMap)
    runDir()
    await prepareMountpoint(this.mountpoint)
    const fifoPath = hasPmsgDevice(this.session.setup) ? this.fifoPath : undefined
    if (fifoPath) checkFifoPath(fifoPath)
    const fsname = `pstore-sim:${escapeFuseOption(path.basename(this.image))}`
    await this.boot()
    try {
      await this.mount(Fuse, fsname)
      await this.efivars?.mount(Fuse, fsname, !!this.options.allowOther)
      const pipeTools: PipeTools = {
        mkfifo: Fuse.mkfifo,
        setPipeSize: Fuse.setPipeSize,
        pipeBytes: Fuse.pipeBytes,
        startRingPump: Fuse.startRingPump,
      }
      if (fifoPath) this.fifo = await PmsgFifo.create(fifoPath, (chunk) => this.pmsgFromFifo(chunk), pipeTools, this.pmsgRingLender())
      const socket = socketPath(this.mountpoint)
      this.control = await serveControl(socket, (request) => this.handle(request))
      writeMountRecord({
        pid: process.pid,
        image: this.image,
        mountpoint: this.mountpoint,
        socket,
        fifo: this.fifo?.path,
        efivars: this.efivars?.dir,
        readOnly: !!this.options.readOnly,
        startedAt: new Date().toISOString(),
      })
      this.session.commit()
      this.fifo?.begin()
    } catch (err) {
      this.failed = true
      await this.stop()
      throw err
    }
    // The daemon would live on after an outside `fusermount3 -u` or `umount`: notice and leave.
    this.watchdog = setInterval(() => {
      if (!isMounted(this.mountpoint)) {
        debug('mount vanished from outside; exiting')
        void this.stop()
      }
    }, 500)
    this.watchdog.unref()
    // A crash event's client takes a Node start (~100 ms) to arrive: compile its path meanwhile.
    setTimeout(() => {
      try {
        this.session.machine.warmUpCrash()
      } catch (err) {
        debug('crash warm-up failed: %s', (err as Error).message)
      }
    }, 0).unref()
  }

  /**
   * The machine's pmsg ring for the FIFO's native pump, when it can lend it (ramoops without
   * ECC): lent and taken back by events. PSTORE_SIM_PMSG_PUMP=0 stores every byte through JS
   * instead (for comparison).
   */
  private pmsgRingLender(): RingLender | undefined {
    if (!this.session.machine.lendsPmsgRing || process.env.PSTORE_SIM_PMSG_PUMP === '0') return undefined
    return {
      lend: () => {
        let lent: LentRing | 'drop' | undefined
        this.runOrLog({ op: 'pmsgLend', take: (ring) => (lent = ring) })
        if (lent === undefined) throw new Error('the pmsg ring could not be lent')
        return lent
      },
      reclaim: () => this.runOrLog({ op: 'pmsgReclaim' }),
    }
  }

  /** What the FIFO read in JS: one write to /dev/pmsg0 (none after a panic: the machine is halted). */
  private pmsgFromFifo(chunk: Buffer): void {
    this.runOrLog({ op: 'pmsg', data: chunk })
  }

  /** `rm` of a file: pstore's erase of its record; an errno for FUSE (0: erased). */
  private erase(entry: MountEntry): number {
    // an erase of pmsg-ramoops-0 zaps the live ring: what writers were told is stored lands
    // first, and the pump leaves the ring alone meanwhile (other erases never touch it)
    const release = entry.file.record.type === 'pmsg' ? this.fifo?.hold() : undefined
    try {
      this.runNow({ op: 'erase', type: entry.file.record.type, id: entry.file.record.id })
      return 0
    } catch (err) {
      debug('erase failed: %s', (err as Error).message)
      return Errno.EIO
    } finally {
      release?.()
    }
  }

  private async mount(Fuse: FuseNative, fsname: string): Promise<void> {
    const ops = this.counted(
      fuseOperations(this.view, {
        readOnly: !!this.options.readOnly,
        now: nowTimespec,
        erase: (entry) => this.erase(entry),
      }),
    )
    this.fuse = new Fuse(this.mountpoint, ops, {
      fsname,
      subtype: 'pstore',
      defaultPermissions: true,
      allowOther: !!this.options.allowOther,
      hardRemove: true,
      // No page cache: a descriptor opened before a reboot shares its inode with the next boot's
      // file of that name, so cached pages would show it the other boot's bytes (its reads go to
      // its own handle instead; see fuseOperations.ts).
      directIO: true,
      attrTimeout: this.cacheTimeout,
      entryTimeout: this.cacheTimeout,
      negativeTimeout: 0, // a name a reboot brings must show at once
      timeout: false,
    })
    // Answer getattr/readdir/open/read natively from a mirror of the view (fuse.files, native/fuse.c).
    // PSTORE_SIM_NATIVE_FILES=0 serves every request from JS instead (for comparison).
    const fuse = this.fuse
    this.nativeFiles = process.env.PSTORE_SIM_NATIVE_FILES !== '0'
    if (this.nativeFiles) this.view.observe(new NativeFilesMirror(fuse.files, this.view))
    await new Promise<void>((resolve, reject) =>
      fuse.mount((err) => {
        if (!err) return resolve()
        const why = fuseDiagnostics(this.mountpoint)
        this.fuse = undefined
        // Every input was checked before this point: what libfuse or fusermount3 refuses now is the
        // environment's (fuse.conf, permissions, the kernel), so exit 2 with their reason.
        reject(new EnvironmentError(`cannot mount ${this.mountpoint}: ${err.message}${why ? ` (${why})` : ''}`))
      }),
    )
  }

  /** Counts the requests each handler serves (`status` reports them: which path answered). */
  private counted(ops: FuseOperations): FuseOperations {
    const counted: Record<string, (...args: unknown[]) => void> = {}
    for (const [name, handler] of Object.entries(ops) as Array<[string, (...args: unknown[]) => void]>) {
      this.jsRequests[name] = 0
      counted[name] = (...args) => {
        this.jsRequests[name]++
        handler(...args)
      }
    }
    return counted as FuseOperations
  }

  async handle(request: ControlRequest): Promise<unknown> {
    if (request.op === 'status') return this.status()
    // no hold: the stop drains the FIFO itself (a hold's release would restart the pump only
    // for the stop to end it again)
    if (request.op === 'umount') {
      setImmediate(() => void this.stop())
      return { unmounting: true }
    }
    // Whatever writers were told is in /dev/pmsg0 comes before this event (and its snapshot),
    // and the FIFO's pump leaves the ring to it until it ends.
    const release = this.fifo?.hold()
    try {
      return await this.handleEvent(request)
    } finally {
      release?.()
    }
  }

  private status(): unknown {
    return {
      image: this.image,
      mountpoint: this.mountpoint,
      fifo: this.fifo?.path,
      files: this.view.names(),
      state: this.session.machine.state,
      nativeFiles: this.nativeFiles,
      pmsgPump: this.fifo?.pumped ?? false,
      jsRequests: this.jsRequests,
    }
  }

  private async handleEvent(request: Exclude<ControlRequest, { op: 'status' } | { op: 'umount' }>): Promise<unknown> {
    // a read-only mount takes a reboot too: it boots in memory and never writes the image
    return this.run(eventFromWire(request))
  }

  /**
   * Clean unmount: the FIFO drained into the image and removed, writes flushed, state saved,
   * registry cleaned (the log too). After a failed start nothing of the boot is written and
   * the log stays for the error's details.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopRequested()
      if (this.watchdog) clearInterval(this.watchdog)
      try {
        this.fifo?.close()
      } catch (err) {
        debug('pmsg FIFO drain failed: %s', (err as Error).message)
      }
      this.control?.close()
      if (this.fuse) {
        const fuse = this.fuse
        // bounded: a daemon was once seen whose unmount callback never came (a thread left in a pipe
        // read), so its umount waited in vain; after the bound the lazy unmount below ends the mount
        let bound: NodeJS.Timeout | undefined
        const unmounted = await Promise.race([
          new Promise<boolean>((resolve) => fuse.unmount(() => resolve(true))),
          new Promise<boolean>((resolve) => (bound = setTimeout(resolve, 5000, false))),
        ])
        clearTimeout(bound)
        if (!unmounted) debug('fuse unmount gave no callback within 5 s')
        if (isMounted(this.mountpoint)) await detachMount(this.mountpoint).catch(() => undefined)
      }
      await this.efivars?.unmount()
      if (this.failed) this.session.discard()
      else this.session.close()
      removeMountRecord(this.mountpoint, { log: !this.failed })
      debug('stopped')
    })()
    return this.stopping
  }
}
