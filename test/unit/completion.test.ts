/** `pstore-sim completion`: the bash script yargs generates, run by a real bash. */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { cliJs, pstoreSim, run, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

t.test("bash completes commands and exec's options through the generated script", async (t) => {
  const script = await pstoreSim(['completion'])
  t.equal(script.code, 0)
  t.match(script.stdout.toString(), /complete -o bashdefault -o default -F _pstore-sim_yargs_completions pstore-sim/)
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'completion.bash'), script.stdout)
  fs.symlinkSync(cliJs, path.join(dir, 'pstore-sim')) // the script calls pstore-sim from PATH
  const complete = (...words: string[]) =>
    run(
      'bash',
      [
        '-c',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash script, its ${…} is bash's
        'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pstore-sim_yargs_completions; printf "%s\\n" "${COMPREPLY[@]}"',
        'bash',
        path.join(dir, 'completion.bash'),
        'pstore-sim',
        ...words,
      ],
      {
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
      },
    )
  t.same((await complete('ex')).stdout.toString().split('\n').filter(Boolean), ['exec'], '"pstore-sim ex<TAB>" gives exec')
  const options = (await complete('exec', '--t')).stdout.toString().split('\n').filter(Boolean)
  t.same(options, ['--tmpfs'], '"exec --t<TAB>" gives --tmpfs')
})
