import fs from 'node:fs'

// Which modules each test file is meant to cover (tap's coverage-map): a unit test counts only
// for its own module, so a module covered only by the end-to-end tests shows as such. Tests not
// named here (the mount, kernel and CLI suites) count for every module they reach.
const UNIT = {
  'test/unit/compression.test.ts': ['src/pstore/compression.ts'],
  'test/unit/config.test.ts': ['src/backend/ramoops/ramoopsSetup.ts'],
  'test/unit/dmesgHeader.test.ts': ['src/format/dmesgHeader.ts'],
  'test/unit/fastPath.test.ts': ['src/cli/fastPath.ts'],
  'test/unit/dumpWrite.test.ts': ['src/pstore/kmsgDumper.ts', 'src/backend/ramoops/dmesgZone.ts', 'src/backend/ramoops/ramoops.ts'],
  'test/unit/ecc.test.ts': ['src/backend/ramoops/zone.ts', 'src/format/reedSolomon.ts'],
  'test/unit/ftrace.test.ts': ['src/pstore/ftrace.ts'],
  'test/unit/kmsgDumper.test.ts': ['src/pstore/kmsgDumper.ts'],
  'test/unit/layout.test.ts': ['src/backend/ramoops/layout.ts'],
  'test/unit/advice.test.ts': ['src/daemon/advice.ts'],
  'test/unit/machine.test.ts': ['src/machine/machine.ts', 'src/machine/crashReport.ts', 'src/machine/events.ts', 'src/machine/imageSession.ts'],
  'test/unit/mountView.test.ts': ['src/pstore/mountView.ts', 'src/pstore/filesystem.ts'],
  'test/unit/ramoops.fixtures.test.ts': [
    'src/backend/ramoops/ramoops.ts',
    'src/backend/ramoops/zone.ts',
    'src/backend/ramoops/erase.ts',
    'src/backend/ramoops/dmesgZone.ts',
  ],
  'test/unit/reedSolomon.test.ts': ['src/format/reedSolomon.ts'],
  'test/unit/region.test.ts': ['src/format/region.ts'],
  'test/unit/symbols.test.ts': ['src/pstore/symbols.ts'],
  'test/unit/zone.test.ts': ['src/backend/ramoops/zone.ts'],
  'test/unit/setupPrecedence.test.ts': ['src/machine/imageSetup.ts'],
  'test/unit/sidecar.test.ts': ['src/machine/sidecar.ts', 'src/machine/sidecarMigration.ts', 'src/backend/setup.ts'],
}
const everyModule = (dir = 'src') =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? everyModule(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []))

export default function coverageMap(testFile) {
  return UNIT[testFile.replace(/\\/g, '/')] ?? everyModule()
}
