/**
 * An image opened for a command (an ImageSession): its lock, its setup, its region and the
 * simulated machine's volatile state (kept in `IMAGE.state.json` between commands while no
 * daemon owns the image). Not the machine itself: that is machine.ts's SimulatedMachine.
 */
import fs from 'node:fs'
import { BlkSetupError } from '../backend/blk/blkSetup.js'
import { EfiSetupError } from '../backend/efi/efiSetup.js'
import { initialStore } from '../backend/efi/emptyStore.js'
import { type BackendSetup, dmesgUnits, imageSize } from '../backend/setup.js'
import { ProbeError } from '../backend/target.js'
import { ImageError, RegionImage } from '../format/region.js'
import { PstoreSimError } from '../util/errors.js'
import { createExclusive, FileWriteError, temporaryName, writeFileAtomic } from '../util/files.js'
import { type LockMode, lockHolder, tryLock } from '../util/flock.js'
import { isAuto, SetupError, type SetupOverrides, type SetupSource, settingError, setupForImage, writeSidecar } from './imageSetup.js'
import { type MachineState, SimulatedMachine, stateFromJson } from './machine.js'

export function statePath(image: string): string {
  return `${image}.state.json`
}

/** No file at `image` (its facts let the CLI point at `format`). */
export function missingImage(image: string): ImageError {
  return new ImageError(`${image}: no such image (formatImage creates one)`, { problem: 'missing', subject: image, param: 'image', value: image })
}

/** Another process writes (or reads, with a shared lock) the image: its pid when known. */
export class ImageLockedError extends PstoreSimError {
  override name = 'ImageLockedError'
  constructor(
    readonly image: string,
    readonly holderPid: number | undefined,
  ) {
    // facts: the CLI names the holder's mount from them, in this process or after a daemon sent them
    super(`${image}: in use by ${holderPid ? `pid ${holderPid}` : 'another process'}`, {
      problem: 'locked',
      subject: image,
      param: 'image',
      ...(holderPid ? { value: holderPid } : {}),
    })
  }
}

/** The image's real path: locks, sidecars and state files belong to the file, not to a link to it. */
export function realImagePath(image: string): string {
  try {
    return fs.realpathSync(image)
  } catch {
    return image
  }
}

/**
 * Locks the image for as long as the returned fd stays open: 'exclusive' for any writer (one
 * writer per image), 'shared' for a read-only mount (no writer changes the bytes it shows).
 */
export function lockImage(image: string, mode: LockMode): number {
  const fd = fs.openSync(image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  try {
    if (tryLock(fd, mode)) return fd
    throw new ImageLockedError(image, lockHolder(fd))
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
}

export interface OpenOptions {
  readOnly: boolean
  clock?: () => number
  /** Default: exclusive for read-write, none for read-only. */
  lock?: LockMode | 'none'
  /** Changes stay in memory until commit() (a mount's boot, until the mount is up). */
  deferWrites?: boolean
}

export class ImageSession {
  private lockFd: number | undefined
  private deferred = false

  private constructor(
    readonly image: string,
    readonly setup: BackendSetup,
    readonly source: SetupSource,
    readonly region: RegionImage,
    readonly machine: SimulatedMachine,
    readonly readOnly: boolean,
  ) {}

  static open(image: string, overrides: SetupOverrides, options: OpenOptions): ImageSession {
    if (!fs.existsSync(image)) throw missingImage(image)
    image = realImagePath(image)
    const lock = options.lock ?? (options.readOnly ? 'none' : 'exclusive')
    const lockFd = lock === 'none' ? undefined : lockImage(image, lock)
    try {
      const { setup, source } = setupForImage(image, overrides)
      const region = RegionImage.open(image, { readOnly: options.readOnly, expectedSize: imageSize(setup) })
      const machine = new SimulatedMachine(setup, region, loadState(image), options.clock)
      const session = new ImageSession(image, setup, source, region, machine, options.readOnly)
      session.lockFd = lockFd
      if (options.deferWrites) {
        session.deferred = true
        region.holdWrites()
      }
      return session
    } catch (err) {
      if (lockFd !== undefined) fs.closeSync(lockFd)
      throw err
    }
  }

  /** Persists the machine's volatile state (never for read-only images: evidence stays untouched). */
  saveState(): void {
    if (this.readOnly || this.deferred) return
    writeFileAtomic(statePath(this.image), JSON.stringify(this.machine.state) + '\n')
  }

  /**
   * Writes what was held in memory since open({ deferWrites }): the region's changes, then the
   * state. If either fails, the region's file is put back as it was and the error thrown.
   */
  commit(): void {
    if (!this.deferred) return
    const undo = this.region.commitHeld()
    this.deferred = false
    try {
      this.saveState()
    } catch (err) {
      undo()
      this.deferred = true
      throw err
    }
  }

  /** Closes without writing anything held (a mount that failed after its boot). */
  discard(): void {
    this.region.discardHeld()
    this.release()
  }

  close(): void {
    if (this.deferred) return this.discard()
    try {
      this.region.close()
      this.saveState()
    } finally {
      this.release()
    }
  }

  private release(): void {
    if (this.lockFd !== undefined) fs.closeSync(this.lockFd)
    this.lockFd = undefined
  }
}

/**
 * Writes the image's zeros instead of leaving a sparse file: every block is then allocated, so
 * the in-place stores of later events cannot fail on a full disk half-way (a RAM region has all
 * its bytes, too); a disk too small fails here, before the image exists.
 */
function allocateZeroed(fd: number, size: number, image: string): void {
  const zeros = Buffer.alloc(Math.min(size, 1 << 20))
  try {
    // A full disk first shortens a write, then fails the next one with ENOSPC.
    for (let offset = 0; offset < size; ) offset += fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - offset), offset)
  } catch (err) {
    throw new FileWriteError(image, (err as NodeJS.ErrnoException).code, err as Error)
  }
}

/** The whole of `bytes` at the file's start (a full disk fails here, before the image exists). */
function writeAll(fd: number, bytes: Buffer, image: string): void {
  try {
    for (let offset = 0; offset < bytes.length; ) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset, offset)
  } catch (err) {
    throw new FileWriteError(image, (err as NodeJS.ErrnoException).code, err as Error)
  }
}

function loadState(image: string): MachineState | undefined {
  try {
    return stateFromJson(JSON.parse(fs.readFileSync(statePath(image), 'utf8')))
  } catch {
    return undefined
  }
}

/**
 * `pstore-sim format`: a zeroed image of mem_size bytes, its sidecar, and a first boot that
 * gives every zone its signature, as a kernel's first boot would.
 */
export function formatImage(image: string, overrides: SetupOverrides, options: { force?: boolean } = {}): { setup: BackendSetup; dmesgZones: number } {
  if (overrides.detect)
    throw new SetupError(
      `${image}: detect reads the setup of an existing image; format makes a new one from the setup given (inspect --detect prints it as parameters)`,
    )
  if (fs.existsSync(image) && !options.force) throw settingError({ problem: 'exists', subject: image, param: 'force' })
  const erst = overrides.backend === 'erst' || overrides.backend === 'efi'
  if (!erst && overrides.backend !== 'blk' && !overrides.cmdline && !overrides.dtsFile && overrides.params?.mem_size === undefined) {
    throw settingError({ problem: 'noFormatSetup', subject: image, param: 'params.mem_size' })
  }
  if (isAuto(overrides.target?.kernel)) throw settingError({ problem: 'autoOnFormat', subject: image, param: 'target.kernel', value: 'auto' })
  // The image being replaced may be mounted or written: its writer holds the lock.
  const oldLock = fs.existsSync(image) ? lockImage(realImagePath(image), 'exclusive') : undefined
  try {
    const target = oldLock !== undefined ? realImagePath(image) : image
    // The setup resolved and laid out before the first byte is written: a refused format
    // leaves no image or sidecar behind (and an existing one untouched).
    const { setup, source } = setupForImage(target, overrides, { ignoreSidecar: true, formatting: true })
    let dmesgZones: number
    // efi: the empty store (OVMF's, or the template) instead of zeros, checked before anything is written
    let initial: Buffer | undefined
    try {
      dmesgZones = dmesgUnits(setup)
      if (setup.backend === 'efi') initial = initialStore(setup.varsTemplate)
    } catch (err) {
      if (err instanceof EfiSetupError) throw settingError({ problem: 'efiRefused', subject: image, param: `efi.${err.param}`, detail: err.message })
      if (err instanceof ProbeError || err instanceof BlkSetupError) throw new SetupError(`${image}: the kernel would refuse this setup: ${err.message}`)
      throw err
    }
    // Built under a temporary name and renamed into place: nothing planted at the name is
    // followed, and a failure (a full disk) leaves no half image.
    const tmp = temporaryName(target)
    try {
      const fd = createExclusive(tmp)
      try {
        if (initial) writeAll(fd, initial, target)
        else allocateZeroed(fd, imageSize(setup), target)
      } finally {
        fs.closeSync(fd)
      }
      const region = RegionImage.open(tmp, { readOnly: false, expectedSize: imageSize(setup) })
      const machine = new SimulatedMachine(setup, region, undefined)
      machine.boot()
      try {
        region.close()
      } catch (err) {
        throw new FileWriteError(target, (err as NodeJS.ErrnoException).code, err as Error)
      }
      writeSidecar(target, source, setup)
      writeFileAtomic(statePath(target), JSON.stringify(machine.state) + '\n')
      fs.renameSync(tmp, target)
      return { setup, dmesgZones }
    } finally {
      fs.rmSync(tmp, { force: true })
    }
  } finally {
    if (oldLock !== undefined) fs.closeSync(oldLock)
  }
}
