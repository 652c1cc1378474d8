import { assert, describe, it } from "@effect/vitest"
import { Storage } from "@google-cloud/storage"
import { Effect, Stream } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { afterAll, beforeAll } from "vitest"
import { gcsFailureOf, makeGcsProvider } from "../../../src/services/storage/GcsProvider.ts"
import { startGcsFake } from "../../support/gcsFake.ts"
import { providerSuite } from "../../support/providerSuite.ts"

let server: Awaited<ReturnType<typeof startGcsFake>>
beforeAll(async () => {
  // Two objects a page: every listing below goes through the SDK's paging.
  server = await startGcsFake({ pageSize: 2 })
})
afterAll(() => server?.stop())

const provider = (bucket: string) => makeGcsProvider({ name: "gcsfake", bucket, endpoint: server.endpoint })

let buckets = 0
/** A fresh bucket on the fake GCS server for each provider the suite asks for. */
const freshProvider = () =>
  Effect.sync(() => {
    const bucket = `enigma-test-${++buckets}`
    server.createBucket(bucket)
    return provider(bucket)
  })

providerSuite("gcs (FAKE GCS JSON API server, test/support/gcsFakeServer.ts)", freshProvider)

describe("GcsProvider specifics (against the FAKE GCS server)", () => {
  it.effect("lists more keys than fit in a page", () =>
    Effect.gen(function*() {
      const p = yield* freshProvider()
      const keys = Array.from({ length: 7 }, (_, i) => `chunks/0${i}/k${i}`)
      yield* Effect.forEach(keys, (k) => p.put(k, new Uint8Array([1])), { concurrency: 4 })
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))].sort(), keys)
    }))

  it.effect("stores the bytes as given (a large body, parts, binary) and reports their size", () =>
    Effect.gen(function*() {
      const p = yield* freshProvider()
      const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff)
      yield* p.put("chunks/aa/big", [big.subarray(0, 1000), big.subarray(1000)])
      assert.strictEqual(yield* p.head("chunks/aa/big"), big.length)
      assert.deepStrictEqual(yield* p.get("chunks/aa/big"), big)
      const view = big.subarray(5, 10) // a view into a larger buffer: only its bytes are sent
      yield* p.put("v", view)
      assert.deepStrictEqual([...(yield* p.get("v"))], [...view])
    }))

  it.effect("a missing bucket is a Fatal error that says so", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(provider("no-such-bucket").check)
      assert.strictEqual(e.reason, "Fatal")
      assert.include(e.message, "bucket no-such-bucket does not exist")
      assert.include(e.message, "provider gcsfake")
      const put = yield* Effect.flip(provider("no-such-bucket").put("x", new Uint8Array([1])))
      assert.strictEqual(put.reason, "Fatal")
      const get = yield* Effect.flip(provider("no-such-bucket").get("x"))
      assert.strictEqual(get.reason, "Fatal")
    }))

  it.effect("an unreachable endpoint is Transient (retryable) and names the key", () =>
    Effect.gen(function*() {
      const p = makeGcsProvider({ name: "down", bucket: "b", endpoint: "http://127.0.0.1:9" })
      const e = yield* Effect.flip(p.get("chunks/ab/abc"))
      assert.strictEqual(e.reason, "Transient")
      assert.isTrue(e.isRetryable)
      assert.include(e.message, "provider down: get chunks/ab/abc")
    }))

  it.effect("reads the stored bytes even when they were damaged at rest (integrity is checked above the port)", () =>
    Effect.gen(function*() {
      const p = yield* freshProvider()
      yield* p.put("chunks/ab/x", new Uint8Array([1, 2, 3, 4]))
      const bucket = `enigma-test-${buckets}`
      const file = server.objectFile(bucket, "chunks/ab/x")
      const bytes = readFileSync(file)
      bytes[1] ^= 0xff
      writeFileSync(file, bytes)
      assert.deepStrictEqual([...(yield* p.get("chunks/ab/x"))], [1, 2 ^ 0xff, 3, 4])
    }))

  it("the fake serves the SDK's other upload kinds and ranged reads", async () => {
    server.createBucket("sdk-paths")
    const bucket = new Storage({ apiEndpoint: server.endpoint, retryOptions: { autoRetry: false } }).bucket("sdk-paths")
    const body = Buffer.alloc(600_000).map((_, i) => i % 251)
    await bucket.file("resumable").save(body, { resumable: true })
    await bucket.file("chunked").save(body, { resumable: true, chunkSize: 256 * 1024 })
    await bucket.file("multipart").save(body, { resumable: false }) // with the SDK's own crc32c/md5 check
    for (const name of ["resumable", "chunked", "multipart"]) {
      const [got] = await bucket.file(name).download()
      assert.isTrue(got.equals(body), name)
    }
    const [range] = await bucket.file("chunked").download({ start: 10, end: 19 })
    assert.isTrue(range.equals(body.subarray(10, 20)))
    const wrongMd5 = await bucket.file("bad").save(Buffer.from("abc"), { resumable: false, validation: false, metadata: { md5Hash: "AAAAAAAAAAAAAAAAAAAAAA==" } })
      .then(() => undefined, (e: { code?: number }) => e.code)
    assert.strictEqual(wrongMd5, 400)
    const [exists] = await bucket.file("bad").exists()
    assert.isFalse(exists)
  })

  it("classifies SDK errors", () => {
    assert.strictEqual(gcsFailureOf({ code: 404, message: "No such object: b/k" }), "NotFound")
    assert.strictEqual(gcsFailureOf({ code: 404, message: "The specified bucket does not exist." }), "Fatal")
    assert.strictEqual(gcsFailureOf({ code: 403, message: "x@y does not have storage.objects.get access" }), "AccessDenied")
    assert.strictEqual(gcsFailureOf({ code: 401, message: "Invalid Credentials" }), "AccessDenied")
    assert.strictEqual(gcsFailureOf(new Error("Could not load the default credentials. Browse to …")), "AccessDenied")
    assert.strictEqual(gcsFailureOf({ code: 429, message: "rateLimitExceeded" }), "Transient")
    assert.strictEqual(gcsFailureOf({ code: 503, message: "backendError" }), "Transient")
    assert.strictEqual(gcsFailureOf(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })), "Transient")
    assert.strictEqual(gcsFailureOf({ code: 400, message: "Invalid argument" }), "Fatal")
  })
})
