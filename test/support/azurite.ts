import { spawn } from "node:child_process"
import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort } from "./s3rver.ts"

/** Azurite's well-known development account (public, documented by Microsoft). */
export const azuriteAccount = "devstoreaccount1"
export const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/** Starts a real Azurite blob service on loopback in its own temp dir and waits until it listens. */
export const startAzurite = async () => {
  const port = await freePort()
  const dir = tempDir("enigma-azurite-")
  const bin = path.resolve(import.meta.dirname, "..", "..", "node_modules", "azurite", "dist", "src", "blob", "main.js")
  const child = spawn(process.execPath, [
    bin, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", dir, "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl"
  ], { stdio: ["ignore", "pipe", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (out.includes("successfully listens")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code) => reject(new Error(`azurite exited (${code}): ${out}`)))
  })
  return {
    endpoint: `http://127.0.0.1:${port}/${azuriteAccount}`,
    stop: () => {
      child.kill("SIGTERM")
    }
  }
}
