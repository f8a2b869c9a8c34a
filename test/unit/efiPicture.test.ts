/**
 * The efi picture's rows (`inspect --svg`, a real CLI process; Chromium renders it in
 * test/fuse/picture.test.ts): OVMF's store of a few hundred variables gets one row per variable
 * with its name; a store of more than 600 folds runs of the firmware's and of deleted variables.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { VariableStore } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'
import { fixturePath } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

async function svgOf(t: Test, bytes: Buffer): Promise<string> {
  const dir = tempDir(t)
  const file = path.join(dir, 'vars.fd')
  fs.writeFileSync(file, bytes)
  const svg = path.join(dir, 'store.svg')
  const r = await pstoreSim(['inspect', file, '--detect', '--kernel', '6.12.107', '--svg', svg])
  t.equal(r.code, 0, `inspect --svg exits 0 ${r.stderr}`)
  return fs.readFileSync(svg, 'utf8')
}

const rows = (svg: string) => [...svg.matchAll(/<g class="variable"[^>]*data-count="(\d+)"/g)].map((m) => Number(m[1]))

t.test("OVMF's store: every variable a row of its own, with its name", async (t) => {
  const bytes = fs.readFileSync(fixturePath('efi-6.12/a-oops-panic/vars-after-erase.fd'))
  const count = new VariableStore(RegionImage.fromBuffer(bytes, true)).variables().length
  const svg = await svgOf(t, bytes)
  t.same(rows(svg), Array(count).fill(1), `${count} rows, none folded`)
  t.match(svg, />InitialAttemptOrder</, "a deleted firmware variable's name")
})

t.test('more than 600 variables: runs of deleted firmware variables fold into one row', async (t) => {
  const bytes = fs.readFileSync(fixturePath('efi-6.12/a-oops-panic/vars-after-erase.fd'))
  const store = new VariableStore(RegionImage.fromBuffer(bytes))
  const before = store.variables().length
  for (let i = 0; i < 650; i++) {
    const at = store.append(`Fw${i}`, Buffer.alloc(16, 7), 7, Buffer.from([i & 0xff]))
    if (at === 'full') throw new Error('store full')
    store.clearState(at, 0xfd)
  }
  const svg = await svgOf(t, bytes)
  const counts = rows(svg)
  t.equal(
    counts.reduce((a, b) => a + b, 0),
    before + 650,
    'every variable is in a row',
  )
  t.ok(counts.includes(650), 'the 650 deleted ones in one row')
  t.match(svg, /firmware variables ×650/)
})
