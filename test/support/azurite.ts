import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"

/** Azurite's well-known development account (public, documented by Microsoft). */
export const azuriteAccount = "devstoreaccount1"
export const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/** Starts a real Azurite blob service on loopback in its own temp dir. */
export const startAzurite = async () => {
  const port = await freePort()
  const bin = path.resolve(import.meta.dirname, "..", "..", "node_modules", "azurite", "dist", "src", "blob", "main.js")
  const stop = await spawnServer(
    [bin, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", tempDir("enigma-azurite-"), "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl", "--disableTelemetry"],
    "successfully listens",
    "azurite"
  )
  return { endpoint: `http://127.0.0.1:${port}/${azuriteAccount}`, stop }
}
