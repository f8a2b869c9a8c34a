/**
 * Realistic kernel log text for simulated events: the boot banner and the reports printed by a
 * panic or an oops, modelled on what Linux 6.x prints on x86_64 (the fixtures hold a real one).
 */
import { type BackendSetup, backendBootLines } from '../backend/setup.js'
import { formatKernelVersion } from '../format/kernelVersion.js'

/** `uname -r` of the simulated kernel. */
function kernelRelease(setup: BackendSetup): string {
  return `${formatKernelVersion(setup.kernel)}-pstore-sim`
}

export function bootBanner(setup: BackendSetup): string[] {
  return [`Linux version ${kernelRelease(setup)} (pstore-sim) #1 SMP PREEMPT_DYNAMIC`, ...backendBootLines(setup)]
}

const CALL_TRACE_PANIC = [
  ' dump_stack_lvl+0x44/0x5c',
  ' panic+0x118/0x2f4',
  ' sysrq_handle_crash+0x16/0x20',
  ' __handle_sysrq.cold+0x44/0x11c',
  ' write_sysrq_trigger+0x24/0x40',
  ' proc_reg_write+0x56/0xa0',
  ' vfs_write+0xc7/0x3f0',
  ' ksys_write+0x6b/0xf0',
  ' do_syscall_64+0x5d/0xb0',
  ' entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
]

function machineLines(setup: BackendSetup): string[] {
  const release = kernelRelease(setup)
  return [`CPU: 0 PID: 1 Comm: init Not tainted ${release} #1`, 'Hardware name: pstore-sim simulated machine, BIOS pstore-sim 01/01/2024']
}

/** [level, text] pairs as panic() prints them before kmsg_dump(KMSG_DUMP_PANIC). */
export function panicReport(setup: BackendSetup, message = 'sysrq triggered crash'): Array<[number, string]> {
  return [
    [6, 'sysrq: Trigger a crash'],
    [0, `Kernel panic - not syncing: ${message}`],
    ...machineLines(setup).map((l): [number, string] => [4, l]),
    [4, 'Call Trace:'],
    [4, ' <TASK>'],
    ...CALL_TRACE_PANIC.map((l): [number, string] => [4, l]),
    [4, 'RIP: 0033:0x47b7a0'],
    [4, ' </TASK>'],
    [0, 'Kernel Offset: disabled'],
  ]
}

/** An oops as the kernel reports a NULL pointer dereference in process context. */
export function oopsReport(setup: BackendSetup): Array<[number, string]> {
  return [
    [1, 'BUG: kernel NULL pointer dereference, address: 0000000000000000'],
    [1, '#PF: supervisor write access in kernel mode'],
    [1, '#PF: error_code(0x0002) - not-present page'],
    [4, 'Oops: 0002 [#1] PREEMPT SMP NOPTI'],
    ...machineLines(setup).map((l): [number, string] => [4, l]),
    [4, 'RIP: 0010:lkdtm_WRITE_KERN+0x1b/0x30'],
    [4, 'Call Trace:'],
    [4, ' <TASK>'],
    [4, ' lkdtm_do_action+0x1c/0x30'],
    [4, ' direct_entry+0xb7/0x120'],
    [4, ' full_proxy_write+0x54/0x80'],
    [4, ' vfs_write+0xc7/0x3f0'],
    [4, ' ksys_write+0x6b/0xf0'],
    [4, ' do_syscall_64+0x5d/0xb0'],
    [4, ' entry_SYSCALL_64_after_hwframe+0x6e/0xd8'],
    [4, ' </TASK>'],
    [4, '---[ end trace 0000000000000000 ]---'],
  ]
}
