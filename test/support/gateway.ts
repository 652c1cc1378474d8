import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3"
import { SignatureV4 } from "@smithy/signature-v4"
import { enigma, enigmaAsync, json, passphrase } from "./cli.ts"
import { NodeSha256 } from "./nodeSha256.ts"

/** The key pair the gateway tests sign with. */
export const accessKey = "enigma-test"
export const secretKey = "s3cr3t/key+value"

export interface RunningProxy {
  readonly child: ChildProcess
  /** Everything the proxy printed so far (stdout and stderr). */
  readonly output: () => string
}

/** Resolves once the child prints "listening on"; fails with its output if it exits first. */
export const waitListening = async (child: ChildProcess, timeoutMs = 30_000): Promise<RunningProxy> => {
  let out = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (out.includes("listening on")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`proxy exited (${code}): ${out}`))
    })
  })
  return { child, output: () => out }
}

/** Starts `enigma … proxy` (the real CLI) on 127.0.0.1:port with the test key pair. */
export const startProxy = (g: ReadonlyArray<string>, port: number, extra: ReadonlyArray<string> = []) =>
  waitListening(enigmaAsync([...g, "proxy", "--listen", `127.0.0.1:${port}`, ...extra], {
    ENIGMA_PROXY_ACCESS_KEY: accessKey,
    ENIGMA_PROXY_SECRET_KEY: secretKey
  }))

/** Starts the `enigma-proxy` binary with `args` (e.g. `--config FILE`). */
export const startProxyBin = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  waitListening(spawn(process.execPath, [path.resolve(import.meta.dirname, "..", "..", "dist", "enigma-proxy.mjs"), ...args], {
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  }))

/** SIGTERM, then the exit code. */
export const stopProxy = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

/** SIGKILL (no shutdown, no log sealing), resolved once the process is gone. */
export const killProxy = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** An SDK client for the gateway: path style, no retries, checksums only when required. */
export const gatewayClient = (port: number, credentials = { accessKeyId: accessKey, secretAccessKey: secretKey }) =>
  new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1
  })

/**
 * Chunk objects on the Local provider of a repository made by `initRepo` (the `storage` dir),
 * without the temp files of writes in progress or cut short by a kill -9 (never listed as chunks).
 */
export const chunkFiles = (dir: string) =>
  !existsSync(path.join(dir, "storage", "chunks"))
    ? []
    : readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60 && !n.includes(".tmp-"))

/** The S3 error code a call fails with (and its HTTP status). */
export const s3Failure = async (p: Promise<unknown>) => {
  try {
    await p
  } catch (e) {
    if (e instanceof S3ServiceException) return { code: e.name, status: e.$metadata.httpStatusCode }
    throw e
  }
  throw new Error("expected the call to fail")
}

/** Signed headers for a hand-made request (`p` may carry a query string). */
export const signedHeaders = async (port: number, method: string, p: string, headers: Record<string, string>) => {
  const signer = new SignatureV4({ service: "s3", region: "us-east-1", credentials: { accessKeyId: accessKey, secretAccessKey: secretKey }, sha256: NodeSha256, uriEscapePath: false })
  const q = p.indexOf("?")
  const query: Record<string, string> = {}
  if (q >= 0) for (const [k, v] of new URLSearchParams(p.slice(q + 1))) query[k] = v
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path: q >= 0 ? p.slice(0, q) : p,
    query,
    headers: { host: `127.0.0.1:${port}`, ...headers }
  })
  return signed.headers as Record<string, string>
}

/** A hand-signed request with an unsigned payload (for bodies the SDK would not send). */
export const rawRequest = async (port: number, method: string, p: string, body: Buffer, extra: Record<string, string> = {}) => {
  const bodyless = method === "GET" || method === "HEAD" // fetch sends no Content-Length for these: it must not be signed
  const headers = await signedHeaders(port, method, p, { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...(bodyless ? {} : { "content-length": String(body.length) }), ...extra })
  const res = await fetch(`http://127.0.0.1:${port}${p}`, bodyless ? { method, headers } : { method, headers, body })
  return { status: res.status, text: await res.text() }
}

/**
 * `enigma recover` into a fresh config dir holding only an enigma.toml that names the same Local
 * storage, then the rows of `queries` from both databases (the proxy must be stopped first).
 */
export const recoverBeside = (repo: { readonly root: string; readonly dir: string }, queries: Record<string, string>) => {
  const fresh = path.join(repo.root, "fresh")
  mkdirSync(fresh)
  const toml = readFileSync(path.join(repo.dir, "enigma.toml"), "utf8")
  writeFileSync(path.join(fresh, "enigma.toml"), `${toml}\n[[providers]]\nname = "local"\ntype = "Local"\nbucket = "${repo.dir}/storage"\n`)
  json(enigma(["--config-dir", fresh, "recover", "--json"]))
  const dump = (dir: string) => {
    const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
    try {
      return Object.fromEntries(Object.entries(queries).map(([name, sql]) => [name, db.prepare(sql).all()]))
    } finally {
      db.close()
    }
  }
  return { original: dump(repo.dir), recovered: dump(fresh) }
}
