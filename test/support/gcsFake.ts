import { mkdirSync } from "node:fs"
import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"

/**
 * Starts the FAKE Google Cloud Storage JSON API (gcsFakeServer.ts) as a process on loopback,
 * in its own temp dir. No offline GCS emulator exists: firebase-tools' storage emulator can
 * serve the SDK in-process but costs 600+ packages and a native re2 build in every `npm ci`.
 * `pageSize` caps list pages, so small values exercise the SDK's paging; `crashAfterChunks`
 * makes the process exit when a chunk upload arrives after that many were stored. `dir` and
 * `port` restart a fake on the storage (and address) of a stopped one.
 */
export const startGcsFake = async (
  o: { readonly pageSize?: number; readonly crashAfterChunks?: number; readonly dir?: string; readonly port?: number } = {}
) => {
  const port = o.port ?? await freePort()
  const dir = o.dir ?? tempDir("enigma-gcsfake-")
  const bin = path.resolve(import.meta.dirname, "gcsFakeServer.ts")
  const stop = await spawnServer(
    [
      bin, "--dir", dir, "--port", String(port), "--page-size", String(o.pageSize ?? 1000),
      ...(o.crashAfterChunks === undefined ? [] : ["--crash-after-chunks", String(o.crashAfterChunks)])
    ],
    "gcs fake listening",
    "gcs fake"
  )
  const endpoint = `http://127.0.0.1:${port}`
  /** Buckets are directories of the fake's storage. */
  const createBucket = (bucket: string) => mkdirSync(path.join(dir, bucket))
  /** The file that holds an object's bytes (to inspect or damage it). */
  const objectFile = (bucket: string, key: string) => path.join(dir, bucket, encodeURIComponent(key))
  /** A `[[providers]]` entry for this fake. */
  const toml = (name: string, bucket: string) =>
    ["[[providers]]", `name = "${name}"`, 'type = "Gcs"', `bucket = "${bucket}"`, `endpoint_url = "${endpoint}"`, ""].join("\n")
  return { endpoint, port, dir, createBucket, objectFile, toml, stop }
}
