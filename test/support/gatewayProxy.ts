import type { ChildProcess } from "node:child_process"
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3"
import { enigmaAsync } from "./cli.ts"

/** The key pair the gateway e2e tests start `enigma proxy` with. */
export const proxyAccessKey = "enigma-test"
export const proxySecretKey = "s3cr3t/key+value"

/** Starts `enigma proxy` as a subprocess and resolves once it listens. */
export const startProxy = async (g: ReadonlyArray<string>, port: number) => {
  const child = enigmaAsync([...g, "proxy", "--listen", `127.0.0.1:${port}`], {
    ENIGMA_PROXY_ACCESS_KEY: proxyAccessKey,
    ENIGMA_PROXY_SECRET_KEY: proxySecretKey
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
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

/** An S3 client for the proxy; `checksums: true` keeps the SDK defaults (CRC32 on every PUT, aws-chunked trailers). */
export const proxyClient = (port: number, options: { readonly checksums?: boolean; readonly credentials?: { accessKeyId: string; secretAccessKey: string } } = {}) =>
  new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: options.credentials ?? { accessKeyId: proxyAccessKey, secretAccessKey: proxySecretKey },
    ...(options.checksums ? {} : { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }),
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
