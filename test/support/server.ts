import { spawn } from "node:child_process"
import { createServer } from "node:net"

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
 * Starts a real server (s3rver, Azurite…) as a Node subprocess and resolves once its output
 * contains `ready`; fails with that output if it exits or takes longer than `timeoutMs`.
 */
export const spawnServer = async (args: ReadonlyArray<string>, ready: string, label: string, timeoutMs = 30_000) => {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`${label} did not start: ${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (out.includes(ready)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code) => reject(new Error(`${label} exited (${code}): ${out}`)))
  })
  return () => {
    child.kill("SIGTERM")
  }
}
