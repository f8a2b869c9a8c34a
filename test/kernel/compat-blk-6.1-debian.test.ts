/**
 * pstore-sim's pstore/blk backend vs Debian's 6.1 kernel (pstore_blk.ko, best_effort, virtio disk).
 * The case is in compat-blk-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { blkCompatSuite } from './compat-blk-suite.js'

await blkCompatSuite('6.1-debian')
