/**
 * The resolved setup's JSON (the sidecar's `resolved`, `inspect --json`'s `setup`) keeps the shape,
 * key order included, that pstore-sim wrote before each backend had its own setup type.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { resolveSetup, type SetupSource, setupJson } from '../../src/backend/setup.js'
import { fixturesDir } from '../helpers/fixtures.js'

const STATE_V1 = path.join(fixturesDir, 'state-v1')

for (const name of ['ramoops.img.json', 'erst.img.json']) {
  t.test(`${name} of state-v1: its setup resolves to its resolved, byte for byte`, async (t) => {
    const text = fs.readFileSync(path.join(STATE_V1, name), 'utf8')
    const sidecar = JSON.parse(text) as { setup: SetupSource; resolved: unknown }
    t.equal(JSON.stringify(setupJson(resolveSetup(sidecar.setup)), null, 2), JSON.stringify(sidecar.resolved, null, 2))
  })
}

/** A blk sidecar as the code before the setup types wrote it (`format --backend blk … --disk-size 256K --kernel 6.1.192`). */
const BLK_SIDECAR = {
  pstoreSim: 1,
  setup: {
    backend: 'blk',
    cmdline: 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y',
    diskSize: 262144,
    target: {
      kernel: '6.1.192',
    },
  },
  resolved: {
    source: 'module',
    memAddress: 0,
    memSize: 262144,
    recordSize: 65536,
    consoleSize: 0,
    ftraceSize: 0,
    pmsgSize: 0,
    eccSize: 0,
    eccBlockSize: 128,
    maxReason: 2,
    ftracePerCpu: true,
    kernel: '6.1.192',
    cpus: 1,
    wordBits: 64,
    frontends: {
      console: false,
      pmsg: false,
      ftrace: false,
    },
    compress: true,
    quirks: {
      pmsgBeforeFtrace: false,
      evenZoneSizes: true,
      emptyZoneChecksStart: true,
      compression: 'crypto-deflate-11',
      eccNoticePrefix: true,
    },
    blk: {
      blkdev: '/dev/vda',
      diskSize: 262144,
      totalSize: 262144,
      kmsgSize: 65536,
      pmsgSize: 0,
      consoleSize: 0,
      ftraceSize: 0,
      maxReason: 2,
      kernel: {
        major: 6,
        minor: 1,
        patch: 192,
      },
      cpus: 1,
      frontends: {
        console: false,
        pmsg: false,
        ftrace: false,
      },
      compress: true,
      quirks: {
        pmsgBeforeFtrace: false,
        evenZoneSizes: true,
        emptyZoneChecksStart: true,
        compression: 'crypto-deflate-11',
        eccNoticePrefix: true,
      },
    },
  },
}

t.test('a pstore/blk sidecar of before: its setup resolves to its resolved, byte for byte', async (t) => {
  const sidecar = BLK_SIDECAR as { setup: SetupSource; resolved: unknown }
  t.equal(JSON.stringify(setupJson(resolveSetup(sidecar.setup)), null, 2), JSON.stringify(sidecar.resolved, null, 2))
})
