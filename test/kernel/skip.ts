/**
 * What every kernel suite does first (compat-suite.ts, compat-blk-suite.ts, compat-erst-suite.ts,
 * harness.test.ts): prepare the kernel and say why it cannot run here, if it cannot, failing
 * instead of skipping where the machine must boot it (PSTORE_SIM_REQUIRE_KERNEL=1, .ci/run).
 */
import t from 'tap'
import { runProductsUninstrumented } from '../helpers/mount.js'
import { type KernelInfo, type KernelSelector, kernelInfo, kernelSkipReason } from './harness.js'

/** A failure where the kernel suites are required to run (PSTORE_SIM_REQUIRE_KERNEL=1), else nothing: the caller skips. */
export function failIfKernelRequired(why: string): void {
  if (process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(why)
}

/**
 * Prepares KERNEL (the harness' default when not given): `skip` is why its suite cannot run here
 * (false when it can), `info` the prepared kernel. pstore-sim's processes started from here on run
 * without tap's per-process hook (helpers/mount.ts runProductsUninstrumented).
 */
export async function kernelSuite(kernel?: KernelSelector): Promise<{ skip: string | false; info: KernelInfo | null }> {
  runProductsUninstrumented()
  const skip = await kernelSkipReason(kernel)
  if (skip) failIfKernelRequired(`kernel suite${kernel ? ` (${kernel})` : ''} required but: ${skip}`)
  return { skip, info: skip ? null : kernelInfo(kernel) }
}
