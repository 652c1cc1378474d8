import { spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, lstatSync, writeFileSync, symlinkSync, utimesSync, chmodSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** The bundled CLI, built by `npm test` (and `npm ci`'s prepare) before vitest starts. */
export const enigmaBin = path.resolve(import.meta.dirname, "..", "..", "dist", "enigma.mjs")

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export const passphrase = "test-passphrase"

/** Runs the real CLI as a subprocess (no TTY: output is what a script sees). */
export const enigma = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}): CliResult => {
  const r = spawnSync(process.execPath, [enigmaBin, ...args], {
    encoding: "utf8",
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, ...env },
    maxBuffer: 64 * 1024 * 1024
  })
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr }
}

export interface PipeResult {
  readonly code: number
  readonly stdout: Buffer
  readonly stderr: string
}

/** Runs the CLI with `input` on stdin; stdout comes back as bytes (for `put` / `get`). */
export const enigmaPipe = (args: ReadonlyArray<string>, input?: Uint8Array, env: Record<string, string | undefined> = {}): PipeResult => {
  const r = spawnSync(process.execPath, [enigmaBin, ...args], {
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, ...env },
    input: input ?? new Uint8Array(0),
    maxBuffer: 512 * 1024 * 1024
  })
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr.toString("utf8") }
}

/** Starts the CLI without waiting (for kill -9 and concurrency tests). */
export const enigmaAsync = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) =>
  spawn(process.execPath, [enigmaBin, ...args], {
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })

export const tempDir = (label = "enigma-test-") => mkdtempSync(path.join(tmpdir(), label))

/**
 * `init` flags for the cheapest Argon2id `init` accepts (OWASP's 19 MiB × 2 passes, one lane):
 * ~60 ms of CPU for each command that opens the keystore instead of ~320 ms at the default cost.
 * Over the suite's ~1,500 commands on two cores that is minutes. The default cost stays covered
 * by the tests that run a bare `init` (errors, passphrase sources, the backup-restore walkthrough).
 */
export const testArgon = ["--argon2-memory", "19M", "--argon2-passes", "2", "--argon2-lanes", "1"] as const

/**
 * A repository in a fresh temp dir; returns the global args that address it. With `toml`, the
 * config is written first (as a user would) and init keeps it.
 */
export const initRepo = (extraInit: ReadonlyArray<string> = [], toml?: string) => {
  const root = tempDir()
  const dir = path.join(root, "repo")
  if (toml !== undefined) {
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), toml)
  }
  const r = enigma(["--config-dir", dir, "init", ...testArgon, ...extraInit])
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
  return { root, dir, g: ["--config-dir", dir] as const }
}

/** A `[[providers]]` entry for a Local provider (`bucket` relative to the config dir). */
export const localProviderToml = (name: string, bucket = name) =>
  ["[[providers]]", `name = "${name}"`, 'type = "Local"', `bucket = "${bucket}"`, ""].join("\n")

/** Every chunk on two providers, one upload at a time, 1 MiB fixed chunks: the copies tests' setup. */
export const twoCopiesToml = ["[enigma]", "copies = 2", "upload_concurrency = 1", "[enigma.chunk_strategy.Fixed]", "size = 1048576", ""].join("\n")

export const json = <A = any>(r: CliResult): A => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

/** A deterministic pseudo-random byte generator (mulberry32), so failures reproduce. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return (n: number) => {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      out[i] = (t ^ (t >>> 14)) & 0xff
    }
    return out
  }
}

/** A sample tree: text files, a larger random file, an empty dir, a symlink, odd modes and mtimes. */
export const makeTree = (dir: string, seed = 1) => {
  const bytes = prng(seed)
  mkdirSync(path.join(dir, "docs", "deep", "er"), { recursive: true })
  mkdirSync(path.join(dir, "empty"), { recursive: true })
  for (let i = 0; i < 30; i++) writeFileSync(path.join(dir, "docs", `note${i}.txt`), `note ${i}\n`.repeat(i + 1))
  writeFileSync(path.join(dir, "docs", "deep", "er", "main.rs"), "fn main() {}\n")
  writeFileSync(path.join(dir, "big.bin"), bytes(3 * 1024 * 1024 + 123))
  writeFileSync(path.join(dir, "empty-file"), "")
  writeFileSync(path.join(dir, "script.sh"), "#!/bin/sh\necho hi\n")
  chmodSync(path.join(dir, "script.sh"), 0o750)
  symlinkSync("docs/note1.txt", path.join(dir, "link"))
  symlinkSync("/nonexistent/target", path.join(dir, "dangling"))
  utimesSync(path.join(dir, "docs", "note3.txt"), 1_000_000, 1_000_000)
}

/** Everything restore promises to keep: kind, content, mode, mtime (files), link targets. */
export const snapshotTree = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs)
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(abs)}`
    // Never read: a FIFO would block, a device node is not its bytes.
    else if (st.isFIFO()) out[rel] = `fifo ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs)}`
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      out[rel] = `${st.isCharacterDevice() ? "chardev" : "blockdev"} ${st.rdev} ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs)}`
    }
    else if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`
      for (const n of readdirSync(abs).sort()) visit(path.join(abs, n), rel ? `${rel}/${n}` : n)
    } else {
      out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs)} ${readFileSync(abs).toString("base64")}`
    }
  }
  visit(dir, "")
  return out
}
