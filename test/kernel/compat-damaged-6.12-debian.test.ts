/**
 * The damaged images of test/fixtures/damaged/ booted by Debian's 6.12 kernel (pstore/blk and ERST).
 * The cases are in compat-damaged-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { damagedCompatSuite } from './compat-damaged-suite.js'

await damagedCompatSuite('6.12-debian')
