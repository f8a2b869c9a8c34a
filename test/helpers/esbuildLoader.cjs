/**
 * The unit tier's TypeScript loader (`npm run test:unit`: tap --node-arg=--require=THIS). tap's
 * TypeScript plugin starts ts-node, and with it the whole TypeScript compiler, in every test
 * process (~1 s of CPU each on this project's machine, before it transpiles a module); esbuild's
 * transform strips the types of a module in about a millisecond. Types are still checked, once, by
 * `tsc -p tsconfig.test.json`; ts-node ran transpile-only as well.
 *
 * --require runs before tap's --import loaders: TAP_TYPE_STRIP_ONLY=1 is the plugin's own switch
 * that leaves ts-node out (tap sets it to 0 on Node < 22, where it would mean Node's own type
 * stripping), and the hooks here load the .ts files instead.
 */
'use strict'
process.env.TAP_TYPE_STRIP_ONLY = '1'
require('node:module').register('./esbuildLoaderHooks.mjs', require('node:url').pathToFileURL(__filename))
