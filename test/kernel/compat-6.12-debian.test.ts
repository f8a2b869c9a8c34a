/**
 * pstore-sim vs Debian's linux-image-6.12.107+deb12-amd64-unsigned: ramoops as a module, no console/pmsg/ftrace frontend.
 * The cases are in compat-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { compatSuite } from './compat-suite.js'

await compatSuite('6.12-debian')
