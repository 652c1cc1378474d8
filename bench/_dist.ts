/**
 * The enigma that a benchmark measures: a snapshot of dist/, run through its launcher as users
 * run it (the launcher's shebang sets the allocator tunables, see scripts/build.ts).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const repoRoot = path.resolve(import.meta.dirname, "..")
export const enigmaCli = path.join(repoRoot, "dist", "enigma.mjs")

/** Which enigma was measured: the commit, whether the tree is dirty, and when the bundle was built. */
export const revision = (): string => {
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).stdout?.trim() || "unknown"
  const dirty = (spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: repoRoot, encoding: "utf8" }).stdout ?? "").trim() !== ""
  return `${head}${dirty ? " (dirty)" : ""}, dist built ${fs.statSync(enigmaCli).mtime.toISOString()}`
}

/**
 * Copies dist/ into the run's work dir and returns the copied launcher, to be run as the command
 * itself. Others may rebuild dist/ while a run is going (a half-written bundle fails to load, a
 * new one measures something else), so every enigma command of a run uses this one snapshot. It
 * stays under the checkout, so any package left external to the bundle still resolves from
 * node_modules/. The launcher's `env node` must find the Node running the benchmark: its
 * directory goes first on PATH.
 */
export const snapshotDist = (work: string): string => {
  const copy = path.join(work, "enigma-dist")
  fs.cpSync(path.dirname(enigmaCli), copy, { recursive: true })
  process.env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`
  return path.join(copy, path.basename(enigmaCli))
}
