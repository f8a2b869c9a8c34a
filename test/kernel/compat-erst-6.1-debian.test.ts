/**
 * pstore-sim's ERST backend vs Debian's 6.1 kernel (built-in ACPI APEI ERST over QEMU's acpi-erst).
 * The cases are in compat-erst-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { erstCompatSuite } from './compat-erst-suite.js'

await erstCompatSuite('6.1-debian')
