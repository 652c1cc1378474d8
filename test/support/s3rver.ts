import { S3Client } from "@aws-sdk/client-s3"
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
  const endpoint = `http://127.0.0.1:${port}`
  const accessKey = "S3RVER"
  const secretKey = "S3RVER"
  /** An SDK client for setting up and inspecting buckets from the test side. */
  const client = () =>
    new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } })
  /** A `[[providers]]` entry for this server (`secretKey` may be an enc: token). */
  const toml = (name: string, bucket: string, o: { type?: string; secretKey?: string } = {}) =>
    [
      "[[providers]]",
      `name = "${name}"`,
      `type = "${o.type ?? "S3Compatible"}"`,
      `bucket = "${bucket}"`,
      `endpoint_url = "${endpoint}"`,
      `access_key = "${accessKey}"`,
      `secret_key = "${o.secretKey ?? secretKey}"`,
      ""
    ].join("\n")
  return { endpoint, accessKey, secretKey, client, toml, stop }
}
