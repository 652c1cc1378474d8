import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { prng } from "./cli.ts"

/**
 * The environment for a real S3 client: this machine's, less anything that would change where or
 * how it connects (AWS_* settings such as a CA bundle, which rclone refuses on plain HTTP; proxies;
 * rclone's and restic's own variables), plus `extra`.
 */
export const clientEnv = (extra: Record<string, string>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(AWS_|RCLONE_|RESTIC_|S3CMD)|proxy$/i.test(k)) continue
    env[k] = v
  }
  return { ...env, ...extra }
}

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command without blocking the event loop (the proxy's output pipes must keep draining
 * while a client talks to it).
 */
export const run = (command: string, args: ReadonlyArray<string>, options: { env: Record<string, string>; cwd?: string }) =>
  new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Fails with the command's output when it did not exit 0. */
export const ok = (r: RunResult, what: string) => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`)
  return r
}

export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

/** Relative path → SHA-256 of every regular file under `dir` (directories only through their files). */
export const hashTree = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const rel of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!rel.isFile()) continue
    const abs = path.join(rel.parentPath, rel.name)
    out[path.relative(dir, abs).split(path.sep).join("/")] = sha256(readFileSync(abs))
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)))
}

/**
 * A tree of regular files for S3 clients: nested folders, an empty file, names with spaces,
 * non-ASCII letters and characters that must be URL-encoded, and a few multi-chunk files.
 */
export const makeObjectTree = (dir: string, seed = 7) => {
  const bytes = prng(seed)
  const files: Record<string, Uint8Array> = {
    "readme.txt": Buffer.from("objects written by a real S3 client\n"),
    "empty": new Uint8Array(0),
    "docs/a.txt": Buffer.from("a\n".repeat(1000)),
    "docs/deep/er/b.bin": bytes(1024 * 1024 + 7),
    "docs/with space & plus+sign.txt": Buffer.from("odd name\n"),
    "docs/ünïcødé-名前.txt": Buffer.from("utf-8 name\n"),
    "media/photo.raw": bytes(3 * 1024 * 1024 + 333),
    "media/clip.bin": bytes(2 * 1024 * 1024)
  }
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
    writeFileSync(path.join(dir, rel), content)
  }
  return files
}
