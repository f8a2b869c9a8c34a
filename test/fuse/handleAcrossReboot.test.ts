/**
 * A file handle opened before a reboot reads the record it opened, or fails; never the record
 * another boot shows under the same name (the reliability issue, item 8). A real pstore keeps a
 * file's record with its inode, so an open descriptor reads what it opened even after the
 * backend's records were replaced (rmmod + modprobe of the backend is the nearest real case).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import t from 'tap'
import { cat, demoImage, mountImage, pstoreSim, tempDir } from '../helpers/mount.js'

/** A separate process that holds a descriptor open and reads it from offset 0 on request. */
const HOLDER = `
const fs = require('node:fs')
const fd = fs.openSync(process.argv[1], 'r')
const rl = require('node:readline').createInterface({ input: process.stdin })
console.log(JSON.stringify({ opened: true }))
rl.on('line', (line) => {
  if (line === 'exit') { fs.closeSync(fd); process.exit(0) }
  try {
    const buf = Buffer.alloc(65536)
    const n = fs.readSync(fd, buf, 0, buf.length, 0)
    const size = fs.fstatSync(fd).size
    console.log(JSON.stringify({ text: buf.subarray(0, n).toString('latin1'), size }))
  } catch (e) {
    console.log(JSON.stringify({ error: e.code }))
  }
})
`

interface HolderAnswer {
  opened?: boolean
  text?: string
  size?: number
  error?: string
}

class Holder {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly answers: HolderAnswer[] = []
  private waiting: ((a: HolderAnswer) => void) | undefined

  constructor(file: string) {
    this.child = spawn(process.execPath, ['-e', HOLDER, file])
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const answer = JSON.parse(line) as HolderAnswer
      if (this.waiting) {
        const w = this.waiting
        this.waiting = undefined
        w(answer)
      } else this.answers.push(answer)
    })
  }

  next(): Promise<HolderAnswer> {
    const ready = this.answers.shift()
    if (ready) return Promise.resolve(ready)
    return new Promise((resolve) => {
      this.waiting = resolve
    })
  }

  async read(): Promise<HolderAnswer> {
    this.child.stdin.write('read\n')
    return this.next()
  }

  async close(): Promise<number | null> {
    this.child.stdin.write('exit\n')
    return new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
  }
}

// Both ways a read is served: the binding's native table, and the JS handlers.
for (const [mode, env] of [
  ['native file table', {}],
  ['JS handlers', { PSTORE_SIM_NATIVE_FILES: '0' }],
] as const) {
  t.test(`${mode}: a descriptor opened before a reboot reads its own boot record, then fails; never the new one`, async (t) => {
    const dir = tempDir(t)
    const image = await demoImage(t, dir)
    const first = 'first boot record\n'
    const second = 'second boot record, longer than the first one\n'
    t.equal((await pstoreSim(['pmsg', image, first])).code, 0, 'pmsg before the mount')
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt, [], env)
    const file = path.join(mnt, 'pmsg-ramoops-0')
    t.equal((await cat(file)).stdout.toString(), first, 'the mounted boot shows the first record')

    const holder = new Holder(file)
    t.same(await holder.next(), { opened: true }, 'a second process holds it open')
    t.same(await holder.read(), { text: first, size: first.length }, 'it reads the first record')

    t.equal((await pstoreSim(['pmsg', mnt, second])).code, 0, 'pmsg to the mount')
    t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
    // A new open of the same name shows the new boot (and would fill a shared page cache).
    t.equal((await cat(file)).stdout.toString(), second, 'the next boot shows the second record under the same name')
    const afterOne = await holder.read()
    t.equal(afterOne.text, first, 'the old descriptor still reads the record it opened')

    t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'a second reboot')
    t.equal((await cat(file)).code, 1, 'no pmsg record in the third boot (nothing was written)')
    const afterTwo = await holder.read()
    t.not(afterTwo.text, second, 'two boots later it never reads another boot record')
    t.equal(afterTwo.error, 'EIO', 'it fails with EIO instead')
    t.equal(await holder.close(), 0, 'the holder closes its descriptor')
  })
}
