/**
 * pstore-sim vs Debian's linux-image-6.1.0-*-amd64-unsigned (6.1.192): ramoops as a module, no console/pmsg/ftrace frontend.
 * The cases are in compat-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { compatSuite, regionDiffSelfTest } from './compat-suite.js'

regionDiffSelfTest()
await compatSuite('6.1-debian')
