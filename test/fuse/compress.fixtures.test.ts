/**
 * The real 6.1.192 kernel with every PSTORE_*_COMPRESS built in, booted with each pstore.compress=
 * value (test/fixtures/compress-6.1, written by test/kernel/make-compress-fixtures.ts: see the
 * comment there for the chain of boots). Each boot started from a region holding the previous
 * boot's Oops and Panic (zones 0–1, the kernel's, written with the previous algorithm) and
 * pstore-sim's records (zones 2–3 with this boot's algorithm, 4–5 with the previous one), and
 * listed /sys/fs/pstore. pstore-sim, told the same pstore.compress=, must show exactly the files
 * that kernel showed: names (`.enc.z` where it cannot decompress), sizes, bytes, mtimes. The lz4
 * and zstd dumps are also mounted `-o ro` and read with ls, stat and cat.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { CompressAlgorithm } from '../../src/format/kernelVersion.js'
import { compress } from '../../src/pstore/compression.js'
import { fixturePath, type KernelListingFile, repoRoot } from '../helpers/fixtures.js'
import { mountImage, pstoreSim, run, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

runProductsUninstrumented()

interface Boot {
  name: string
  algorithm: string
  previous: string
  image: string
  files: KernelListingFile[]
  klog: string[]
}

function boot(setName: string, name: string): Boot {
  const dir = path.join(repoRoot, 'test/fixtures', setName, name)
  const params = JSON.parse(fs.readFileSync(path.join(dir, 'params.json'), 'utf8')) as { algorithm: string; previous: string; klog: string[] }
  const listing = JSON.parse(fs.readFileSync(path.join(dir, 'listing.json'), 'utf8')) as { listings: { tag: string; files: KernelListingFile[] }[] }
  return { name, ...params, image: fixturePath(`${setName}/${name}/image.bin`), files: listing.listings[0].files }
}

/** Where pstore-sim's compressor gives the kernel's bytes (README: which match and why). */
const BYTE_IDENTICAL: string[] = ['842']

interface Predicted {
  records: Array<{ name: string; kernelSize: number; mtime: string | null; contentBase64?: string; compressedWith?: string[] }>
}

async function predict(image: string, algorithm: string, VIEW: string[]): Promise<Predicted> {
  const r = await pstoreSim(['inspect', image, '--json', '--content', ...VIEW, '--compress', algorithm])
  if (r.code !== 0) throw new Error(`inspect --compress ${algorithm}: ${r.stderr}`)
  return JSON.parse(r.stdout.toString()) as Predicted
}

/** The stored record of ramoops dmesg zone `k` at its offset: its -C/-D flag and payload. */
function zoneRecord(image: Buffer, offset: number): { compressed: boolean; payload: Buffer } {
  const size = image.readUInt32LE(offset + 8)
  const data = image.subarray(offset + 12, offset + 12 + size)
  const nl = data.indexOf(0x0a)
  return { compressed: data[nl - 1] === 0x43, payload: data.subarray(nl + 1) }
}

/** Every set of boots: compress-6.1 (the kernel with every algorithm), compress-6.1-custom (deflate only). */
const SETS = ['compress-6.1', 'compress-6.1-custom'].filter((n) => fs.existsSync(path.join(repoRoot, 'test/fixtures', n, 'params.json')))
t.ok(SETS.length > 0, `fixture sets: ${SETS.join(', ')}`)

for (const setName of SETS) {
  t.test(setName, async (t) => {
    const setParams = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures', setName, 'params.json'), 'utf8')) as {
      simFlags: string[]
      boots: Array<{ name: string; algorithm?: string }>
    }
    const VIEW = [...setParams.simFlags, '--exact-names']
    const SET = path.join(repoRoot, 'test/fixtures', setName)
    const boots = setParams.boots.filter((b) => b.algorithm).map((b) => boot(setName, b.name))
    t.ok(boots.length >= 2, `boots: ${boots.map((b) => b.name).join(', ')}`)
    const upgrade = setParams.boots.find((b) => b.name.startsWith('6.12-reads-'))?.name
    for (const b of boots) {
      t.test(
        `${b.name}: pstore.compress=${b.algorithm} reading the kernel's ${b.previous} records and pstore-sim's ${b.algorithm} and ${b.previous} records`,
        async (t) => {
          const pred = await predict(b.image, b.algorithm, VIEW)
          t.same(pred.records.map((x) => x.name).sort(), b.files.map((f) => f.name).sort(), `the kernel's files: ${b.files.map((f) => f.name).join(' ')}`)
          for (const f of b.files) {
            const rec = pred.records.find((x) => x.name === f.name)
            if (!rec) continue
            const same = Buffer.from(rec.contentBase64 ?? '', 'base64').equals(Buffer.from(f.content_b64, 'base64'))
            t.ok(same && rec.kernelSize === f.size, `${f.name}: ${f.size} bytes, byte for byte`)
            if (f.name.startsWith('dmesg-')) t.equal(rec.mtime, `${f.mtime}.${String(f.mtime_nsec).padStart(9, '0')}`, `${f.name}: mtime`)
          }
        },
      )
    }

    t.test('the kernel facts the listings show', async (t) => {
      const text = (b: Boot, name: string) => Buffer.from(b.files.find((f) => f.name === name)?.content_b64 ?? '', 'base64').toString('latin1')
      for (const b of boots) {
        if (b.name.startsWith('01-') || b.previous === 'none') continue // boot 1 starts from pstore-sim's zeros; none writes -D
        const lz4s = ['lz4', 'lz4hc']
        const readable = b.algorithm !== 'none' && (b.algorithm === b.previous || (lz4s.includes(b.algorithm) && lz4s.includes(b.previous)))
        const kernelRecords = b.files.filter((f) => /^dmesg-ramoops-[01](\.enc\.z)?$/.test(f.name)).map((f) => f.name)
        const expected = readable ? ['dmesg-ramoops-0', 'dmesg-ramoops-1'] : ['dmesg-ramoops-0.enc.z', 'dmesg-ramoops-1.enc.z']
        t.same(kernelRecords, expected, `${b.name}: the ${b.previous} kernel's records ${readable ? 'read' : 'left .enc.z'} by ${b.algorithm}`)
        if (readable) {
          t.match(text(b, 'dmesg-ramoops-0'), /^Oops#1 Part1\n/, `${b.name}: the kernel's Oops as text`)
          t.match(text(b, 'dmesg-ramoops-1'), /^Panic#2 Part1\n/, `${b.name}: its panic as text`)
        }
      }
    })

    t.test("the kernel's compressed bytes beside pstore-sim's for the same text", async (t) => {
      for (const b of boots) {
        if (b.name.startsWith('01-') || b.algorithm !== b.previous || b.algorithm === 'none') continue
        const image = fs.readFileSync(b.image)
        const layout = await pstoreSim(['inspect', b.image, '--json', ...VIEW])
        const zones = (JSON.parse(layout.stdout.toString()) as { zones: Array<{ type: string; offset: number }> }).zones.filter((z) => z.type === 'dmesg')
        for (const k of [0, 1]) {
          const stored = zoneRecord(image, zones[k].offset)
          const name = `dmesg-ramoops-${k}`
          const kernelText = Buffer.from(b.files.find((f) => f.name === name)?.content_b64 ?? '', 'base64')
          t.ok(stored.compressed, `${b.name}: the kernel stored ${name} -C`)
          const ours = compress('crypto-deflate-11', kernelText, 1 << 20, b.algorithm as CompressAlgorithm)
          const same = !!ours && ours.equals(stored.payload)
          if (BYTE_IDENTICAL.includes(b.algorithm))
            t.ok(same, `${b.name}: ${name}: pstore-sim's ${b.algorithm} bytes are the kernel's (${stored.payload.length})`)
          else t.comment(`${b.name}: ${name}: kernel ${stored.payload.length} bytes, pstore-sim ${ours?.length} bytes, ${same ? 'identical' : 'different'}`)
        }
      }
    })

    t.test('an lz4 and a zstd dump mount -o ro readable with --compress, as the kernel listed them', async (t) => {
      for (const name of ['02-lz4', '06-zstd', '02-deflate']) {
        const b = boots.find((x) => x.name === name)
        if (!b) continue
        const dir = tempDir(t)
        const image = path.join(dir, `${name}.bin`)
        fs.copyFileSync(b.image, image)
        const before = sha256(fs.readFileSync(image))
        const mnt = path.join(dir, 'mnt')
        fs.mkdirSync(mnt)
        await mountImage(t, image, mnt, [...VIEW, '--compress', b.algorithm, '-o', 'ro'])
        const ls = await run('ls', ['-1', mnt])
        t.same(ls.stdout.toString().trim().split('\n').sort(), b.files.map((f) => f.name).sort(), `${name}: ls shows the kernel's files`)
        for (const f of b.files) {
          // dmesg files carry their record's time, the others the mount's
          const dmesg = f.name.startsWith('dmesg-')
          const st = await run('stat', ['-c', dmesg ? '%s %Y' : '%s', path.join(mnt, f.name)])
          t.equal(st.stdout.toString().trim(), dmesg ? `${f.size} ${f.mtime}` : `${f.size}`, `${name}: stat ${f.name}`)
          const cat = await run('cat', [path.join(mnt, f.name)])
          t.equal(sha256(cat.stdout), f.sha256, `${name}: cat ${f.name} gives the kernel's bytes`)
        }
        await pstoreSim(['umount', mnt])
        t.equal(sha256(fs.readFileSync(image)), before, `${name}: reading changed no byte`)
      }
    })

    t.test("Debian's 6.12.107 reading a 6.1 board's dump (lz4: every kernel record .enc.z), as pstore-sim --kernel 6.12.107 shows it", async (t) => {
      if (!upgrade) return
      const dir = path.join(SET, upgrade)
      const listing = JSON.parse(fs.readFileSync(path.join(dir, 'listing.json'), 'utf8')) as { listings: { files: KernelListingFile[] }[] }
      const files = listing.listings[0].files
      const image = fixturePath(`${setName}/${upgrade}/image.bin`)
      const flags = setParams.simFlags.map((f) => (f === '6.1.192' ? '6.12.107' : f === 'console,pmsg,ftrace' ? 'none' : f))
      const r = await pstoreSim(['inspect', image, '--json', '--content', ...flags, '--exact-names'])
      t.equal(r.code, 0, `inspect --kernel 6.12.107 ${r.stderr}`)
      const pred = JSON.parse(r.stdout.toString()) as Predicted
      t.same(pred.records.map((x) => x.name).sort(), files.map((f) => f.name).sort(), `the kernel's files: ${files.map((f) => f.name).join(' ')}`)
      const lz4 = upgrade.endsWith('lz4')
      t.ok(
        files.some((f) => f.name === (lz4 ? 'dmesg-ramoops-0.enc.z' : 'dmesg-ramoops-0')),
        lz4 ? "6.12 cannot read the 6.1 kernel's lz4 Oops" : "6.12 reads the 6.1 kernel's deflate Oops",
      )
      for (const f of files) {
        const rec = pred.records.find((x) => x.name === f.name)
        t.ok(
          rec && Buffer.from(rec.contentBase64 ?? '', 'base64').equals(Buffer.from(f.content_b64, 'base64')) && rec.kernelSize === f.size,
          `${f.name}: ${f.size} bytes, byte for byte`,
        )
        if (lz4 && f.name.endsWith('.enc.z')) t.same(rec?.compressedWith, ['lz4', 'lz4hc'], `${f.name}: inspect names lz4 (or lz4hc)`)
      }
      const refused = await pstoreSim(['inspect', image, ...flags, '--compress', 'lz4'])
      t.equal(refused.code, 1, '--compress lz4 on a 6.12 target: exit 1')
      t.match(refused.stderr.toString(), /6\.12\.107 compresses pstore records with deflate only/, 'in one line saying why')
      t.equal(refused.stderr.toString().trim().split('\n').length, 1, 'one line')
    })
  })
}
