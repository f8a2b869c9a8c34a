/**
 * pstore-sim's efi backend vs Debian's 6.1 kernel (efi-pstore.ko through Debian's OVMF).
 * The cases are in compat-efi-suite.ts; one file per kernel so that tap boots two kernels at a time.
 */
import { efiCompatSuite } from './compat-efi-suite.js'

await efiCompatSuite('6.1-debian')
