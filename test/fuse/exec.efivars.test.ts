/**
 * `pstore-sim exec` on an efi target: /sys/firmware/efi/efivars shows the store as efivarfs
 * does, through real ls, stat, od, rm, sh inside the namespace, on the store a real 6.12
 * kernel and OVMF left, and on one pstore-sim formatted (read-only, and as an ordinary user).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { guidText, VariableStore } from '../../src/backend/efi/varstore.js'
import { isMounted, mountType, processAlive, readMountRecord } from '../../src/daemon/registry.js'
import { RegionImage } from '../../src/format/region.js'
import { repoRoot } from '../helpers/fixtures.js'
import { cliJs, ls, mountImage, pstoreSim, type RunResult, run, tempDir, waitFor } from '../helpers/mount.js'
import { testUser, userPackage, userRunner } from '../helpers/user.js'

const EFIVARS = '/sys/firmware/efi/efivars'
const CRASH = 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0'
const FIXTURE = path.join(repoRoot, 'test/fixtures/efi-6.12/a-oops-panic/vars-after-crash.fd.gz')

/** The store's live variables read straight from the image's bytes: `<name>-<guid>` → its header offset, attributes, data. */
function liveVariables(image: string): Map<string, { offset: number; attributes: number; data: Buffer }> {
  const store = new VariableStore(RegionImage.fromBuffer(fs.readFileSync(image), true))
  return new Map(
    store
      .variables()
      .filter((v) => v.state === 0x3f)
      .map((v) => [`${v.name}-${guidText(v.guid)}`, { offset: v.offset, attributes: v.attributes, data: store.data(v) }]),
  )
}

/** A command in exec's namespace on `target`. */
const inside = (target: string, script: string, extra: string[] = []): Promise<RunResult> =>
  run(process.execPath, [cliJs, 'exec', target, ...extra, '--', 'sh', '-c', script])

/** The bytes that differ between two images. */
const changedBytes = (a: Buffer, b: Buffer): number[] => [...a].flatMap((x, i) => (x !== b[i] ? [i] : []))

/** dmesg-efi_pstore-<id> of a dump-type0-<part>-<count>-<seconds>-C variable (6.12). */
function pstoreName(variable: string): string {
  const [, part, count, seconds] = /^dump-type0-(\d+)-(\d+)-(\d+)-/.exec(variable)!
  return `dmesg-efi_pstore-${(BigInt(seconds!) * 100n + BigInt(part!)) * 1000n + BigInt(count!)}`
}

t.test("the kernel's store: every live variable listed, 0644 root, 4 + data bytes, attributes + data; protected ones refuse", async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'vars.fd')
  fs.writeFileSync(image, gunzipSync(fs.readFileSync(FIXTURE)))
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt, ['--backend', 'efi', '--kernel', '6.12.107'])
  const live = liveVariables(image)
  const before = fs.readFileSync(image)

  const list = await inside(mnt, `ls -A ${EFIVARS}; stat -c '%n|%s|%a|%u|%g|%F' ${EFIVARS}/*`)
  t.equal(list.code, 0, list.stderr)
  const lines = list.stdout.toString().trim().split('\n')
  const names = lines.slice(0, live.size)
  t.same([...names].sort(), [...live.keys()].sort(), `ls: the ${live.size} live variables, OVMF's and efi-pstore's`)
  t.ok(names.includes('MTC-eb704011-1402-11d3-8e77-00a0c969723b') && names.includes('ConOut-8be4df61-93ca-11d2-aa0d-00e098032b8c'), 'MTC and ConOut among them')
  for (const line of lines.slice(live.size)) {
    const [file, size, mode, uid, gid, type] = line.split('|')
    const v = live.get(path.basename(file!))!
    t.same([Number(size), mode, uid, gid, type], [4 + v.data.length, '644', '0', '0', 'regular file'], `stat ${path.basename(file!)}`)
  }

  const dump = [...live.keys()].find((n) => n.startsWith('dump-type0-'))!
  for (const name of ['MTC-eb704011-1402-11d3-8e77-00a0c969723b', 'ConOut-8be4df61-93ca-11d2-aa0d-00e098032b8c', dump]) {
    const od = await inside(mnt, `od -An -v -tx1 ${EFIVARS}/${name}`)
    const v = live.get(name)!
    const want = Buffer.alloc(4)
    want.writeUInt32LE(v.attributes)
    const got = Buffer.from(od.stdout.toString().replace(/\s+/g, ''), 'hex')
    t.ok(got.equals(Buffer.concat([want, v.data])), `od ${name}: attributes (${v.attributes}) then the data (${v.data.length} bytes)`)
  }

  const upper = await inside(mnt, `od -An -v -tx1 ${EFIVARS}/MTC-EB704011-1402-11D3-8E77-00A0C969723B`)
  const mtc = live.get('MTC-eb704011-1402-11d3-8e77-00a0c969723b')!
  t.equal(
    Buffer.from(upper.stdout.toString().replace(/\s+/g, ''), 'hex').subarray(4).toString('hex'),
    mtc.data.toString('hex'),
    'the GUID matches in any case (efivarfs_d_compare)',
  )

  const refused = await inside(
    mnt,
    `rm ${EFIVARS}/MTC-*; echo "rm:$?"; printf 'x' > ${EFIVARS}/MTC-eb704011-1402-11d3-8e77-00a0c969723b; echo "write:$?"; ` +
      `printf '\\007\\000\\000\\000en' | dd of=${EFIVARS}/Lang-8be4df61-93ca-11d2-aa0d-00e098032b8c conv=notrunc status=none; echo "set:$?"; touch ${EFIVARS}/New-${CRASH}; echo "create:$?"`,
  )
  t.match(refused.stdout.toString(), /rm:1\nwrite:[12]\nset:1\ncreate:1\n/, 'each one fails')
  t.match(refused.stderr, /rm: cannot remove '.*MTC-eb704011[^']*': Operation not permitted/, 'rm of an immutable variable: EPERM')
  t.match(refused.stderr, /MTC-eb704011.*: Operation not permitted/, 'opening it for writing: EPERM')
  t.match(
    refused.stderr,
    /dd: error writing '.*Lang-8be4df61[^']*': Operation not supported/,
    'writing a removable variable: EOPNOTSUPP (SetVariable with data is not simulated)',
  )
  t.match(refused.stderr, /touch: .*New-cfc8fc79.*: Operation not supported/, 'creating a variable: EOPNOTSUPP')
  t.ok(fs.readFileSync(image).equals(before), 'the image is unchanged')

  // df: efivarfs_statfs() gives QueryVariableInfo()'s figures in 1-byte blocks, f_bavail less the x86 reserve
  const store = new VariableStore(RegionImage.fromBuffer(before, true))
  const { start, end } = store.geometry()
  const used = store.variables().reduce((n, v) => n + v.end - v.offset, 0)
  const df = await inside(mnt, `stat -f -c '%S %b %f %a' ${EFIVARS}`)
  t.equal(
    df.stdout.toString(),
    `1 ${end - start} ${end - start - used} ${end - start - used - 5120}\n`,
    'stat -f: 1-byte blocks, the store, its room, less 5120',
  )

  // chmod and touch change the inode in memory (simple_setattr); an immutable file refuses
  const attrs = await inside(
    mnt,
    `chmod 600 ${EFIVARS}/${dump} && touch -d @1700000000 ${EFIVARS}/${dump} && stat -c '%a %Y' ${EFIVARS}/${dump}; chmod 600 ${EFIVARS}/MTC-*; echo "chmod:$?"`,
  )
  t.equal(attrs.stdout.toString(), '600 1700000000\nchmod:1\n', 'chmod and touch -d on a removable file; chmod of MTC fails')
  t.match(attrs.stderr, /chmod: changing permissions of '.*MTC-[^']*': Operation not permitted/, 'with EPERM')
  t.ok(fs.readFileSync(image).equals(before), 'still unchanged')
})

t.test("rm of a pstore variable: one byte (0x3f → 0x3d); pstore's view, as the kernel's, keeps the file until the next boot", async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'vars.fd')
  fs.writeFileSync(image, gunzipSync(fs.readFileSync(FIXTURE)))
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt, ['--backend', 'efi', '--kernel', '6.12.107'])
  const live = liveVariables(image)
  const [first, second] = [...live.keys()].filter((n) => n.startsWith('dump-type0-'))
  const [file1, file2] = [pstoreName(first!), pstoreName(second!)]
  const before = fs.readFileSync(image)
  const text1 = (await inside(mnt, `cat /sys/fs/pstore/${file1}`)).stdout

  const r = await inside(
    mnt,
    `rm ${EFIVARS}/${first} && ls ${EFIVARS} | grep -c -x '${first}'; ls /sys/fs/pstore | grep -c -x ${file1}; cat /sys/fs/pstore/${file1} > ${dir}/text1`,
  )
  t.equal(r.stdout.toString(), '0\n1\n', `rm ${first}: gone from efivars; ${file1} still in /sys/fs/pstore (pstore is not told)`)
  t.ok(fs.readFileSync(path.join(dir, 'text1')).equals(text1), 'and still reads its text (pstore keeps it in memory)')
  const afterRm = fs.readFileSync(image)
  const changed = changedBytes(before, afterRm)
  t.same(changed, [live.get(first!)!.offset + 2], "exactly one byte changed: the variable's State")
  t.same([before[changed[0]!], afterRm[changed[0]!]], [0x3f, 0x3d], 'VAR_ADDED → VAR_DELETED')

  // the other way: pstore's rm, then the efivars file (efivarfs is not told either)
  const r2 = await inside(
    mnt,
    `rm /sys/fs/pstore/${file1} /sys/fs/pstore/${file2} && stat -c %s ${EFIVARS}/${second} && cat ${EFIVARS}/${second} | wc -c && rm ${EFIVARS}/${second} && ls ${EFIVARS} | grep -c -x '${second}'`,
  )
  t.equal(
    r2.stdout.toString(),
    `${4 + live.get(second!)!.data.length}\n0\n0\n`,
    `after pstore's rm of ${file2}: ${second} still listed with its size, reads 0 bytes (EFI_NOT_FOUND), rm succeeds`,
  )
  const afterBoth = fs.readFileSync(image)
  t.same(changedBytes(afterRm, afterBoth), [live.get(second!)!.offset + 2], `pstore's rm of ${file1} changed nothing more; of ${file2} its State byte`)

  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  const after = await inside(mnt, `ls /sys/fs/pstore; ls ${EFIVARS}`)
  t.notOk(after.stdout.toString().includes(file1) || after.stdout.toString().includes(file2), 'after the reboot neither pstore nor efivars lists them')
  t.match(after.stdout.toString(), /MTC-eb704011/, "OVMF's variables still there")
})

t.test('-o ro: rm gives EROFS; an image target is mounted with its efivars and both are gone after', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'vars.fd')
  t.equal((await pstoreSim(['format', image, '--backend', 'efi', '--kernel', '6.1.192'])).code, 0)
  t.equal((await pstoreSim(['panic', image, '--reboot'])).code, 0)
  const before = fs.readFileSync(image)
  const r = await inside(image, `ls ${EFIVARS}; rm ${EFIVARS}/dump-*; echo "rm:$?"`, ['-o', 'ro'])
  t.match(r.stdout.toString(), new RegExp(`^dump-type0-1-1-\\d+-C-${CRASH}\n(dump-type0-.*\n)*rm:1\n$`), "ls: pstore-sim's dump variables")
  t.match(r.stderr, /rm: cannot remove '.*dump-type0-1-1-.*': Read-only file system/, 'rm: EROFS')
  t.ok(fs.readFileSync(image).equals(before), 'the image is unchanged')
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  t.notMatch(mounts, /efivars/, 'no efivars mount left on the host')
})

t.test('a ramoops target has no efivars view', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'demo.img')
  t.equal((await pstoreSim(['format', image, '--mem-size', '1M'])).code, 0)
  const r = await inside(image, `ls -A ${EFIVARS} 2>/dev/null | wc -l`)
  t.equal(r.code, 0, r.stderr)
  t.equal(
    r.stdout.toString(),
    '0\n',
    fs.existsSync(EFIVARS) ? "the host's efivars covered by an empty directory" : 'no /sys/firmware/efi/efivars (this host has none)',
  )
})

t.test("the daemon's second mount: fuse.efivars in the run directory, gone after umount, and after a killed daemon's umount", async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'vars.fd')
  t.equal((await pstoreSim(['format', image, '--backend', 'efi'])).code, 0)
  const mnt = path.join(dir, 'mnt')
  for (const how of ['umount', 'kill -9, then umount'] as const) {
    await mountImage(t, image, mnt)
    const record = readMountRecord(mnt)!
    t.equal(mountType(record.efivars!), 'fuse.efivars', `${how}: mounted at ${record.efivars}`)
    t.same((await ls(record.efivars!)).length, 0, `${how}: the empty store has no variable`)
    if (how !== 'umount') {
      process.kill(record.pid, 'SIGKILL')
      await waitFor(() => !processAlive(record.pid))
    }
    const u = await pstoreSim(['umount', mnt])
    t.equal(u.code, 0, u.stderr)
    t.notOk(isMounted(record.efivars!) || fs.existsSync(record.efivars!), `${how}: no mount and no directory left`)
  }
  // a killed daemon's dead efivars mount is replaced by the next mount's
  await mountImage(t, image, mnt)
  const killed = readMountRecord(mnt)!
  process.kill(killed.pid, 'SIGKILL')
  await waitFor(() => !processAlive(killed.pid))
  await mountImage(t, image, mnt)
  t.same(await ls(readMountRecord(mnt)!.efivars!), [], 'the next mount serves efivars again at the same place')
})

const testUid = await testUser()
t.test('an ordinary user: the efivars view in a user namespace, rm of a dump variable', { skip: typeof testUid === 'string' && testUid }, async (t) => {
  const uid = testUid as number
  const dir = tempDir(t)
  const runAsUser = await userRunner(uid, dir)
  const userCli = (await userPackage()).cli
  const asUser = (args: string[]) => runAsUser([process.execPath, userCli, ...args])
  const image = path.join(dir, 'vars.fd')
  t.equal((await asUser(['format', image, '--backend', 'efi', '--kernel', '6.12.107'])).code, 0, 'format as the user')
  t.equal((await asUser(['panic', image, '--reboot'])).code, 0, 'panic')
  const live = liveVariables(image)
  const dump = [...live.keys()].find((n) => n.startsWith('dump-type0-'))!
  const before = fs.readFileSync(image)
  const r = await asUser(['exec', image, '--', 'sh', '-c', `stat -c '%U %a' ${EFIVARS}/${dump} && rm ${EFIVARS}/${dump} && ls ${EFIVARS} | wc -l`])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.toString(), `root 644\n${live.size - 1}\n`, 'owned by root inside (the user, mapped), 0644; rm removes it from the list')
  t.same(changedBytes(before, fs.readFileSync(image)), [live.get(dump)!.offset + 2], 'one byte changed in the image')
})
