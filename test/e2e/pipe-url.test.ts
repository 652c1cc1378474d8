import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3"
import { spawnSync } from "node:child_process"
import { createHmac, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { rawKeyRing } from "../../src/services/keys/Keys.ts"
import { enigma, enigmaBin, enigmaPipe, json, passphrase, prng, tempDir } from "../support/cli.ts"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { azuriteAccount, azuriteKey, startAzurite } from "../support/azurite.ts"
import { startGcsFake } from "../support/gcsFake.ts"
import { startS3rver } from "../support/s3rver.ts"

/** `--repo URL` needs no config dir: each "host" here is only its own cache dir. */
const host = () => ({ ENIGMA_CACHE_DIR: tempDir("enigma-cache-") })

describe("pipe mode without setup: --repo URL [--key]", () => {
  it("file:// with --key: put creates the repository, another host (empty cache) reads it and adds to it", () => {
    const root = tempDir()
    const url = `file://${root}/repo`
    // A fixed key: chunk boundaries depend on it, and this test counts shared chunks.
    const K = "5e".repeat(32)
    // Host A names chunks with the WebAssembly BLAKE3 (as where the native module cannot load), B
    // with the native one: B's reads re-hash A's chunks and B's put deduplicates against them.
    const a = { ...host(), K, ENIGMA_PASSPHRASE: undefined, ENIGMA_BLAKE3: "wasm" }
    const b = { ...host(), K, ENIGMA_PASSPHRASE: undefined }
    const data = prng(1)(12 * 1024 * 1024)
    const put = enigmaPipe(["--repo", url, "--key", "env:K", "put", "first", "--summary", "json"], data, a)
    assert.strictEqual(put.code, 0, put.stderr)
    assert.deepStrictEqual(readdirSync(path.join(root, "repo")).sort(), ["chunks", "keys", "locks", "log"])
    assert.deepStrictEqual(readdirSync(path.join(root, "repo", "keys")), ["raw-key"], "no keystore: the key is the secret")
    assert.strictEqual(JSON.parse(readFileSync(path.join(root, "repo", "keys", "raw-key"), "utf8")).chunkIdHash, "blake3")

    // Host B has never seen the repository: its manifest comes from the log segments.
    const got = enigmaPipe(["--repo", url, "--key", "env:K", "get", "first"], undefined, b)
    assert.strictEqual(got.code, 0, got.stderr)
    assert.isTrue(got.stdout.equals(data))
    const second = Buffer.concat([data, prng(2)(100_000)])
    const put2 = enigmaPipe(["--repo", url, "--key", "env:K", "put", "second", "--summary", "json"], second, b)
    assert.strictEqual(put2.code, 0, put2.stderr)
    assert.isAbove(JSON.parse(put2.stderr).dedupChunks, 0, "the second host deduplicates against the first's chunks")
    // Host A catches up with what B wrote.
    const names = json(enigma(["--repo", url, "--key", "env:K", "list", "--json"], a)).map((s: { name: string }) => s.name)
    assert.deepStrictEqual(names, ["first", "second"])
    assert.strictEqual(enigma(["--repo", url, "--key", "env:K", "verify", "second", "--read-data"], a).code, 0)
    assert.isTrue(enigmaPipe(["--repo", url, "--key", "env:K", "get", "second"], undefined, a).stdout.equals(second))
    assert.strictEqual(enigma(["--repo", url, "--key", "env:K", "forget", "first"], a).code, 0)
    const p1 = JSON.parse(put.stderr)
    const gc = json(enigma(["--repo", url, "--key", "env:K", "gc", "--json"], b))
    assert.strictEqual(gc.deletedChunks.length, p1.chunks - JSON.parse(put2.stderr).dedupChunks, "only the chunks nothing else uses")
    assert.isTrue(enigmaPipe(["--repo", url, "--key", "env:K", "get", "second"], undefined, a).stdout.equals(second))
  })

  it("a raw-key repository made before BLAKE3 ids (marker version 1) goes on naming chunks with HMAC-SHA256", () => {
    const root = tempDir()
    const key = Buffer.alloc(32, 0x3c)
    const { ring, check } = rawKeyRing(key, "hmac-sha256")
    mkdirSync(path.join(root, "repo", "keys"), { recursive: true })
    writeFileSync(path.join(root, "repo", "keys", "raw-key"), JSON.stringify({ version: 1, repositoryId: ring.repositoryId, check }))
    const env = { ...host(), ENIGMA_PASSPHRASE: undefined }
    const args = ["--repo", `file://${root}/repo`, "--key", `hex:${key.toString("hex")}`]
    const data = prng(3)(3 * 1024 * 1024 + 5)
    const put = enigmaPipe([...args, "put", "old", "--chunk-size", "1M"], data, env)
    assert.strictEqual(put.code, 0, put.stderr)
    const names = readdirSync(path.join(root, "repo", "chunks"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort()
    const mib = 1024 * 1024
    const want = [0, 1, 2, 3].map((i) => createHmac("sha256", ring.chunkIdKey.key).update(data.subarray(i * mib, (i + 1) * mib)).digest("hex")).sort()
    assert.deepStrictEqual(names, want)
    const got = enigmaPipe([...args, "get", "old"], undefined, env)
    assert.strictEqual(got.code, 0, got.stderr)
    assert.isTrue(got.stdout.equals(data))
  })

  it("tar c DIR | enigma put root --repo … --key env:K is a complete first command; restore by tar x", () => {
    const root = tempDir()
    const src = path.join(root, "src")
    mkdirSync(path.join(src, "etc"), { recursive: true })
    for (let i = 0; i < 50; i++) writeFileSync(path.join(src, "etc", `f${i}.conf`), `setting_${i} = ${i * 3}\n`.repeat(i + 1))
    writeFileSync(path.join(src, "blob"), prng(3)(500_000))
    const env = { ...process.env, ...host(), K: randomBytes(32).toString("hex"), ENIGMA_PASSPHRASE: "" }
    const bin = `"${process.execPath}" "${enigmaBin}" --repo file://${root}/repo --key env:K`
    const put = spawnSync("bash", ["-c", `set -o pipefail; tar -C "${src}" -c . | ${bin} put root`], { env, encoding: "utf8" })
    assert.strictEqual(put.status, 0, put.stderr)
    mkdirSync(path.join(root, "out"))
    const get = spawnSync("bash", ["-c", `set -o pipefail; ${bin} get root | tar -C "${root}/out" -x && diff -r "${src}" "${root}/out"`], { env, encoding: "utf8" })
    assert.strictEqual(get.status, 0, get.stderr + get.stdout)
  })

  it("bad keys and URLs: one line, the right exit code, nothing created", () => {
    const root = tempDir()
    const url = `file://${root}/repo`
    const K = randomBytes(32).toString("hex")
    const env = {
      ...host(), ENIGMA_PASSPHRASE: undefined, K, OTHER: randomBytes(32).toString("hex"), SHORT: "abcd",
      HOME: tempDir(), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined,
      AWS_EC2_METADATA_DISABLED: "true"
    }
    assert.strictEqual(enigmaPipe(["--repo", url, "--key", "env:K", "put", "s"], Buffer.from("x"), env).code, 0)
    const cases: Array<[ReadonlyArray<string>, RegExp, number]> = [
      [["--repo", url, "--key", "env:OTHER", "get", "s"], /^enigma: the key does not open the repository at file:\/\/.*another key/, 12],
      [["--repo", url, "get", "s"], /^enigma: the repository at .* is encrypted with a raw key; give it with --key/, 1],
      [["--repo", url, "--key", "env:SHORT", "get", "s"], /^enigma: --key env:SHORT: \$SHORT must be 64 hex digits/, 1],
      [["--repo", url, "--key", "env:NOPE", "get", "s"], /^enigma: --key env:NOPE: environment variable NOPE is not set/, 1],
      [["--repo", url, "--key", "sesame", "get", "s"], /^enigma: --key sesame: use hex:<64 hex digits>, file:PATH or env:VAR/, 1],
      [["--repo", `file://${root}/empty`, "--key", "env:K", "list"], /^enigma: no repository at file:\/\/.*\/empty: nothing is stored there yet/, 10],
      [["--repo", "ftp://host/x", "list"], /^enigma: --repo ftp:\/\/host\/x: unknown scheme ftp; use file:\/\/\/path, s3:\/\/bucket\/prefix/, 1],
      [["--repo", "s3://B!/x", "list"], /is not a valid bucket or container name/, 1],
      [["--key", "env:K", "list"], /^enigma: --key works with --repo URL only/, 1],
      [["--repo", url, "--key", "env:K", "key", "rotate"], /^enigma: a --key repository has exactly the key you hold/, 1],
      // A bad --key is named before the provider is asked anything (here it could not even be reached).
      [["--repo", "s3://bucket/p", "--region", "us-east-1", "--key", "env:NOPE", "list"], /^enigma: --key env:NOPE: environment variable NOPE is not set/, 1],
      // No AWS credentials anywhere (no env, an empty HOME, no instance metadata): say where to put them.
      [["--repo", "s3://bucket/p", "--region", "us-east-1", "list"], /^enigma: provider s3: .*no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/, 1]
    ]
    for (const [args, message, code] of cases) {
      const r = enigmaPipe(args, undefined, env)
      assert.strictEqual(r.code, code, `${args.join(" ")}: ${r.stderr}`)
      assert.match(r.stderr, message, args.join(" "))
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`)
    }
    assert.isFalse(existsSync(path.join(root, "empty")), "a read command creates nothing")
    assert.isTrue(enigmaPipe(["--repo", url, "--key", "env:K", "get", "s"], undefined, env).stdout.equals(Buffer.from("x")))
  })

  it("s3://bucket/prefix on s3rver with a passphrase: keystore and everything else stay under the prefix", async () => {
    const server = await startS3rver()
    try {
      await server.client().send(new CreateBucketCommand({ Bucket: "dumps" }))
      const url = "s3://dumps/team/db"
      const env = { ...host(), AWS_ACCESS_KEY_ID: server.accessKey, AWS_SECRET_ACCESS_KEY: server.secretKey, AWS_REGION: "us-east-1" }
      const g = ["--repo", url, "--endpoint-url", server.endpoint]
      const data = prng(4)(2 * 1024 * 1024 + 5)
      const put = enigmaPipe([...g, "put", "nightly", "--tag", "db=orders"], data, env)
      assert.strictEqual(put.code, 0, put.stderr)
      const listed = await server.client().send(new ListObjectsV2Command({ Bucket: "dumps" }))
      const keys = (listed.Contents ?? []).map((o) => o.Key!)
      assert.isTrue(keys.length > 2 && keys.every((k) => k.startsWith("team/db/")), keys.join(", "))
      assert.include(keys, "team/db/keys/keystore")
      const other = host()
      const got = enigmaPipe([...g, "get", "nightly"], undefined, { ...env, ...other })
      assert.strictEqual(got.code, 0, got.stderr)
      assert.isTrue(got.stdout.equals(data))
      const wrong = enigmaPipe([...g, "get", "nightly"], undefined, { ...env, ...host(), ENIGMA_PASSPHRASE: `${passphrase}x` })
      assert.strictEqual(wrong.code, 12)

      // Passphrases and keys of a --repo repository, changed from two machines: each change starts
      // from the provider's keystore (the local copy is a cache: here `other` has none, and the
      // first machine's is behind after `other`'s change), so none drops what the other added.
      const newPassphrase = (p: string) => ({ ENIGMA_NEW_PASSPHRASE: p })
      assert.strictEqual(enigma([...g, "key", "add", "--label", "second"], { ...env, ...newPassphrase("second pass") }).code, 0)
      const third = enigma([...g, "key", "add", "--label", "third"], { ...env, ...other, ...newPassphrase("third pass") })
      assert.strictEqual(third.code, 0, third.stderr)
      const removed = enigma([...g, "key", "remove", "2"], env)
      assert.strictEqual(removed.code, 0, removed.stderr)
      const rotated = enigma([...g, "key", "rotate"], env)
      assert.strictEqual(rotated.code, 0, rotated.stderr)
      const fresh = { ...env, ...host(), ENIGMA_PASSPHRASE: "third pass" }
      assert.deepStrictEqual(json(enigma([...g, "key", "list", "--json"], fresh)).passphrases.map((p: { id: number }) => p.id), [1, 3])
      const more = prng(5)(300_000)
      assert.strictEqual(enigmaPipe([...g, "put", "after-rotate"], more, fresh).code, 0)
      assert.isTrue(enigmaPipe([...g, "get", "after-rotate"], undefined, { ...env, ...host() }).stdout.equals(more))
      assert.isTrue(enigmaPipe([...g, "get", "nightly"], undefined, fresh).stdout.equals(data))
      assert.strictEqual(enigmaPipe([...g, "get", "nightly"], undefined, { ...env, ...host(), ENIGMA_PASSPHRASE: "second pass" }).code, 12)
    } finally {
      await server.stop()
    }
  })

  it("azure://container/prefix (Azurite, AZURE_STORAGE_* env) and gs://bucket/prefix (FAKE GCS server) with --key", async () => {
    const azure = await startAzurite()
    const gcs = await startGcsFake()
    try {
      await new BlobServiceClient(azure.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey)).getContainerClient("streams").create()
      gcs.createBucket("streams")
      const env = { ...host(), ENIGMA_PASSPHRASE: undefined, K: "a7".repeat(32), AZURE_STORAGE_ACCOUNT: azuriteAccount, AZURE_STORAGE_KEY: azuriteKey }
      for (const [url, endpoint] of [["azure://streams/db/nightly", azure.endpoint], ["gs://streams/db/nightly", gcs.endpoint]] as const) {
        const data = prng(5)(1_500_000)
        const g = ["--repo", url, "--endpoint-url", endpoint, "--key", "env:K"]
        const put = enigmaPipe([...g, "put", "dump"], data, env)
        assert.strictEqual(put.code, 0, `${url}: ${put.stderr}`)
        const got = enigmaPipe([...g, "get", "dump"], undefined, { ...env, ...host() })
        assert.strictEqual(got.code, 0, `${url}: ${got.stderr}`)
        assert.isTrue(got.stdout.equals(data), url)
      }
      const gcsKeys = readdirSync(path.join(gcs.dir, "streams")).map(decodeURIComponent)
      assert.isTrue(gcsKeys.length > 2 && gcsKeys.every((k) => k.startsWith("db/nightly/")), gcsKeys.join(", "))
    } finally {
      await azure.stop()
      await gcs.stop()
    }
  })
})

