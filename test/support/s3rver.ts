import { spawn } from "node:child_process"
import { createServer } from "node:net"
import * as path from "node:path"
import { tempDir } from "./cli.ts"

/** A free loopback port (bind to 0, read it, release it). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
    srv.on("error", reject)
  })

/**
 * Starts a real s3rver (the npm S3 server) on loopback in its own temp dir and waits until it
 * listens. It runs with --openssl-legacy-provider (it still uses algorithms OpenSSL 3 hides).
 */
export const startS3rver = async () => {
  const port = await freePort()
  const dir = tempDir("enigma-s3rver-")
  const bin = path.resolve(import.meta.dirname, "..", "..", "node_modules", "s3rver", "bin", "s3rver.js")
  const child = spawn(process.execPath, ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  await new Promise<void>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${out}`)), 20_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (out.includes("listening")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code) => reject(new Error(`s3rver exited (${code}): ${out}`)))
  })
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    stop: () => {
      child.kill("SIGTERM")
    }
  }
}
