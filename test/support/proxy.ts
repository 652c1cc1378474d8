import type { ChildProcess } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import * as path from "node:path"
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3"
import { SignatureV4 } from "@smithy/signature-v4"
import { enigmaAsync } from "./cli.ts"
import { NodeSha256 } from "./nodeSha256.ts"

/** Helpers for tests that drive `enigma proxy` (the real CLI subprocess) with real S3 clients. */

export const accessKey = "enigma-test"
export const secretKey = "s3cr3t/key+value"

/** The chunk objects a Local provider at `<repo>/storage` holds (file names, relative). */
export const chunkFiles = (dir: string): Array<string> =>
  !existsSync(path.join(dir, "storage", "chunks"))
    ? []
    : readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60)

/** Starts `enigma proxy` as a subprocess and resolves once it listens. */
export const startProxy = async (g: ReadonlyArray<string>, port: number) => {
  const child = enigmaAsync([...g, "proxy", "--listen", `127.0.0.1:${port}`], {
    ENIGMA_PROXY_ACCESS_KEY: accessKey,
    ENIGMA_PROXY_SECRET_KEY: secretKey
  })
  let out = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (out.includes("listening on")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`proxy exited (${code}): ${out}`)))
  })
  return { child, output: () => out }
}

export const stopProxy = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

export const s3Client = (port: number, credentials = { accessKeyId: accessKey, secretAccessKey: secretKey }) =>
  new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1
  })

/** The S3 error code a call fails with (and its HTTP status). */
export const failure = async (p: Promise<unknown>) => {
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
  const headers = await signedHeaders(port, method, p, { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": String(body.length), ...extra })
  const res = await fetch(`http://127.0.0.1:${port}${p}`, method === "GET" || method === "HEAD" ? { method, headers } : { method, headers, body })
  return { status: res.status, text: await res.text() }
}
