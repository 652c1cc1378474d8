/**
 * Runs every benchmark in bench/, one after the other, streaming their output.
 *
 *   node bench/run.ts            # or: npm run bench
 *   node bench/run.ts --quick    # arguments are passed on to every benchmark (chunker.ts ignores them)
 *
 * A benchmark is any `bench/*.ts` except this runner and helpers whose name starts with `_`.
 * Each runs in its own `node` process (the one running this file), so one benchmark's heap and
 * JIT state never colour the next. A failing benchmark does not stop the others; the exit code
 * is non-zero if any failed.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const benchDir = import.meta.dirname
const self = path.basename(import.meta.filename)

// backup.ts first: it is the one the issue's targets are about; the rest in name order.
const order = (name: string) => (name === "backup.ts" ? 0 : 1)
const entries = fs.readdirSync(benchDir)
  .filter((f) => f.endsWith(".ts") && f !== self && !f.startsWith("_"))
  .sort((a, b) => order(a) - order(b) || a.localeCompare(b))

const failed: Array<string> = []
for (const entry of entries) {
  console.log(`\n=== bench/${entry} ===\n`)
  const t0 = Date.now()
  const r = spawnSync(process.execPath, [path.join(benchDir, entry), ...process.argv.slice(2)], {
    stdio: "inherit",
    cwd: path.dirname(benchDir)
  })
  const status = r.error ? `error: ${r.error.message}` : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`
  console.log(`\n=== bench/${entry}: ${status} after ${((Date.now() - t0) / 1000).toFixed(0)} s ===`)
  if (r.error || r.status !== 0) failed.push(entry)
}

if (failed.length > 0) {
  console.log(`\nfailed: ${failed.join(", ")}`)
  process.exitCode = 1
}
