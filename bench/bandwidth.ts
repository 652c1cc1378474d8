/**
 * Bandwidth limits, measured: a backup of 200 MiB of random data with --limit-upload 20M should
 * take ~10 s of upload, and a restore with --limit-download 20M ~10 s of download. Prints the
 * rate each held and its deviation from the limit (the issue asks for ≤ 10% over a 10 s run).
 *
 *   node bench/bandwidth.ts [--quick]     # --quick: 50 MiB at 5M (also ~10 s)
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { randomFillSync } from "node:crypto"
import { tmpdir } from "node:os"
import * as path from "node:path"

const quick = process.argv.includes("--quick")
const mib = 1024 * 1024
const size = (quick ? 50 : 200) * mib
const limit = quick ? "5M" : "20M"
const rate = (quick ? 5 : 20) * mib
const bin = path.resolve(import.meta.dirname, "..", "dist", "enigma.mjs")
const root = mkdtempSync(path.join(tmpdir(), "enigma-bw-"))
const env = { ...process.env, ENIGMA_PASSPHRASE: "bench" }
const g = ["--config-dir", path.join(root, "repo")]

const run = (args: Array<string>) => {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [bin, ...g, ...args], { env, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`enigma ${args.join(" ")} failed: ${r.stderr}`)
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout }
}

try {
  const src = path.join(root, "data")
  mkdirSync(src)
  const buf = Buffer.allocUnsafe(size)
  randomFillSync(buf)
  writeFileSync(path.join(src, "random.bin"), buf)
  run(["init"])
  // The fixed cost of a command (start-up, Argon2id, manifest) is measured and taken out.
  const fixed = run(["list"]).seconds
  const backup = run(["--limit-upload", limit, "backup", src, "--json"])
  const id = JSON.parse(backup.stdout).backupId as string
  const restore = run(["--limit-download", limit, "restore", id, path.join(root, "out")])
  const report = (what: string, seconds: number) => {
    const held = size / Math.max(seconds - fixed, 0.001)
    const deviation = (held - rate) / rate
    console.log(`${what}: ${(size / mib).toFixed(0)} MiB in ${seconds.toFixed(2)} s (fixed cost ${fixed.toFixed(2)} s) → ${(held / mib).toFixed(2)} MiB/s against a ${limit} limit: ${(deviation * 100).toFixed(1)}% ${Math.abs(deviation) <= 0.1 ? "PASS" : "MISS"} (≤ 10%)`)
  }
  report("upload   (--limit-upload)", backup.seconds)
  report("download (--limit-download)", restore.seconds)
} finally {
  rmSync(root, { recursive: true, force: true })
}
