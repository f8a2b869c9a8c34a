/**
 * ECC as ramoops does it: parity identical to the kernel's in every block of its regions, an
 * ECC image written by a simulated panic carries parity a kernel accepts (through a real mount:
 * ecc.mount.test.ts).
 */

import t from 'tap'
import { ZONE_HEADER_SIZE } from '../../src/backend/ramoops/layout.js'
import { Ramoops } from '../../src/backend/ramoops/ramoops.js'
import { fromModuleParams } from '../../src/backend/ramoops/ramoopsSetup.js'
import { reedSolomon } from '../../src/format/reedSolomon.js'
import { RegionImage } from '../../src/format/region.js'
import { fixtureCase, fixtureConfig } from '../helpers/fixtures.js'

/** Every parity slot of every zone that our encoder disagrees with. */
function parityMismatches(ramoops: Ramoops): string[] {
  const bytes = ramoops.region.bytes
  const rs = reedSolomon(ramoops.setup.eccSize)
  const parity = Buffer.alloc(ramoops.setup.eccSize)
  const bad: string[] = []
  for (const zone of ramoops.zones) {
    const e = ramoops.setup.eccSize
    for (let i = 0; i * 128 < zone.capacity; i++) {
      const start = zone.dataOffset + i * 128
      rs.encode(bytes.subarray(start, start + Math.min(128, zone.capacity - i * 128)), parity)
      const at = zone.offset + zone.geometry.parityOffset + i * e
      if (!parity.equals(bytes.subarray(at, at + e))) bad.push(`${zone.layout.type}[${zone.layout.index}] block ${i}`)
    }
    rs.encode(bytes.subarray(zone.offset, zone.offset + ZONE_HEADER_SIZE), parity)
    const at = zone.offset + zone.geometry.headerParityOffset
    if (!parity.equals(bytes.subarray(at, at + e))) bad.push(`${zone.layout.type}[${zone.layout.index}] header`)
  }
  return bad
}

t.test("our encoder's parity equals the kernel's in every block of c-ecc-reboot", async (t) => {
  const c = fixtureCase('kernel-6.1', 'c-ecc-reboot')
  for (const image of ['region-before.bin', 'region-after-boot.bin', 'region-after-erase.bin']) {
    const ramoops = new Ramoops(fixtureConfig(c), RegionImage.fromBuffer(Buffer.from(c.read(image)), true))
    const blocks = ramoops.zones.reduce((n, z) => n + Math.ceil(z.capacity / 128) + 1, 0)
    t.same(parityMismatches(ramoops), [], `${image}: all ${blocks} parity blocks identical`)
  }
})

t.test('a simulated panic with ECC leaves parity the kernel computes, for E = 16 and E = 32', async (t) => {
  for (const ecc of [1, 32]) {
    const config = fromModuleParams(
      { mem_size: 0x100000, record_size: 0x8000, console_size: 0x8000, pmsg_size: 0x1000, ftrace_size: 0x2000, ecc },
      { kernel: '6.1.192' },
    )
    const ramoops = new Ramoops(config, RegionImage.fromBuffer(Buffer.alloc(config.memSize)))
    ramoops.boot()
    ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#1 Part1\n' + 'x'.repeat(5000)), time: { sec: 1700000000, nsec: 0 } })
    ramoops.writeConsole(Buffer.from('a console line\n'.repeat(3000))) // wraps the ring
    ramoops.writePmsg(Buffer.from('pmsg'))
    t.same(parityMismatches(ramoops), [], `ecc=${ecc}: every block and header parity consistent`)
  }
})
