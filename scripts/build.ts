/**
 * Bundles the CLI into one ESM file with esbuild (run by `npm ci` through `prepare`): a bundled
 * effect/cli program starts in ~70 ms against ~420 ms as plain TypeScript.
 */
import { build } from "esbuild"
import { chmodSync } from "node:fs"

const entries = [{ in: "src/runtime/main.ts", out: "enigma" }]

await build({
  entryPoints: entries,
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  target: "node24",
  format: "esm",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  banner: {
    // A shebang for the bin, the compile cache for faster starts, and `require` for CJS deps.
    js: [
      "#!/usr/bin/env node",
      "import { createRequire as __enigmaCreateRequire } from 'node:module';",
      "import * as __enigmaModule from 'node:module';",
      "__enigmaModule.enableCompileCache?.();",
      "const require = __enigmaCreateRequire(import.meta.url);"
    ].join("\n")
  }
})
for (const e of entries) chmodSync(`dist/${e.out}.mjs`, 0o755)
