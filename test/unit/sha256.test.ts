/**
 * util/sha256.ts against node:crypto: FIPS 180-4's own examples, every length around the padding
 * boundaries (55, 56, 63, 64 bytes: one block or two), multi-byte UTF-8 and random texts.
 */
import crypto from 'node:crypto'
import t from 'tap'
import { sha256Hex } from '../../src/util/sha256.js'

const reference = (text: string) => crypto.createHash('sha256').update(text).digest('hex')

t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'FIPS 180-4: "abc"')
t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'the empty text')
t.equal(
  sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
  '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  'FIPS 180-4: the 448-bit message (two blocks)',
)

t.test('every length from 0 to 200 bytes is node:crypto’s', async (t) => {
  const mismatches: number[] = []
  for (let n = 0; n <= 200; n++) {
    const text = 'x'.repeat(n)
    if (sha256Hex(text) !== reference(text)) mismatches.push(n)
  }
  t.same(mismatches, [])
})

t.test('paths as mountpoints are named: UTF-8, spaces, long ones, random ones', async (t) => {
  const texts = ['/tmp/pstore', '/tmp/crash dumps/ü–日本', `/${'deep/'.repeat(300)}mnt`, '/tmp/\n']
  for (let i = 0; i < 200; i++) texts.push(crypto.randomBytes(1 + (i % 90)).toString('latin1'))
  const differ = texts.filter((text) => sha256Hex(text) !== reference(text))
  t.same(differ, [])
})
