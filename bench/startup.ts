/**
 * Start-up benchmark (issue 2: `enigma --help` ≤ 150 ms). Scripts and pipes start enigma often, so
 * the time from exec to exit of a command that does no work is the cost every invocation pays.
 *
 *   node bench/startup.ts            # 25 runs of each command
 *   node bench/startup.ts --quick    # 7 runs
 *
 * Each command runs through the launcher, as users run it (a snapshot of dist/, see _dist.ts), and
 * is timed from spawn to exit by this process. Two conditions:
 * - warm: V8's compile cache, which the launcher turns on, holds the bundle (every run after the
 *   first on a machine);
 * - cold: NODE_DISABLE_COMPILE_CACHE=1, so every run parses and compiles the bundle (what the very
 *   first run costs, or a read-only /tmp).
 * `node -e 0` is measured the same way, for the part no bundle can remove.
 *
 * Plain Node 24 (type stripping): no enums, namespaces or parameter properties.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { revision, snapshotDist } from "./_dist.ts"

const quick = process.argv.includes("--quick")
const runs = quick ? 7 : 25
/** The issue's target for `enigma --help`, milliseconds (median of warm runs). */
const helpTargetMs = 150

const work = fs.mkdtempSync(path.join(os.tmpdir(), "enigma-bench-startup-"))
const enigma = snapshotDist(work)
const proxy = path.join(path.dirname(enigma), "enigma-proxy.mjs")

interface Timing {
  readonly median: number
  readonly p90: number
  readonly min: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** Runs `command` `runs` times (after one unmeasured run that fills the compile cache). */
const time = (command: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Timing => {
  const once = () => {
    const t0 = performance.now()
    const r = spawnSync(command[0]!, command.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] })
    const ms = performance.now() - t0
    if (r.error || r.status !== 0) {
      throw new Error(`${command.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr?.toString().trim()}`)
    }
    return ms
  }
  once()
  const samples = Array.from({ length: runs }, once).sort((a, b) => a - b)
  return { median: percentile(samples, 0.5), p90: percentile(samples, 0.9), min: samples[0]! }
}

const warm = { ...process.env }
delete warm.NODE_DISABLE_COMPILE_CACHE
const cold = { ...warm, NODE_DISABLE_COMPILE_CACHE: "1" }

const rows: Array<[string, Timing, Timing | undefined]> = [
  ["node -e 0", time([process.execPath, "-e", "0"], warm), undefined],
  ["enigma --help", time([enigma, "--help"], warm), time([enigma, "--help"], cold)],
  ["enigma --version", time([enigma, "--version"], warm), time([enigma, "--version"], cold)],
  ["enigma backup --help", time([enigma, "backup", "--help"], warm), time([enigma, "backup", "--help"], cold)],
  ["enigma-proxy --help", time([proxy, "--help"], warm), time([proxy, "--help"], cold)]
]

const ms = (t: Timing) => `${t.median.toFixed(0).padStart(4)} ms (p90 ${t.p90.toFixed(0)}, min ${t.min.toFixed(0)})`
console.log(`enigma ${revision()}; ${runs} runs each, spawn to exit`)
console.log(`${"command".padEnd(22)} ${"warm compile cache".padEnd(30)} cold (NODE_DISABLE_COMPILE_CACHE=1)`)
for (const [name, w, c] of rows) console.log(`${name.padEnd(22)} ${ms(w).padEnd(30)} ${c ? ms(c) : ""}`)

const help = rows[1]![1].median
const pass = help <= helpTargetMs
console.log(`\nenigma --help ≤ ${helpTargetMs} ms (median, warm): ${help.toFixed(0)} ms ${pass ? "PASS" : "MISS"}`)
fs.rmSync(work, { recursive: true, force: true })
