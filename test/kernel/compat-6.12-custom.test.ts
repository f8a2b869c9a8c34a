/**
 * pstore-sim vs the custom build of linux-source-6.12 (scripts/kernel/build-custom.sh): ramoops built in, every frontend, LKDTM.
 * The cases are in compat-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { compatSuite } from './compat-suite.js'

await compatSuite('6.12-custom')
