import fs from 'node:fs'

// Which modules each test file is meant to cover (tap's coverage-map): a unit test counts only
// for its own module, so a module covered only by the end-to-end tests shows as such. Tests not
// named here (the mount, kernel and CLI suites) count for every module they reach.
const UNIT = {
  'test/compression.test.ts': ['src/pstore/compression.ts'],
  'test/config.test.ts': ['src/backend/ramoops/config.ts'],
  'test/dts.test.ts': ['src/backend/ramoops/config.ts'],
  'test/inflateMemory.test.ts': ['src/pstore/compression.ts'],
  'test/dmesgHeader.test.ts': ['src/format/dmesgHeader.ts'],
  'test/fastPath.test.ts': ['src/cli/fastPath.ts'],
  'test/dumpWrite.test.ts': ['src/pstore/kmsgDumper.ts', 'src/backend/ramoops/dmesgZone.ts', 'src/backend/ramoops/ramoops.ts'],
  'test/ecc.test.ts': ['src/backend/ramoops/zone.ts', 'src/format/reedSolomon.ts'],
  'test/ftrace.test.ts': ['src/pstore/ftrace.ts'],
  'test/kmsgDumper.test.ts': ['src/pstore/kmsgDumper.ts'],
  'test/layout.test.ts': ['src/backend/ramoops/layout.ts'],
  'test/advice.test.ts': ['src/daemon/advice.ts'],
  'test/machine.test.ts': ['src/machine/machine.ts', 'src/machine/crashReport.ts', 'src/machine/events.ts', 'src/machine/simulation.ts'],
  'test/mountView.test.ts': ['src/pstore/mountView.ts', 'src/pstore/filesystem.ts'],
  'test/ramoops.fixtures.test.ts': [
    'src/backend/ramoops/ramoops.ts',
    'src/backend/ramoops/zone.ts',
    'src/backend/ramoops/erase.ts',
    'src/backend/ramoops/dmesgZone.ts',
  ],
  'test/reedSolomon.test.ts': ['src/format/reedSolomon.ts'],
  'test/region.test.ts': ['src/format/region.ts'],
  'test/symbols.test.ts': ['src/pstore/symbols.ts'],
  'test/zone.test.ts': ['src/backend/ramoops/zone.ts'],
  'test/setupPrecedence.test.ts': ['src/machine/imageSetup.ts'],
  'test/setupJson.test.ts': ['src/backend/setup.ts'],
}
const everyModule = (dir = 'src') =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? everyModule(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []))

export default function coverageMap(testFile) {
  return UNIT[testFile.replace(/\\/g, '/')] ?? everyModule()
}
