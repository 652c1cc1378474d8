import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import * as path from "node:path"
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3"
import { enigmaAsync, passphrase } from "./cli.ts"

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
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
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

/** Chunk objects on the Local provider of a repository made by `initRepo` (the `storage` dir). */
export const chunkFiles = (dir: string) =>
  !existsSync(path.join(dir, "storage", "chunks"))
    ? []
    : readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60)

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
