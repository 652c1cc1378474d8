import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { enigma, initRepo, json, localProviderToml, makeTree, snapshotTree, tempDir, testArgon } from "../support/cli.ts"
import { startS3rver } from "../support/s3rver.ts"

let server: Awaited<ReturnType<typeof startS3rver>>
let client: S3Client
beforeAll(async () => {
  server = await startS3rver()
  client = server.client()
})
afterAll(() => server?.stop())

const keysIn = async (bucket: string, prefix: string) =>
  ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((c) => c.Key!)

describe("enigma on an S3-compatible store (real s3rver)", () => {
  it("backup, verify, restore and recover through S3, with the secret key as an enc: token", async () => {
    await client.send(new CreateBucketCommand({ Bucket: "enigma-e2e" }))
    const token = enigma(["encrypt-cred", server.secretKey]).stdout.trim()
    const config = server.toml("s3rver", "enigma-e2e", { secretKey: token })
    const { root, g } = initRepo([], config)
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    assert.isAbove((await keysIn("enigma-e2e", "chunks/")).length, 0)
    assert.deepStrictEqual(await keysIn("enigma-e2e", "keys/"), ["keys/keystore"])
    assert.isAbove((await keysIn("enigma-e2e", "log/")).length, 0)
    assert.deepStrictEqual(await keysIn("enigma-e2e", "locks/"), [])
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    const status = json(enigma([...g, "status", "--json"]))
    assert.strictEqual(status.providers[0].reachable, true)

    // A new machine: only the config.
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    writeFileSync(path.join(fresh, "enigma.toml"), config)
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"]).code, 0)
    const out2 = path.join(root, "out2")
    assert.strictEqual(enigma(["--config-dir", fresh, "restore", backupId, out2]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out2, "data")), snapshotTree(src))
  })

  it("round-robin over a Local and an S3 provider spreads chunks and restores from both", async () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    mkdirSync(dir)
    await client.send(new CreateBucketCommand({ Bucket: "enigma-rr" }))
    writeFileSync(path.join(dir, "enigma.toml"), [
      "[enigma.chunk_strategy.Cdc]",
      "target_size = 65536",
      "",
      localProviderToml("disk"),
      server.toml("s3rver", "enigma-rr", { type: "minio" })
    ].join("\n"))
    assert.strictEqual(enigma(["--config-dir", dir, "init", ...testArgon]).code, 0)
    const g = ["--config-dir", dir]
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "big.bin"), Buffer.from(readFileSync(process.execPath).subarray(0, 2_000_000)))
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const status = json(enigma([...g, "status", "--json"]))
    const counts = status.providers.map((p: { chunks: number }) => p.chunks)
    assert.isAbove(counts[0], 0)
    assert.isAbove(counts[1], 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    // s3rver cannot list incomplete multipart uploads: gc says so once and does the rest of its job.
    const gc = enigma([...g, "gc", "--json"])
    assert.strictEqual(gc.code, 0, gc.stderr)
    assert.deepStrictEqual(JSON.parse(gc.stdout).incompleteWrites, [])
    const warnings = gc.stderr.split("\n").filter((l) => l.includes("incomplete uploads there are not cleaned up"))
    assert.strictEqual(warnings.length, 1, gc.stderr)
    assert.match(warnings[0]!, /provider s3rver: sweep chunks\//)
  })

  it("bad S3 settings get one clear line", async () => {
    const dir = path.join(tempDir(), "repo")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), '[[providers]]\nname = "x"\ntype = "S3Compatible"\nbucket = "b"\n')
    const noEndpoint = enigma(["--config-dir", dir, "init"])
    assert.strictEqual(noEndpoint.code, 1)
    assert.match(noEndpoint.stderr, /provider "x": type S3Compatible needs endpoint_url/)
    writeFileSync(path.join(dir, "enigma.toml"), `[[providers]]\nname = "x"\ntype = "S3Compatible"\nbucket = "missing-bucket"\nendpoint_url = "${server.endpoint}"\naccess_key = "S3RVER"\nsecret_key = "S3RVER"\n`)
    const noBucket = enigma(["--config-dir", dir, "init"])
    assert.strictEqual(noBucket.code, 1)
    assert.match(noBucket.stderr, /bucket missing-bucket does not exist/)
    assert.strictEqual(noBucket.stderr.trim().split("\n").length, 1)
    // recover where the store cannot be read names why, not "no provider holds a keystore".
    const recover = enigma(["--config-dir", dir, "recover"])
    assert.strictEqual(recover.code, 1, recover.stderr)
    assert.match(recover.stderr, /no keystore could be read from the providers \(x: .*bucket missing-bucket does not exist/)
    assert.strictEqual(recover.stderr.trim().split("\n").length, 1)
  })
})
