/**
 * daemon/advice.ts: every setup problem the engine reports in the JS API's words comes out of
 * failureReport in the CLI's, the same whether the error was thrown here or sent by a daemon
 * (rebuilt from its name and facts).
 */
import t from 'tap'
import { failureReport, wireError } from '../../src/daemon/advice.js'
import { type SetupFacts, type SetupProblem, settingError } from '../../src/machine/imageSetup.js'
import { errorWithExitCode } from '../../src/util/errors.js'

const image = '/srv/x.img'
const BLK = 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y'

// A Record: a problem added to SetupProblem without a case here fails to type-check.
const CASES: Record<SetupProblem, Omit<SetupFacts, 'problem' | 'subject'> & { cli: RegExp }> = {
  exists: { param: 'force', cli: /already exists; pass --force to overwrite it$/ },
  noFormatSetup: { param: 'params.mem_size', cli: /--mem-size \(e\.g\. 1M\).*--cmdline.*--dts FILE$/ },
  autoOnFormat: { param: 'target.kernel', value: 'auto', cli: /^\S+: --kernel auto reads the version .*e\.g\. --kernel 6\.12\.0$/ },
  badSidecar: {
    param: 'setup',
    detail: 'not valid JSON (Unexpected token)',
    cli: /not a readable sidecar: not valid JSON \(Unexpected token\); fix it, or move it away and pass the setup with flags$/,
  },
  newerSidecar: {
    param: 'setup',
    value: 3,
    cli: /sidecar version 3, written by a newer pstore-sim \(this one reads versions 1 and 2\): open the image with a newer pstore-sim$/,
  },
  ramoopsParamOnBlk: { param: 'params.record_size', value: 4096, detail: BLK, cli: /--record-size is a ramoops parameter; .* --cmdline "pstore_blk\.blkdev=/ },
  dtsOnBlk: { param: 'dtsFile', value: 'a.dts', detail: BLK, cli: /--dts describes a ramoops node; pstore\/blk takes --cmdline "/ },
  erstOnBlk: { param: 'erst', cli: /--erst-size and --erst-record-size apply to --backend erst only; .*--disk-size for format/ },
  blkNeedsCmdline: { param: 'cmdline', detail: BLK, cli: /--backend blk needs the module parameters: --cmdline "pstore_blk/ },
  blkNeedsDiskSize: { param: 'diskSize', cli: /--disk-size \(e\.g\. 256K\)$/ },
  diskSizeNotBlk: { param: 'diskSize', value: 65536, cli: /--disk-size is for --backend blk/ },
  ramoopsOnOther: { param: 'cmdline', value: 'erst', cli: /ramoops parameters \(--mem-size, --cmdline, --dts, …\) do not apply to the erst backend$/ },
  erstOnRamoops: { param: 'erst', cli: /--erst-size and --erst-record-size apply to --backend erst only$/ },
  noSetup: {
    param: 'setup',
    detail: `${image}.json`,
    cli: /no setup: there is no \/srv\/x\.img\.json sidecar and no setup flags\. Pass .*--mem-size 0x100000/,
  },
  autoOnErst: { param: 'target.kernel', value: 'auto', cli: /--kernel auto reads ramoops' ftrace zones/ },
  autoOnBlk: { param: 'target.kernel', value: 'auto', cli: /--kernel auto reads ramoops' ftrace zones; a pstore\/blk disk's records hold no version/ },
  erstRefused: {
    param: 'erst.record_size',
    detail: 'record_size 5000 is invalid',
    cli: /--erst-record-size: QEMU would refuse this ERST setup: record_size 5000/,
  },
  efiOnOther: { param: 'efi', cli: /--efi-record-size, --efi-vars-template and --always-kmsg-dump apply to --backend efi only/ },
  efiRefused: {
    param: 'efi.record_size',
    detail: 'record_size is efi_pstore.record_size, a parameter of 6.2 and later',
    cli: /--efi-record-size: record_size is efi_pstore\.record_size, a parameter of 6\.2 and later/,
  },
  autoOnEfi: { param: 'target.kernel', value: 'auto', cli: /--kernel auto reads ramoops' ftrace zones; UEFI variables hold no version/ },
  autoUnreadable: {
    param: 'target.kernel',
    value: 'auto',
    detail: 'EACCES',
    cli: /--kernel auto reads the version from the image, which cannot be read \(EACCES\)/,
  },
  autoNotFound: {
    param: 'target.kernel',
    value: 'auto',
    detail: 'this setup has no ftrace zone',
    cli: /--kernel auto: this setup has no ftrace zone; give the version, e\.g\. --kernel 6\.12\.0$/,
  },
}

t.test('each setup problem: API words without flags, CLI words with them, the same after a daemon sent it', async (t) => {
  for (const [problem, { cli, ...facts }] of Object.entries(CASES) as Array<[SetupProblem, (typeof CASES)[SetupProblem]]>) {
    const err = settingError({ problem, subject: image, ...facts })
    t.notMatch(err.message, /--[a-z]|pstore-sim [a-z]|flags/, `${problem}: the API's message names no flag`)
    t.ok(err.message.startsWith(`${image}: `), `${problem}: the message names the image`)
    const report = failureReport(err)
    t.equal(report.exitCode, 1, `${problem}: a user's mistake`)
    t.match(report.message, new RegExp(`^${image.replace(/[/.]/g, '\\$&')}: `), `${problem}: the CLI line names the image`)
    t.match(report.message, cli, `${problem}: the CLI's words`)
    const wire = wireError(err)
    t.equal(wire.error, err.message, `${problem}: a daemon sends the engine's words, not the CLI's`)
    const received = errorWithExitCode(wire.error, wire.exitCode, wire.name, JSON.parse(JSON.stringify(wire.facts)))
    t.same(failureReport(received), report, `${problem}: phrased alike after crossing a socket`)
  }
})

t.test('an error without facts goes over the wire as its line, phrased once', async (t) => {
  const err = new Error('boom')
  const wire = wireError(err)
  t.equal(wire.name, undefined, 'no name: nothing for the receiver to phrase')
  t.match(wire.error, /^Error: boom$/, 'a bug: the first line of its stack')
})
