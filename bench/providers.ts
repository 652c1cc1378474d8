/**
 * Backup throughput to real S3 (s3rver) and Azure (Azurite) servers on loopback, at upload
 * concurrency 1, 4 and 16: MB/s and the requests issued (counted by the servers' logs is not
 * possible offline, so by the chunk and metadata objects written). Uploads must overlap:
 * concurrency > 1 should beat 1.
 *
 *   node bench/providers.ts            # 1 GiB of random data
 *   node bench/providers.ts --quick    # 256 MiB
 */
import { spawnSync } from "node:child_process"
import { randomFillSync } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { startS3rver } from "../test/support/s3rver.ts"
import { azuriteAccount, azuriteKey, startAzurite } from "../test/support/azurite.ts"

const quick = process.argv.includes("--quick")
const mib = 1024 * 1024
const size = (quick ? 256 : 1024) * mib
const bin = path.resolve(import.meta.dirname, "..", "dist", "enigma.mjs")
const root = mkdtempSync(path.join(tmpdir(), "enigma-bench-providers-"))
const env = { ...process.env, ENIGMA_PASSPHRASE: "bench" }

const makeData = () => {
  const dir = path.join(root, "data")
  mkdirSync(dir)
  const fd = openSync(path.join(dir, "random.bin"), "w")
  const block = Buffer.allocUnsafe(16 * mib)
  for (let done = 0; done < size; done += block.length) {
    randomFillSync(block)
    writeSync(fd, block, 0, Math.min(block.length, size - done))
  }
  closeSync(fd)
  return dir
}

const backup = (name: string, providerToml: string, concurrency: number, data: string) => {
  const dir = path.join(root, `${name}-${concurrency}`)
  mkdirSync(dir)
  writeFileSync(path.join(dir, "enigma.toml"), `[enigma]\nupload_concurrency = ${concurrency}\n\n${providerToml}`)
  const init = spawnSync(process.execPath, [bin, "--config-dir", dir, "init"], { env, encoding: "utf8" })
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`)
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [bin, "--config-dir", dir, "backup", data, "--json"], { env, encoding: "utf8" })
  const seconds = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new Error(`backup failed: ${r.stderr}`)
  const stats = JSON.parse(r.stdout)
  return { seconds, mbps: size / 1e6 / (stats.durationMs / 1000), chunks: stats.newChunks as number }
}

const data = makeData()
const s3 = await startS3rver()
const az = await startAzurite()
try {
  const s3client = s3.client()
  const blob = new BlobServiceClient(az.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey))
  console.log(`backup of ${size / mib} MiB of random data (4 MiB CDC chunks), loopback servers`)
  console.log("server   concurrency   MB/s (backup itself)   wall s   chunk PUTs   objects in store")
  for (const concurrency of [1, 4, 16]) {
    const bucket = `bench-${concurrency}`
    await s3client.send(new CreateBucketCommand({ Bucket: bucket }))
    const s3r = backup("s3", s3.toml("s3", bucket), concurrency, data)
    const objects = (await s3client.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount ?? 0
    console.log(`s3rver   ${String(concurrency).padStart(11)}   ${s3r.mbps.toFixed(0).padStart(20)}   ${s3r.seconds.toFixed(2).padStart(6)}   ${String(s3r.chunks).padStart(10)}   ${objects}`)
    await blob.getContainerClient(bucket).create()
    const azr = backup("azure", `[[providers]]\nname = "azure"\ntype = "Azure"\nbucket = "${bucket}"\naccess_key = "${azuriteAccount}"\nsecret_key = "${azuriteKey}"\nendpoint_url = "${az.endpoint}"\n`, concurrency, data)
    let blobs = 0
    for await (const _ of blob.getContainerClient(bucket).listBlobsFlat()) blobs++
    console.log(`azurite  ${String(concurrency).padStart(11)}   ${azr.mbps.toFixed(0).padStart(20)}   ${azr.seconds.toFixed(2).padStart(6)}   ${String(azr.chunks).padStart(10)}   ${blobs}`)
  }
} finally {
  s3.stop()
  az.stop()
  rmSync(root, { recursive: true, force: true })
}
