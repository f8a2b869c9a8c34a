/**
 * cli/fastPath.ts takes only the forms yargs reads the same way: plain positionals, the right
 * count, a served target for events. Everything else must go to the full parser (undefined).
 * The forms it takes are exercised end to end by test/mount.test.ts and test/reliability.test.ts
 * (reboot, console, pmsg, umount and mount on real mounts, through the built CLI).
 */
import t from 'tap'
import { fastCall, isFastMount, looksLikeBackgroundMount } from '../../src/cli/fastPath.js'
import '../helpers/mount.js' // a run directory of this test's own: no daemon serves anything here

t.test('mount: IMAGE DIR, nothing else (-o goes to the one -o parser)', async (t) => {
  t.ok(isFastMount(['mount', 'a.img', 'mnt']))
  for (const args of [
    ['mount', 'a.img'],
    ['mount', 'a.img', 'mnt', '--foreground'],
    ['mount', 'a.img', 'mnt', '-f'],
    ['mount', 'a.img', 'mnt', '-o'],
    ['mount', 'a.img', 'mnt', '-o', 'ro,cache_timeout=0'],
    ['mount', 'a.img', 'mnt', '-o', ''],
    ['mount', 'a.img', 'mnt', '-o', 'ro', '-o', 'rw'],
    ['mount', 'a.img', 'mnt', '--mem-size', '1M'],
    ['mount', '', 'mnt'],
    ['mount', '--help', 'mnt'],
    ['mount', 'a.img', '--'],
    ['format', 'a.img', 'mnt'],
  ])
    t.notOk(isFastMount(args), args.join(' '))
  t.type(fastCall(['mount', 'a.img', 'mnt'], undefined), 'function')
})

t.test('a daemon starts before parsing for every background mount, flags and -o included; never for the foreground, help or version', async (t) => {
  for (const args of [
    ['mount', 'a.img', 'mnt'],
    ['mount', 'a.img', 'mnt', '-o', 'ro,cache_timeout=0'],
    ['mount', 'a.img', 'mnt', '--mem-size', '1M', '--backend', 'ramoops'],
    ['mount', 'a.img', 'mnt', '--exact-names', '--pmsg-fifo', 'p'],
  ])
    t.ok(looksLikeBackgroundMount(args), args.join(' '))
  for (const args of [
    ['mount', 'a.img', 'mnt', '--foreground'],
    ['mount', 'a.img', 'mnt', '-f'],
    ['mount', 'a.img', 'mnt', '-rf'],
    ['mount', '--help'],
    ['mount', 'a.img', 'mnt', '-h'],
    ['mount', '--version'],
    ['mount', 'a.img', '--', 'mnt'],
    ['format', 'a.img', '--mem-size', '1M'],
    ['a.img', 'mnt', '-o', 'rw'],
  ])
    t.notOk(looksLikeBackgroundMount(args), args.join(' '))
})

t.test('events go to the full parser unless a live daemon serves the target', async (t) => {
  for (const args of [
    ['console', '/no/such/mount', 'text'],
    ['pmsg', '/no/such/mount'],
    ['reboot', '/no/such/mount'],
    ['panic', '/no/such/mount'],
    ['panic', '/no/such/mount', '--reason', 'oops'],
  ])
    t.equal(fastCall(args, undefined), undefined, args.join(' '))
})

t.test('flags, empty words, extra words and unknown commands go to the full parser', async (t) => {
  for (const args of [
    [],
    ['--help'],
    ['console'],
    ['console', '-', 'x'],
    ['console', 'mnt', '--help'],
    ['console', 'mnt', 'text', 'more'],
    ['console', 'mnt', ''],
    ['console', 'mnt', '--mem-size', '1M'],
    ['reboot', 'mnt', 'extra'],
    ['panic', 'mnt', '--reason', 'bogus'],
    ['panic', 'mnt', '--reason'],
    ['panic', 'mnt', '--json'],
    ['panic', 'mnt', '--reason', 'oops', '--json'],
    ['umount', 'mnt', 'extra'],
    ['umount', '--help'],
    ['umount', ''],
    ['inspect', 'a.img'],
    ['exec', 'a.img', 'true'],
    ['completion'],
  ])
    t.equal(fastCall(args, undefined), undefined, JSON.stringify(args))
  t.type(fastCall(['umount', 'mnt'], undefined), 'function', 'umount DIR: whatever DIR is, unmount() decides')
})
