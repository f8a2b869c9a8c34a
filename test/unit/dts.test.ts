/**
 * The --dts reader on hostile input: it must parse or refuse every file in time linear in its
 * size. (The regex reader it replaced backtracked exponentially: 20 pairs of "" took over a
 * minute.) Each case runs in a child process that reports the parser's own CPU time, so a
 * regression fails on that bound however busy the machine is (a hang: the test's time limit).
 */

import { spawnSync } from 'node:child_process'
import t from 'tap'
import { fromDts, ProbeError, parseDtsTree } from '../../src/backend/ramoops/ramoopsSetup.js'
import { productCommand, runProductsUninstrumented } from '../helpers/mount.js'
import { sourceBundle } from '../helpers/sourceBundle.js'

// the children run the bundle without tap's per-process hook (helpers/mount.ts): a clean Node
runProductsUninstrumented()

const configJs = await sourceBundle('backend/ramoops/ramoopsSetup.ts')
const KB100 = 100 * 1024
const fill = (unit: string, size = KB100) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size)

const hostile: Record<string, string> = {
  'pairs of "" after =, no terminator': 'a = ' + fill('""'),
  '20 pairs of ""': 'x = ' + '""'.repeat(20),
  'the 79-byte shape: quotes and brackets': 'r = "<[' + '"<"['.repeat(18) + '\n',
  'unterminated strings': fill('a = "'),
  'unterminated cells': fill('a = <'),
  'unterminated block comments': fill('/*'),
  'comment openers and closers': fill('/*/'),
  'line comments without newline': fill('//'),
  'names without terminator': fill('abc '),
  'nested opens': fill('n {'),
  'closers only': fill('};'),
  'equals signs': fill('= '),
  'deep valid nesting': fill('n { ', KB100 / 2) + fill('}; ', KB100 / 2),
  'unterminated comment after line comments': fill('// x\n', KB100 / 2) + '/*' + fill('a', KB100 / 2),
  'many properties': '/ { ' + fill('p = <1 2 3>; q = "s"; ') + ' };',
}

t.test('hostile device trees parse or fail fast', async (t) => {
  // one process for every input (a Node start each cost more than the parses): each input's
  // outcome and the parser's own CPU time, one JSON line each, in order
  const script = `
const { parseDtsTree, fromDts } = await import(${JSON.stringify(configJs)})
const inputs = JSON.parse(require('fs').readFileSync(0, 'utf8'))
for (const input of inputs) {
  const t0 = process.cpuUsage()
  let outcome
  try { parseDtsTree(input, 'hostile.dts'); outcome = 'parsed'; try { fromDts(input, {}, 'hostile.dts') } catch (e) { if (e.name !== 'ProbeError') throw e } } catch (e) { outcome = e.name + ': ' + e.message.slice(0, 60) }
  const used = process.cpuUsage(t0)
  console.log(JSON.stringify({ outcome, ms: (used.user + used.system) / 1000 }))
}
`.replace("require('fs')", "(await import('node:fs')).default")
  const cases = Object.entries(hostile)
  const r = spawnSync(...productCommand(process.execPath, ['--input-type=module', '-e', script]), {
    input: JSON.stringify(cases.map(([, input]) => input)),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  t.equal(r.signal, null, `finished: ${r.stderr}`)
  const results = r.stdout.split('\n').filter(Boolean)
  for (const [i, [name]] of cases.entries()) {
    t.ok(results[i] !== undefined, `${name}: finished`)
    if (results[i] === undefined) continue
    const { outcome, ms } = JSON.parse(results[i]) as { outcome: string; ms: number }
    t.ok(outcome === 'parsed' || outcome.startsWith('ProbeError'), `${name}: ${outcome}`)
    // Linear work on 100 KB is milliseconds of CPU; 2 s of the parser's own CPU time is a
    // complexity bound (the backtracking reader needed minutes for 44 bytes) that CPU time, unlike
    // wall time, keeps however busy the machine is.
    t.ok(ms < 2000, `${name}: ${ms.toFixed(1)} ms of CPU`)
  }
})

t.test('the scanner still reads real device trees', async (t) => {
  const tree = parseDtsTree(`/dts-v1/;
/* a comment with "quotes" and { braces } */
/ {
	#address-cells = <2>; // line comment
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 /* base */ 0x0 0x100000>;
			record-size = <0x4000>;
			label = "a;b{c}";
			no-dump-oops;
		};
	};
};
`)
  const node = tree.children[0].children[0].children[0]
  t.equal(node.name, 'ramoops@8f000000')
  t.equal(node.props.get('label'), '"a;b{c}"', 'separators inside strings are text')
  t.equal(node.props.get('no-dump-oops'), null)
  t.equal(node.props.get('reg'), '<0x0 0x8f000000   0x0 0x100000>')
  const config = fromDts(
    `/ { reserved-memory { #address-cells = <1>; #size-cells = <1>; r { compatible = "ramoops"; reg = <0x1000 0x10000>; record-size = <0x1000>; }; }; };`,
  )
  t.equal(config.memSize, 0x10000)
  t.throws(() => parseDtsTree('a = "open;'), ProbeError, 'an unterminated string is refused')
  t.throws(() => parseDtsTree(';'), ProbeError, 'an empty statement is refused')
  t.throws(() => parseDtsTree('n { a; '), { message: /not closed/ })
})
