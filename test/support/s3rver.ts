import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"

/**
 * Starts a real s3rver (the npm S3 server) on loopback in its own temp dir. It runs with
 * --openssl-legacy-provider (it still uses algorithms OpenSSL 3 hides).
 */
export const startS3rver = async () => {
  const port = await freePort()
  const bin = path.resolve(import.meta.dirname, "..", "..", "node_modules", "s3rver", "bin", "s3rver.js")
  const stop = await spawnServer(
    ["--openssl-legacy-provider", bin, "-d", tempDir("enigma-s3rver-"), "-a", "127.0.0.1", "-p", String(port)],
    "listening",
    "s3rver"
  )
  return { endpoint: `http://127.0.0.1:${port}`, accessKey: "S3RVER", secretKey: "S3RVER", stop }
}
