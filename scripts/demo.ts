/**
 * `npm run demo`: a throwaway repository in a temp dir (Local provider, SQLite manifest, a
 * throwaway passphrase). Backs up a generated sample tree, lists, verifies, restores and diffs
 * it, then changes a file and backs up again to show deduplication. Prints every step.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { randomBytes } from "node:crypto"

const root = mkdtempSync(path.join(tmpdir(), "enigma-demo-"))
const repo = path.join(root, "repo")
const sample = path.join(root, "sample")
const restored = path.join(root, "restored")
const bin = path.resolve(import.meta.dirname, "..", "dist", "enigma.mjs")
const env = { ...process.env, ENIGMA_PASSPHRASE: "demo-passphrase-not-secret" }

const step = (title: string, args: Array<string>, cmd = process.execPath) => {
  const shown = cmd === process.execPath ? ["enigma", ...args] : [cmd, ...args]
  process.stdout.write(`\n$ ${shown.join(" ")}\n`)
  const r = spawnSync(cmd, cmd === process.execPath ? [bin, ...args] : args, { env, stdio: "inherit" })
  if (r.status !== 0) {
    process.stderr.write(`demo step "${title}" failed with exit code ${r.status}\n`)
    process.exit(1)
  }
}

// A small sample tree: source-like text files, a binary blob, an empty dir and a symlink.
mkdirSync(path.join(sample, "src", "lib"), { recursive: true })
mkdirSync(path.join(sample, "empty"), { recursive: true })
for (let i = 0; i < 200; i++) {
  writeFileSync(path.join(sample, "src", "lib", `module${i}.ts`), `export const value${i} = ${i}\n`.repeat(20 + (i % 50)))
}
writeFileSync(path.join(sample, "README.md"), "# sample\nA tree backed up by the enigma demo.\n")
writeFileSync(path.join(sample, "blob.bin"), randomBytes(6 * 1024 * 1024))
symlinkSync("README.md", path.join(sample, "LINK.md"))

console.log(`demo directory: ${root}`)
const g = ["--config-dir", repo]
step("init", [...g, "init"])
step("backup", [...g, "backup", sample])
step("list", [...g, "list"])
const list = spawnSync(process.execPath, [bin, ...g, "list", "--json"], { env, encoding: "utf8" })
const id = JSON.parse(list.stdout)[0].id as string
step("verify", [...g, "verify", id, "--read-data"])
step("restore", [...g, "restore", id, restored])
step("diff", ["-r", sample, path.join(restored, "sample")], "diff")
console.log("restored tree is identical to the original")
writeFileSync(path.join(sample, "README.md"), "# sample\nChanged after the first backup.\n")
step("second backup (only the change is stored)", [...g, "backup", sample])
step("what changed between the two backups", [...g, "diff", id, "latest"])
step("status", [...g, "status"])
rmSync(root, { recursive: true, force: true })
console.log("\ndemo finished; temp directory removed")
