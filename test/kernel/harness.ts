/**
 * Boots a real kernel in QEMU (TCG) on a ramoops region image and reports what the kernel sees in
 * /sys/fs/pstore, plus the region as the kernel left it. Four kernels (`KernelSelector`): Debian's
 * 6.1 and 6.12 (ramoops as a module, no console/pmsg/ftrace frontend) and a small custom build of
 * each line (ramoops built in with every frontend, LKDTM; ramoops parameters on the command line).
 *
 * The kernel, its modules and the initramfs are prepared (and cached) by
 * scripts/kernel/prepare.sh; the guest side is scripts/kernel/init.sh. See test/kernel/README.md.
 *
 * Method (the same as the fixtures in test/fixtures/kernel-6.1): `-M pc -m 256M` (and
 * `-nodefaults`: no VGA, NIC, floppy or CD-ROM), the Debian
 * kernels entered at their PVH entry (`-kernel` on the unpacked vmlinux, see `bootImage`; the
 * fixtures were written booting the bzImage, and harness.test checks both give the same bytes),
 * `memmap=SIZE$ADDR` reserves the region, the image is preloaded with QEMU's generic loader,
 * ramoops is insmod'ed with module options, the region is dumped with QMP `pmemsave`.
 *
 * Serial ports: ttyS0 = kernel console (KernelRun.serial), ttyS1 = /init's protocol
 * (KernelRun.protocol, lines starting with PSTORESIM-), kept apart so kernel messages never
 * interleave with the base64 content.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, promises as fsp, readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

export interface KernelRamoopsParams {
  memSize: number
  recordSize: number
  consoleSize: number
  ftraceSize: number
  pmsgSize: number
  ecc: number
  memAddress?: number /* default 0x8000000 */
  maxReason?: number
}

export interface KernelFile {
  name: string
  size: number
  mode: string /* '0444' */
  uid: number
  gid: number
  mtimeSec: number
  mtimeNsec: number
  content: Buffer
  /** sha256 of the content as computed inside the guest (verified against content) */
  sha256: string
}

export interface KernelRun {
  listings: { tag: string; files: KernelFile[] }[]
  /** the region (memSize bytes at memAddress), dumped after the run */
  region: Buffer
  /** ttyS0: the kernel console (and /init's own diagnostics) */
  serial: string
  panicked: boolean
  /** ttyS1: /init's protocol lines */
  protocol: string
  /** protocol lines other than listings (ACTION, RM, INSMOD-OK, KLOG, ...), without the prefix */
  events: string[]
  /** module parameters as read from /sys/module after the last insmod */
  moduleParams: Record<string, string>
  /** the kernel command line used */
  cmdline: string
  timings: { toInitMs: number | null; totalMs: number }
  /** with moreRegions: one run per region (its listings and dump; the rest shared), first region first */
  regionRuns?: KernelRun[]
}

/** One ramoops region of a shared boot (runKernelBatch). */
export interface KernelRegion {
  image: Buffer
  params: KernelRamoopsParams
  actions: string[]
}

const regionPath = (tmp: string, when: 'before' | 'after', n: number): string => path.join(tmp, `region-${when}-${n}.bin`)

/** Gives each region without a memAddress the next 1 MiB-aligned range after `from`. */
function placeRegions(from: number, regions: KernelRegion[]): KernelRegion[] {
  let next = from
  return regions.map((r) => {
    const memAddress = r.params.memAddress ?? Math.ceil(next / 0x100000) * 0x100000
    next = memAddress + r.params.memSize
    return { ...r, params: { ...r.params, memAddress } }
  })
}

export interface KernelInfo {
  selector: KernelSelector
  kind: 'debian' | 'custom'
  package: string
  version: string
  release: string
  /** the upstream version (6.1.192, 6.12.107): what pstore-sim's --kernel takes */
  kernelVersion: string
  vmlinuz: string
  /**
   * The vmlinux ELF unpacked from vmlinuz when the kernel has a PVH entry (Debian's), else '':
   * QEMU boots it without the decompressor, which under TCG costs 2–6 s a boot (prepare.sh step 6)
   */
  pvh?: string
  systemMap: string
  /** ramoops built in: parameters on the kernel command line, no insmod/reload */
  builtinRamoops: boolean
  lkdtm: boolean
  initrd: string
  modules: string[]
  /** Debian kernels: virtio_pci, virtio_blk, pstore_zone, pstore_blk and their dependencies (load order) */
  blkModules?: string[]
  oopsModule: boolean
  /** efi-pstore.ko in the initramfs (Debian kernels; kernel.json before it: absent) */
  efiModule?: boolean
  qemu: string
  qemuVersion: string
  config: Record<string, string>
  builtin: Record<string, boolean>
}

/** Which kernel to boot: `<line>-debian` (Debian's kernel package) or `<line>-custom` (built here). */
export type KernelSelector = '6.1-debian' | '6.12-debian' | '6.1-custom' | '6.12-custom' | '6.1-compress'
export const KERNELS: readonly KernelSelector[] = ['6.1-debian', '6.12-debian', '6.1-custom', '6.12-custom', '6.1-compress']
export const DEFAULT_KERNEL: KernelSelector = '6.1-debian'

export const DEFAULT_MEM_ADDRESS = 0x8000000
const GUEST_RAM = 256 * 1024 * 1024

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '../..')
export const prepareScript = path.join(repoRoot, 'scripts/kernel/prepare.sh')

/** The kernel fixtures ship with the repository (test/fixtures/; see test/helpers/fixtures.ts). */
export { fixtureCase, fixturePath, fixturesDir, readFixture } from '../helpers/fixtures.js'

export function kernelCacheDir(): string {
  const root = process.env.PSTORE_SIM_CACHE ?? path.join(os.homedir(), '.cache/pstore-sim')
  return path.join(root, 'kernel')
}

/** `<cache>/kernel/<selector>`: that kernel's kernel.json, initramfs and pin. */
export function kernelDir(kernel: KernelSelector = DEFAULT_KERNEL): string {
  return path.join(kernelCacheDir(), kernel)
}

export function kernelInfo(kernel: KernelSelector = DEFAULT_KERNEL): KernelInfo | null {
  const f = path.join(kernelDir(kernel), 'kernel.json')
  if (!existsSync(f)) return null
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as KernelInfo
  } catch {
    return null
  }
}

/**
 * The longest time limit a kernel test file has (compat-suite.ts gives a custom kernel's file 45
 * minutes: its first preparation builds it). A boot or a preparation gets that much unless told
 * otherwise: how long either takes depends on how busy the machine is, and a limit of its own
 * below the test's would fail a slow run rather than a broken one.
 */
export const KERNEL_TEST_LIMIT_MS = 45 * 60_000

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Runs scripts/kernel/prepare.sh KERNEL (idempotent; ~1 s when cached; a custom kernel's first
 * build takes minutes). Returns that kernel's cache dir.
 */
export async function prepareKernel(kernel: KernelSelector = DEFAULT_KERNEL, timeoutMs = KERNEL_TEST_LIMIT_MS): Promise<string> {
  const r = await run('bash', [prepareScript, kernel], timeoutMs)
  if (r.code !== 0) throw new Error(`prepare.sh ${kernel} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`)
  return r.stdout.trim().split('\n').pop() ?? kernelDir(kernel)
}

/** Prepared (kernel.json, kernel, initramfs present) and qemu-system-x86_64 runnable. */
export async function kernelAvailable(kernel: KernelSelector = DEFAULT_KERNEL): Promise<{ ok: true } | { ok: false; reason: string }> {
  const info = kernelInfo(kernel)
  if (!info) return { ok: false, reason: `not prepared: no ${path.join(kernelDir(kernel), 'kernel.json')} (run ${prepareScript} ${kernel})` }
  for (const f of [info.vmlinuz, info.initrd]) {
    if (!existsSync(f)) return { ok: false, reason: `missing ${f} (run ${prepareScript})` }
  }
  try {
    const r = await run(info.qemu || 'qemu-system-x86_64', ['--version'], 20_000)
    if (r.code !== 0) return { ok: false, reason: `qemu-system-x86_64 --version exited ${r.code}: ${r.stderr.trim()}` }
  } catch (e) {
    return { ok: false, reason: `qemu-system-x86_64 not runnable: ${(e as Error).message}` }
  }
  return { ok: true }
}

/**
 * What QEMU's -kernel gets: the PVH vmlinux when there is one (the same kernel code, entered past
 * its decompressor), the bzImage otherwise or when PSTORE_SIM_KERNEL_BOOT=bzimage asks for it.
 */
function bootImage(info: KernelInfo): string {
  return info.pvh && process.env.PSTORE_SIM_KERNEL_BOOT !== 'bzimage' ? info.pvh : info.vmlinuz
}

const hex = (n: number): string => (n === 0 ? '0' : '0x' + n.toString(16))

/** The ramoops parameters as `name=value` words (insmod options, or `ramoops.`-prefixed on the command line). */
export function ramoopsWords(p: KernelRamoopsParams): string[] {
  const opts = [
    `mem_address=${hex(p.memAddress ?? DEFAULT_MEM_ADDRESS)}`,
    `mem_size=${hex(p.memSize)}`,
    `record_size=${hex(p.recordSize)}`,
    `console_size=${hex(p.consoleSize)}`,
    `ftrace_size=${hex(p.ftraceSize)}`,
    `pmsg_size=${hex(p.pmsgSize)}`,
    `ecc=${p.ecc}`,
  ]
  if (p.maxReason !== undefined) opts.push(`max_reason=${p.maxReason}`)
  return opts
}

export function ramoopsOptions(p: KernelRamoopsParams): string {
  return ramoopsWords(p).join(',')
}

// ------------------------------------------------------------------------------------ QMP
class Qmp {
  private sock: net.Socket
  private buf = ''
  private waiters: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = []
  private greeted: Promise<void>
  readonly events: { event: string; data?: unknown }[] = []
  closed = false

  private constructor(sock: net.Socket) {
    this.sock = sock
    let greet!: () => void
    this.greeted = new Promise((r) => (greet = r))
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString()
      let i: number
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim()
        this.buf = this.buf.slice(i + 1)
        if (!line) continue
        let msg: Record<string, unknown>
        try {
          msg = JSON.parse(line) as Record<string, unknown>
        } catch {
          continue
        }
        if ('QMP' in msg) greet()
        else if ('event' in msg) this.events.push({ event: String(msg.event), data: msg.data })
        else if ('return' in msg) this.waiters.shift()?.resolve(msg.return)
        else if ('error' in msg) this.waiters.shift()?.reject(new Error(`QMP error: ${JSON.stringify(msg.error)}`))
      }
    })
    const fail = (): void => {
      this.closed = true
      for (const w of this.waiters.splice(0)) w.reject(new Error('QMP connection closed'))
    }
    sock.on('close', fail)
    sock.on('error', fail)
  }

  static async connect(sockPath: string, deadline: number, alive: () => boolean): Promise<Qmp> {
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(sockPath)
          s.once('connect', () => resolve(s))
          s.once('error', reject)
        })
        const q = new Qmp(sock)
        await Promise.race([q.greeted, sleepUnref(deadline - Date.now()).then(() => Promise.reject(new Error('no QMP greeting')))])
        await q.cmd('qmp_capabilities')
        return q
      } catch (e) {
        if (!alive()) throw new Error('QEMU exited before QMP was up')
        if (Date.now() > deadline) throw new Error(`cannot connect to QMP at ${sockPath}: ${(e as Error).message}`)
        await sleep(50)
      }
    }
  }

  cmd(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'))
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this.sock.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + '\n')
    })
  }

  close(): void {
    this.sock.destroy()
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Whether every vCPU is in HLT (QEMU's `info registers -a` prints `HLT=1` for a halted CPU). */
async function everyCpuHalted(qmp: Qmp): Promise<boolean> {
  const text = String(await qmp.cmd('human-monitor-command', { 'command-line': 'info registers -a' }).catch(() => ''))
  const flags = [...text.matchAll(/\bHLT=(\d)/g)].map((m) => m[1])
  return flags.length > 0 && flags.every((f) => f === '1')
}
/** A sleep that does not keep the process alive: a deadline raced against what usually comes first. */
const sleepUnref = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref())

async function readText(f: string): Promise<string> {
  try {
    return await fsp.readFile(f, 'latin1')
  } catch {
    return ''
  }
}

// ------------------------------------------------------------------------------- parsing
export interface ParsedProtocol {
  listings: { tag: string; files: KernelFile[] }[]
  events: string[]
  moduleParams: Record<string, string>
  done: boolean
  booted: boolean
}

function kv(s: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const w of s.split(' ')) {
    const i = w.indexOf('=')
    if (i > 0) out[w.slice(0, i)] = w.slice(i + 1)
  }
  return out
}

/** Parses /init's protocol (ttyS1). Throws if a file's content does not match the guest's sha256. */
export function parseProtocol(text: string): ParsedProtocol {
  const res: ParsedProtocol = { listings: [], events: [], moduleParams: {}, done: false, booted: false }
  let listing: { tag: string; files: KernelFile[] } | null = null
  let file: KernelFile | null = null
  let b64: string[] | null = null
  let gzipped = false
  let params: Record<string, string> | null = null
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '')
    if (!line.startsWith('PSTORESIM-')) {
      if (b64) b64.push(line.trim())
      continue
    }
    const body = line.slice('PSTORESIM-'.length)
    const sp = body.indexOf(' ')
    const kw = sp < 0 ? body : body.slice(0, sp)
    const rest = sp < 0 ? '' : body.slice(sp + 1)
    switch (kw) {
      case 'LISTING-BEGIN':
        listing = { tag: kv(rest).tag ?? `listing${res.listings.length + 1}`, files: [] }
        break
      case 'LISTING-END':
        if (listing) res.listings.push(listing)
        listing = null
        break
      case 'FILE': {
        const f = kv(rest)
        const frac = /\.(\d+)/.exec(f.mtime_full ?? '')
        file = {
          name: f.name,
          size: Number(f.size),
          mode: (f.mode ?? '').padStart(4, '0'),
          uid: Number(f.uid),
          gid: Number(f.gid),
          mtimeSec: Number(f.mtime),
          mtimeNsec: frac ? Number(frac[1].padEnd(9, '0').slice(0, 9)) : 0,
          content: Buffer.alloc(0),
          sha256: f.sha256,
        }
        break
      }
      case 'B64-BEGIN':
        b64 = []
        gzipped = kv(rest).enc === 'gzip'
        break
      case 'B64-END':
        if (file && b64) {
          const bytes = Buffer.from(b64.join(''), 'base64')
          // /init gzips a file before base64 (READ-ERROR: nothing sent)
          file.content = gzipped && bytes.length ? gunzipSync(bytes) : bytes
          const sum = createHash('sha256').update(file.content).digest('hex')
          if (file.sha256 !== 'error' && sum !== file.sha256) {
            throw new Error(`serial transport corrupted ${file.name}: sha256 ${sum} != guest's ${file.sha256}`)
          }
          listing?.files.push(file)
        }
        file = null
        b64 = null
        break
      case 'PARAMS-BEGIN':
        params = {}
        break
      case 'PARAM': {
        const i = rest.indexOf(' ')
        if (params) params[rest.slice(0, i)] = rest.slice(i + 1)
        break
      }
      case 'PARAMS-END':
        if (params) res.moduleParams = params
        params = null
        break
      case 'DONE':
        res.done = true
        res.events.push(body)
        break
      case 'BOOTED':
        res.booted = true
        res.events.push(body)
        break
      default:
        res.events.push(body)
    }
  }
  return res
}

// --------------------------------------------------------------------------------- runKernel
export interface ErstOption {
  /** the memory backend's size= (the file's length) */
  size: number
  /** acpi-erst's record_size=; omitted: QEMU's default (8192) */
  recordSize?: number
}

function checkErstOption(erst: ErstOption, info: KernelInfo): void {
  if (info.kind !== 'debian') throw new Error(`ERST needs ACPI APEI, which only the Debian kernels have built in (not ${info.selector})`)
  const rs = erst.recordSize ?? 8192
  if (!(rs >= 4096 && (rs & (rs - 1)) === 0) || erst.size % rs !== 0 || erst.size < 2 * rs) throw new Error(`unusable ERST geometry ${JSON.stringify(erst)}`)
}

/** QEMU's acpi-erst over the file (share=on: the device's writes reach the file itself). */
function erstQemuArgs(file: string, erst: ErstOption): string[] {
  const dev = `acpi-erst,memdev=erstnvram${erst.recordSize === undefined ? '' : `,record_size=${erst.recordSize}`}`
  return ['-object', `memory-backend-file,id=erstnvram,mem-path=${file},size=${erst.size},share=on`, '-device', dev]
}

/** efi-pstore through Debian's OVMF: the image is the variable store (OVMF_VARS_4M.fd's layout). */
export interface EfiOption {
  /** efi-pstore.ko's module options (`record_size=2048`, 6.2+) */
  moduleArgs?: string[]
}

/** Debian's OVMF (the `ovmf` package, installed by prepare.sh): its code, read only. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'

function checkEfiOption(efi: EfiOption, info: KernelInfo): void {
  if (info.kind !== 'debian') throw new Error(`efi-pstore needs the Debian kernels' efi-pstore.ko (not ${info.selector})`)
  if (!info.efiModule) throw new Error(`no efi-pstore.ko in ${info.selector}'s initramfs: run ${prepareScript} ${info.selector}`)
  if (!existsSync(OVMF_CODE)) throw new Error(`${OVMF_CODE} missing: apt-get install ovmf (prepare.sh installs it)`)
  if (efi.moduleArgs?.some((w) => !/^[a-z_]+=[0-9A-Za-z]+$/.test(w))) throw new Error(`unsupported efi-pstore option in ${JSON.stringify(efi.moduleArgs)}`)
}

/** OVMF's code read only (unit 0), the store read-write (unit 1): the kernel's SetVariable calls reach the file. */
function efiQemuArgs(file: string): string[] {
  return ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${file}`]
}

const ACTION_RE =
  /^(region:[0-9]+|list|rmall|reload|remount|umount|mount|params|klog|panic|oops|oops:bug|warn|none|ftrace:on|ftrace:off|rm:[A-Za-z0-9._-]+|(kmsg|kmsg-cpus|pmsg):[!-+\--~]+|sleep:[0-9.]+)$/

/**
 * Boots the kernel on `image` (preloaded at memAddress), runs `actions` in the guest's /init and
 * returns the listings, the dumped region and the serial output. QEMU is always killed and the
 * temp dir removed (set PSTORE_SIM_KEEP_TMP=1 to keep it; its path is then printed to stderr).
 */
export async function runKernel(opts: {
  /** default 6.1-debian */
  kernel?: KernelSelector
  image: Buffer | string
  /** ramoops; ignored when `blk` is given */
  params?: KernelRamoopsParams
  /**
   * pstore/blk instead of ramoops (Debian kernels): the image is attached as a virtio disk
   * (/dev/vda), pstore_blk.ko is insmod'ed with these `name=value` options, and `region` is the
   * disk as the kernel left it
   */
  blk?: string[]
  /**
   * ACPI ERST instead of ramoops (Debian kernels: APEI built in): the image is QEMU's acpi-erst
   * backing file (`size` bytes, the device's `record_size`, QEMU's default 8192 when omitted),
   * nothing is insmod'ed, and `region` is the file as QEMU left it
   */
  erst?: ErstOption
  /**
   * efi-pstore instead of ramoops (Debian kernels): booted through OVMF (`-kernel` the bzImage,
   * its EFI stub), the image is the pflash variable store, efi-pstore.ko is insmod'ed, and
   * `region` is the store as OVMF left it
   */
  efi?: EfiOption
  actions: string[]
  cpus?: number
  rtcBase?: string /* '2024-01-01T00:00:00' */
  timeoutMs?: number
  /** more kernel command-line words (debugging: `acpi=off`, `ftrace=…`) */
  extraCmdline?: string[]
  /**
   * More ramoops regions for the same boot (ramoops as a module only; see runKernelBatch): after
   * the first region's actions, `region:N` rmmods ramoops and insmods it on region N, whose
   * actions follow. Each region gets its own reserved range (memAddress assigned when unset).
   */
  moreRegions?: KernelRegion[]
}): Promise<KernelRun> {
  const kernel = opts.kernel ?? DEFAULT_KERNEL
  const info = kernelInfo(kernel)
  if (!info) throw new Error(`kernel ${kernel} not prepared: run ${prepareScript} ${kernel}`)
  const blk = opts.blk
  if (blk && !info.blkModules?.length) throw new Error(`kernel ${kernel}: no pstore/blk modules in its initramfs (run ${prepareScript} ${kernel})`)
  if (blk?.some((w) => !/^[a-z_]+=[A-Za-z0-9/._-]+$/.test(w))) throw new Error(`unsupported pstore_blk option in ${JSON.stringify(blk)}`)
  const erst = opts.erst
  if (erst) checkErstOption(erst, info)
  const efi = opts.efi
  if (efi) checkEfiOption(efi, info)
  if (!blk && !erst && !efi && !opts.params) throw new Error('runKernel: params (ramoops), blk (pstore/blk) or erst is required')
  const p: KernelRamoopsParams = opts.params ?? { memSize: 4096, recordSize: 0, consoleSize: 0, ftraceSize: 0, pmsgSize: 0, ecc: 0 }
  const memAddress = p.memAddress ?? DEFAULT_MEM_ADDRESS
  const more = placeRegions(memAddress + p.memSize, opts.moreRegions ?? [])
  if (more.length && (blk || erst || efi || info.builtinRamoops))
    throw new Error(`moreRegions need ramoops as a module (${kernel}${blk ? ', pstore/blk' : erst ? ', ERST' : ''})`)
  const actions = [...opts.actions, ...more.flatMap((r, i) => [`region:${i + 1}`, ...r.actions])]
  if (actions.slice(0, -1).includes('panic')) throw new Error('panic ends the boot: only the last action of the last region may be a panic')
  const cpus = opts.cpus ?? 1
  const rtcBase = opts.rtcBase ?? '2024-01-01T00:00:00'
  const timeoutMs = opts.timeoutMs ?? KERNEL_TEST_LIMIT_MS
  for (const a of actions) {
    if (!ACTION_RE.test(a)) throw new Error(`unsupported action ${JSON.stringify(a)}`)
    if ((a.startsWith('oops') || a === 'warn') && !info.oopsModule && !info.lkdtm)
      throw new Error('oops action unavailable: no LKDTM and the helper module not built (see prepare.sh output)')
    if (a === 'reload' && info.builtinRamoops) throw new Error(`reload needs ramoops as a module; ${kernel} has it built in`)
    const fe = /^(pmsg|ftrace):/.exec(a)?.[1]
    if (fe && info.config[fe === 'pmsg' ? 'PSTORE_PMSG' : 'PSTORE_FTRACE'] !== 'y') throw new Error(`${a}: ${kernel} has no ${fe} frontend`)
  }
  if (blk || erst || efi) {
    /* a disk or a file of QEMU's: no reserved memory */
  } else if (!(p.memSize > 0) || memAddress % 4096 !== 0) throw new Error('memSize must be > 0 and memAddress page aligned')
  const reserve = Math.ceil(p.memSize / 4096) * 4096
  const ranges = [{ memAddress, memSize: reserve }, ...more.map((m) => ({ memAddress: m.params.memAddress!, memSize: m.params.memSize }))]
  for (const r of ranges) {
    const end = r.memAddress + Math.ceil(r.memSize / 4096) * 4096
    if (r.memAddress < 0x1000000 || end > GUEST_RAM - 0x2000000) {
      throw new Error(`region 0x${r.memAddress.toString(16)}..0x${end.toString(16)} does not fit the 256M guest (keep it within 16M..224M)`)
    }
    if (r.memAddress % 4096 !== 0) throw new Error(`region at 0x${r.memAddress.toString(16)} is not page aligned`)
    if (ranges.some((o) => o !== r && o.memAddress < end && r.memAddress < o.memAddress + o.memSize))
      throw new Error(`region 0x${r.memAddress.toString(16)}..0x${end.toString(16)} overlaps another`)
  }
  for (const r of more) if (r.image.length > r.params.memSize) throw new Error(`image (${r.image.length} bytes) larger than memSize (${r.params.memSize})`)
  const image = typeof opts.image === 'string' ? await fsp.readFile(opts.image) : opts.image
  if (erst && image.length !== erst.size) throw new Error(`ERST image is ${image.length} bytes, size is ${erst.size}`)
  if (!blk && !erst && !efi && image.length > p.memSize) throw new Error(`image (${image.length} bytes) larger than memSize (${p.memSize})`)

  const started = Date.now()
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pstore-sim-kernel-'))
  if (/[,\s]/.test(tmp)) throw new Error(`temp dir ${tmp} contains a comma or space (QEMU option syntax)`)
  const imgPath = path.join(tmp, 'region-before.bin')
  const dumpPath = path.join(tmp, 'region-after.bin')
  const consolePath = path.join(tmp, 'serial-console.log')
  const protoPath = path.join(tmp, 'serial-protocol.log')
  const qmpPath = path.join(tmp, 'qmp.sock')
  const cmdline = [
    'console=ttyS0,115200',
    'panic=0',
    'nokaslr',
    'loglevel=7',
    ...(blk || erst || efi ? [] : [`memmap=${hex(reserve)}$${hex(memAddress)}`]),
    ...more.map((r) => `memmap=${hex(Math.ceil(r.params.memSize / 4096) * 4096)}$${hex(r.params.memAddress!)}`),
    ...more.map((r, i) => `pstoresim.region.${i + 1}=${ramoopsOptions(r.params)}`),
    // built in: ramoops reads its module parameters from the command line (ramoops.NAME=VALUE)
    ...(efi
      ? [`pstoresim.efi=${efi.moduleArgs?.length ? efi.moduleArgs.join(',') : '1'}`]
      : erst
        ? ['pstoresim.erst=1']
        : blk
          ? [`pstoresim.blk=${blk.join(',')}`]
          : info.builtinRamoops
            ? ['pstoresim.ramoops=builtin', ...ramoopsWords(p).map((w) => `ramoops.${w}`)]
            : [`pstoresim.ramoops=${ramoopsOptions(p)}`]),
    `pstoresim.actions=${actions.length ? actions.join(',') : 'none'}`,
    ...(opts.extraCmdline ?? []),
  ].join(' ')
  const args = [
    '-M',
    'pc',
    // no default VGA, NIC (and its iPXE ROM), floppy or CD-ROM: nothing here uses them, and under
    // TCG OVMF spent ~2.5 s of every boot starting them (SeaBIOS and the kernel a little too)
    '-nodefaults',
    '-m',
    '256M',
    // one CPU per socket: SeaBIOS's MP table lists one CPU per package, and the custom kernels
    // (no ACPI, so no MADT) find their CPUs there
    '-smp',
    `${cpus},sockets=${cpus},cores=1,threads=1`,
    '-accel',
    'tcg',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    '-no-shutdown',
    '-rtc',
    `base=${rtcBase},clock=vm`,
    '-serial',
    `file:${consolePath}`,
    '-serial',
    `file:${protoPath}`,
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
    '-kernel',
    // OVMF enters the bzImage's EFI stub (a PVH entry bypasses the firmware and its runtime services)
    efi ? info.vmlinuz : bootImage(info),
    '-initrd',
    info.initrd,
    '-append',
    cmdline,
    ...(efi
      ? efiQemuArgs(imgPath)
      : erst
        ? erstQemuArgs(imgPath, erst)
        : blk
          ? ['-drive', `file=${imgPath},format=raw,if=virtio`]
          : ['-device', `loader,file=${imgPath},addr=${hex(memAddress)},force-raw=on`]),
    ...more.flatMap((r, i) => ['-device', `loader,file=${regionPath(tmp, 'before', i + 1)},addr=${hex(r.params.memAddress!)},force-raw=on`]),
  ]

  let child: ChildProcess | null = null
  let qmp: Qmp | null = null
  let qemuStderr = ''
  let exited = false
  const killOnExit = (): void => {
    child?.kill('SIGTERM')
  }
  const keep = process.env.PSTORE_SIM_KEEP_TMP === '1'
  try {
    await fsp.writeFile(imgPath, image)
    for (const [i, r] of more.entries()) await fsp.writeFile(regionPath(tmp, 'before', i + 1), r.image)
    await fsp.writeFile(path.join(tmp, 'qemu-args.json'), JSON.stringify([info.qemu, ...args], null, 1) + '\n')
    // coreutils timeout: QEMU never outlives the run by much, even if this process is killed
    // before its finally block runs (SIGTERM to `timeout` is forwarded to QEMU)
    const hardLimit = String(Math.ceil(timeoutMs / 1000) + 30)
    const proc = spawn('timeout', ['--kill-after=5', hardLimit, info.qemu || 'qemu-system-x86_64', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child = proc
    process.once('exit', killOnExit)
    const exitP = new Promise<void>((resolve) => {
      proc.on('exit', () => {
        exited = true
        resolve()
      })
      proc.on('error', (e) => {
        qemuStderr += String(e)
        exited = true
        resolve()
      })
    })
    proc.stderr?.on('data', (d: Buffer) => (qemuStderr += d.toString()))
    const deadline = started + timeoutMs
    qmp = await Qmp.connect(qmpPath, deadline, () => !exited)

    // wait for /init's DONE, a finished panic, a guest shutdown/reset or the timeout
    let toInitMs: number | null = null
    let panicked = false
    let protocol = ''
    let serial = ''
    for (;;) {
      protocol = await readText(protoPath)
      serial = await readText(consolePath)
      if (toInitMs === null && protocol.includes('PSTORESIM-BOOTED')) toInitMs = Date.now() - started
      if (/^PSTORESIM-DONE\s*$/m.test(protocol)) {
        // let /init power off (-no-shutdown keeps QEMU up, paused): a kernel with
        // max_reason >= 4 (KMSG_DUMP_SHUTDOWN) dumps to ramoops on the way down. A kernel without
        // ACPI power-off (the custom builds) halts instead: it prints "reboot: System halted" (6.12:
        // "reboot: Power off not available: System halted instead"), then dumps, then stops every
        // CPU in a HLT loop (machine_halt), so no SHUTDOWN comes: every vCPU halted after that
        // line means the dump is written (nothing there sleeps, so no CPU idles before it), and
        // 1 s after the line covered it before that was checked. How long power-off takes depends
        // on how busy the machine is: wait for it up to the run's own deadline.
        let haltedAt: number | null = null
        while (!exited && Date.now() < deadline && !qmp.events.some((e) => e.event === 'SHUTDOWN')) {
          if (haltedAt === null && /reboot: (.*: )?System halted/.test(await readText(consolePath))) haltedAt = Date.now()
          if (haltedAt !== null && (Date.now() - haltedAt >= 1000 || (await everyCpuHalted(qmp)))) break
          await sleep(50)
        }
        break
      }
      if (serial.includes('---[ end Kernel panic')) {
        panicked = true
        break
      }
      if (exited) throw new Error(`QEMU exited early (${proc.exitCode ?? proc.signalCode}): ${qemuStderr.trim()}`)
      if (qmp.events.some((e) => e.event === 'SHUTDOWN' || e.event === 'RESET')) break
      if (Date.now() > deadline) throw new Error(`timeout after ${timeoutMs} ms`)
      await sleep(100)
    }
    // pause the guest, dump the region, quit
    await qmp.cmd('stop')
    if (!blk && !erst && !efi) await qmp.cmd('pmemsave', { val: memAddress, size: p.memSize, filename: dumpPath })
    for (const [i, r] of more.entries()) {
      await qmp.cmd('pmemsave', { val: r.params.memAddress!, size: r.params.memSize, filename: regionPath(tmp, 'after', i + 1) })
    }
    protocol = await readText(protoPath)
    serial = await readText(consolePath)
    await qmp.cmd('quit').catch(() => undefined)
    await Promise.race([exitP, sleepUnref(deadline - Date.now())])
    // a disk is read once QEMU has closed it (the guest's completed writes are in the file)
    const region = await fsp.readFile(blk || erst || efi ? imgPath : dumpPath)

    const parsed = parseProtocol(protocol)
    if (qmp.events.some((e) => e.event === 'SHUTDOWN')) parsed.events.push('QEMU-SHUTDOWN (guest powered off)')
    if (!parsed.done && !panicked) {
      throw new Error(`guest stopped without PSTORESIM-DONE (events: ${qmp.events.map((e) => e.event).join(',')})`)
    }
    const run: KernelRun = {
      listings: parsed.listings,
      region,
      serial,
      panicked,
      protocol,
      events: parsed.events,
      moduleParams: parsed.moduleParams,
      cmdline,
      timings: { toInitMs, totalMs: Date.now() - started },
    }
    if (!more.length) return run
    // region N's listings are those of the steps from its `region:N` on (init.sh counts every action)
    const starts = [1, ...actions.flatMap((a, i) => (a.startsWith('region:') ? [i + 1] : []))]
    const regionOfListing = (tag: string): number => starts.filter((s) => Number(/^step(\d+)$/.exec(tag)?.[1] ?? 0) >= s).length - 1
    const dumps = [region, ...(await Promise.all(more.map((_, i) => fsp.readFile(regionPath(tmp, 'after', i + 1)))))]
    run.regionRuns = dumps.map((d, n) => ({ ...run, region: d, listings: parsed.listings.filter((l) => regionOfListing(l.tag) === n) }))
    return run
  } catch (e) {
    const err = e as Error
    const tail = (s: string): string => s.split('\n').slice(-25).join('\n')
    err.message +=
      `\n--- qemu stderr:\n${qemuStderr.trim()}` +
      `\n--- console (tail):\n${tail(await readText(consolePath))}` +
      `\n--- protocol (tail):\n${tail(await readText(protoPath))}` +
      (keep ? `\n--- kept: ${tmp}` : '\n(set PSTORE_SIM_KEEP_TMP=1 to keep the temp dir)')
    throw err
  } finally {
    qmp?.close()
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child
      const gone = new Promise<boolean>((r) => c.once('exit', () => r(true)))
      c.kill('SIGTERM')
      if (!(await Promise.race([gone, sleep(5000).then(() => false)]))) {
        c.kill('SIGKILL')
        await Promise.race([gone, sleep(2000)])
      }
    }
    process.removeListener('exit', killOnExit)
    if (keep) process.stderr.write(`pstore-sim kernel harness: kept ${tmp}\n`)
    else await fsp.rm(tmp, { recursive: true, force: true })
  }
}

/**
 * Several ramoops regions in one boot of a kernel with ramoops as a module: region 1's actions,
 * then for each next region rmmod + insmod ramoops on it (the kernel's own probe and read pass, as
 * in a fresh boot) and its actions. One run per region, in order. Under TCG a boot costs seconds;
 * list-only cases of one CPU count share one this way.
 */
export async function runKernelBatch(opts: { kernel: KernelSelector; cpus?: number; regions: KernelRegion[]; timeoutMs?: number }): Promise<KernelRun[]> {
  const [first, ...moreRegions] = opts.regions
  if (!first) throw new Error('runKernelBatch: no regions')
  const run = await runKernel({ kernel: opts.kernel, cpus: opts.cpus, timeoutMs: opts.timeoutMs, ...first, moreRegions })
  return run.regionRuns ?? [run]
}

/**
 * Prepares the kernel cache (idempotent) and says why the kernel suites cannot run here, if they
 * cannot; false when they can.
 */
export async function kernelSkipReason(kernel: KernelSelector = DEFAULT_KERNEL): Promise<string | false> {
  try {
    await prepareKernel(kernel)
  } catch (e) {
    return `cannot prepare kernel ${kernel}: ${(e as Error).message.split('\n').slice(0, 5).join(' | ')}`
  }
  const avail = await kernelAvailable(kernel)
  return avail.ok ? false : `kernel/qemu unavailable: ${avail.reason}`
}
