import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand } from "@aws-sdk/client-s3"
import { Effect, Stream } from "effect"
import { createServer, request } from "node:http"
import { afterAll, beforeAll } from "vitest"
import { isChunkKey, makeS3Provider, minPartSize, restoreStateOf, type S3ProviderOptions, sliceOf } from "../../../src/services/storage/S3Provider.ts"
import { withPrefix } from "../../../src/services/storage/Prefixed.ts"
import { Keys } from "../../../src/services/storage/StorageProvider.ts"
import { prng } from "../../support/cli.ts"
import { startFakeColdS3 } from "../../support/fakeColdS3.ts"
import { startS3rver } from "../../support/s3rver.ts"

let s3rver: Awaited<ReturnType<typeof startS3rver>>
let fake: Awaited<ReturnType<typeof startFakeColdS3>>

/** A pass-through proxy in front of the real s3rver that records each request line (to see the S3 calls made). */
const seen: Array<string> = []
const proxy = createServer((req, res) => {
  seen.push(`${req.method} ${req.url}`)
  const target = new URL(s3rver.endpoint)
  const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode ?? 500, r.headers)
    r.pipe(res)
  })
  req.pipe(out)
})
let proxyEndpoint = ""

beforeAll(async () => {
  s3rver = await startS3rver()
  await s3rver.client().send(new CreateBucketCommand({ Bucket: "multipart" }))
  fake = await startFakeColdS3()
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok))
  proxyEndpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`
})
afterAll(async () => {
  s3rver?.stop()
  proxy.close()
  await fake?.stop()
})

const onS3rver = (o: Partial<S3ProviderOptions> = {}) =>
  makeS3Provider({
    name: "s3rver",
    kind: "S3Compatible",
    bucket: "multipart",
    region: "us-east-1",
    endpoint: proxyEndpoint,
    pathStyle: true,
    credentials: { accessKeyId: s3rver.accessKey, secretAccessKey: s3rver.secretKey },
    checksumsWhenRequired: true,
    ...o
  })
const onFake = (o: Partial<S3ProviderOptions> = {}) =>
  makeS3Provider({
    name: "fake-cold",
    kind: "S3Compatible",
    bucket: fake.bucket,
    region: "us-east-1",
    endpoint: fake.endpoint,
    pathStyle: true,
    credentials: { accessKeyId: "fake", secretAccessKey: "fake" },
    checksumsWhenRequired: true,
    ...o
  })

describe("S3Provider multipart uploads (real s3rver)", () => {
  it.effect("a body above the threshold goes up in parts and reads back byte-identical", () =>
    Effect.gen(function*() {
      const p = onS3rver({ multipartThreshold: minPartSize, partSize: minPartSize })
      // Shaped like a sealed chunk: small header, large ciphertext, 16-byte tag; 3 parts, two straddling pieces.
      const bytes = prng(3)
      const pieces = [bytes(13), bytes(2 * minPartSize + 123_457), bytes(16)]
      const whole = Buffer.concat(pieces)
      seen.length = 0
      yield* p.put("chunks/ab/big", pieces)
      const calls = seen.map((l) => l.replace(/uploadId=[^&]+/, "uploadId=U").replace(/[?&]x-id=[A-Za-z]+/, ""))
      assert.deepStrictEqual(calls.filter((l) => !l.includes("partNumber")), [
        "POST /multipart/chunks/ab/big?uploads=",
        "POST /multipart/chunks/ab/big?uploadId=U"
      ])
      assert.deepStrictEqual(calls.filter((l) => l.includes("partNumber")).sort(), [1, 2, 3].map((n) => `PUT /multipart/chunks/ab/big?partNumber=${n}&uploadId=U`))
      const back = yield* p.get("chunks/ab/big")
      assert.strictEqual(back.length, whole.length)
      assert.isTrue(Buffer.from(back).equals(whole))
      assert.strictEqual(yield* p.head("chunks/ab/big"), whole.length)
    }))

  it.effect("a body at the threshold is one PutObject", () =>
    Effect.gen(function*() {
      const p = onS3rver({ multipartThreshold: minPartSize, partSize: minPartSize })
      const body = prng(4)(minPartSize)
      seen.length = 0
      yield* p.put("chunks/cd/small", body)
      assert.deepStrictEqual(seen.map((l) => l.replace(/\?x-id=PutObject$/, "")), ["PUT /multipart/chunks/cd/small"])
      assert.isTrue(Buffer.from(yield* p.get("chunks/cd/small")).equals(body))
    }))
})

describe("S3Provider putStream (real s3rver)", () => {
  /** `total` bytes in 100,003-byte pieces, made as they are pulled: the provider never sees a length. */
  const pieces = (seed: number, total: number) => {
    const bytes = prng(seed)(total)
    return { bytes, stream: Stream.suspend(() => Stream.fromIterable(Array.from({ length: Math.ceil(total / 100_003) }, (_, i) => bytes.subarray(i * 100_003, (i + 1) * 100_003)))) }
  }

  it.effect("a body longer than one part goes up as a multipart upload of partSize parts", () =>
    Effect.gen(function*() {
      const p = onS3rver({ multipartThreshold: minPartSize, partSize: minPartSize })
      const { bytes, stream } = pieces(9, 2 * minPartSize + 77)
      seen.length = 0
      yield* p.putStream("chunks/ab/streamed", stream)
      const calls = seen.map((l) => l.replace(/uploadId=[^&]+/, "uploadId=U").replace(/[?&]x-id=[A-Za-z]+/, ""))
      assert.deepStrictEqual(calls.filter((l) => !l.includes("partNumber")), [
        "POST /multipart/chunks/ab/streamed?uploads=",
        "POST /multipart/chunks/ab/streamed?uploadId=U"
      ])
      assert.deepStrictEqual(calls.filter((l) => l.includes("partNumber")).sort(), [1, 2, 3].map((n) => `PUT /multipart/chunks/ab/streamed?partNumber=${n}&uploadId=U`))
      assert.isTrue(Buffer.from(yield* p.get("chunks/ab/streamed")).equals(bytes))
    }))

  it.effect("a body of at most one part (and the threshold) is one PutObject", () =>
    Effect.gen(function*() {
      const p = onS3rver({ multipartThreshold: minPartSize, partSize: minPartSize })
      const { bytes, stream } = pieces(10, minPartSize)
      seen.length = 0
      yield* p.putStream("chunks/cd/streamed", stream)
      assert.deepStrictEqual(seen.map((l) => l.replace(/\?x-id=PutObject$/, "")), ["PUT /multipart/chunks/cd/streamed"])
      assert.isTrue(Buffer.from(yield* p.get("chunks/cd/streamed")).equals(bytes))
    }))
})

describe("S3Provider on a fake cold-storage S3 (test/support/fakeColdS3.ts)", () => {
  it.effect("putStream: a body that fails after some parts aborts the upload; the storage class applies", () =>
    Effect.gen(function*() {
      const p = onFake({ storageClass: "DEEP_ARCHIVE", multipartThreshold: minPartSize, partSize: minPartSize })
      const key = Keys.chunk("04".padEnd(64, "d"))
      const body = Stream.make(prng(11)(3 * minPartSize))
      const e = yield* Effect.flip(p.putStream(key, Stream.concat(body, Stream.fail("body broke" as const))))
      assert.strictEqual(e, "body broke")
      assert.strictEqual(fake.uploads.size, 0)
      assert.isFalse(fake.objects.has(key))
      const at = fake.writes.length
      yield* p.putStream(key, body)
      assert.deepStrictEqual(fake.writes.slice(at), [{ key, storageClass: "DEEP_ARCHIVE", multipart: true }])
      assert.strictEqual(fake.uploads.size, 0)
    }))

  it.effect("a failed part aborts the upload: no incomplete upload and no object remain", () =>
    Effect.gen(function*() {
      const p = onFake({ multipartThreshold: minPartSize, partSize: minPartSize })
      fake.faults.failPart = 2
      const e = yield* Effect.flip(p.put("chunks/ef/doomed", [prng(5)(3 * minPartSize)]))
      fake.faults.failPart = undefined
      assert.strictEqual(e.reason, "Transient")
      assert.include(e.message, "provider fake-cold: put chunks/ef/doomed")
      assert.strictEqual(fake.uploads.size, 0)
      assert.isFalse(fake.objects.has("chunks/ef/doomed"))
      // The retry (ChunkStore's) then succeeds as a whole new upload.
      const body = prng(6)(3 * minPartSize)
      yield* p.put("chunks/ef/doomed", [body])
      assert.isTrue(fake.objects.get("chunks/ef/doomed")!.body.equals(body))
      assert.strictEqual(fake.uploads.size, 0)
    }))

  // it.live: the timeout that interrupts the upload needs the real clock.
  it.live("an interrupted multipart upload is aborted too", () =>
    Effect.gen(function*() {
      const p = onFake({ multipartThreshold: minPartSize, partSize: minPartSize, partConcurrency: 1 })
      const r = yield* Effect.exit(p.put("chunks/ef/cut", [prng(7)(4 * minPartSize)]).pipe(Effect.timeout("1 millis")))
      assert.strictEqual(r._tag, "Failure")
      // The abort runs as the put is interrupted; give its request time to land.
      for (let i = 0; i < 100 && fake.uploads.size > 0; i++) yield* Effect.promise(() => new Promise((ok) => setTimeout(ok, 20)))
      assert.strictEqual(fake.uploads.size, 0)
      assert.isFalse(fake.objects.has("chunks/ef/cut"))
    }), { timeout: 20_000 })

  it.effect("storage_class applies to chunks only (single and multipart); keystore, log segments and locks stay STANDARD", () =>
    Effect.gen(function*() {
      const p = onFake({ storageClass: "DEEP_ARCHIVE", multipartThreshold: minPartSize, partSize: minPartSize })
      const small = Keys.chunk("01".padEnd(64, "a"))
      const large = Keys.chunk("02".padEnd(64, "b"))
      const before = fake.writes.length
      yield* p.put(small, new Uint8Array([1, 2, 3]))
      yield* p.put(large, [prng(8)(minPartSize + 1)])
      yield* p.put(Keys.keystore, new Uint8Array([4]))
      yield* p.put(Keys.segment(1, 2), new Uint8Array([5]))
      yield* p.put(Keys.lock("abc"), new Uint8Array([6]))
      assert.deepStrictEqual(fake.writes.slice(before), [
        { key: small, storageClass: "DEEP_ARCHIVE", multipart: false },
        { key: large, storageClass: "DEEP_ARCHIVE", multipart: true },
        { key: "keys/keystore", storageClass: "STANDARD", multipart: false },
        { key: "log/000000000001-000000000002", storageClass: "STANDARD", multipart: false },
        { key: "locks/abc", storageClass: "STANDARD", multipart: false }
      ])
      // Below a repository prefix (s3://bucket/prefix), even one that contains "chunks/".
      for (const prefix of ["team/db", "chunks/ab"]) {
        const q = withPrefix(p, prefix)
        const at = fake.writes.length
        yield* q.put(small, new Uint8Array([1]))
        yield* q.put(Keys.keystore, new Uint8Array([2]))
        assert.deepStrictEqual(fake.writes.slice(at).map((w) => [w.key, w.storageClass]), [
          [`${prefix}/${small}`, "DEEP_ARCHIVE"],
          [`${prefix}/keys/keystore`, "STANDARD"]
        ])
      }
    }))

  it.effect("a cold object: get fails Cold naming the class; thaw goes requested → in-progress → ready; then get works", () =>
    Effect.gen(function*() {
      const p = onFake({ storageClass: "GLACIER" })
      const frozen = Keys.chunk("03".padEnd(64, "c"))
      yield* p.put(frozen, new Uint8Array([7, 8, 9]))
      yield* p.put("keys/keystore", new Uint8Array([1]))
      const e = yield* Effect.flip(p.get(frozen))
      assert.strictEqual(e.reason, "Cold")
      assert.isFalse(e.isRetryable)
      assert.include(e.message, `provider fake-cold: get ${frozen}: object is in cold storage (storage class GLACIER)`)
      // head works on cold objects (verify without --read-data does not need a thaw).
      assert.strictEqual(yield* p.head(frozen), 3)
      const opts = { days: 3, tier: "Bulk" as const }
      assert.strictEqual(yield* p.thaw!("keys/keystore", opts), "not-cold")
      assert.strictEqual(yield* p.thaw!(frozen, opts), "requested")
      assert.deepStrictEqual(fake.restoreRequests.at(-1), { key: frozen, days: 3, tier: "Bulk" })
      const asked = fake.restoreRequests.length
      assert.strictEqual(yield* p.thaw!(frozen, opts), "in-progress")
      assert.strictEqual(fake.restoreRequests.length, asked, "no second RestoreObject while one runs")
      assert.strictEqual((yield* Effect.flip(p.get(frozen))).reason, "Cold")
      fake.completeRestores()
      assert.strictEqual(yield* p.thaw!(frozen, opts), "ready")
      assert.deepStrictEqual([...(yield* p.get(frozen))], [7, 8, 9])
      assert.strictEqual((yield* Effect.flip(p.thaw!("chunks/02/none", opts))).reason, "NotFound")
    }))
})

describe("S3Provider helpers", () => {
  it("sliceOf returns views inside one piece and copies only ranges that straddle pieces", () => {
    const a = new Uint8Array([1, 2, 3])
    const b = new Uint8Array([4, 5, 6, 7])
    const inside = sliceOf([a, b], 4, 6)
    assert.deepStrictEqual([...inside], [5, 6])
    assert.strictEqual(inside.buffer, b.buffer)
    assert.deepStrictEqual([...sliceOf([a, new Uint8Array(0), b], 2, 5)], [3, 4, 5])
    assert.deepStrictEqual([...sliceOf([a, b], 0, 7)], [1, 2, 3, 4, 5, 6, 7])
  })

  it("recognises chunk keys by their tail, with or without a repository prefix", () => {
    const id = "ab".padEnd(64, "0")
    assert.isTrue(isChunkKey(`chunks/ab/${id}`))
    assert.isTrue(isChunkKey(`team/db/chunks/ab/${id}`))
    assert.isFalse(isChunkKey(`chunks/cd/${id}`))
    assert.isFalse(isChunkKey("chunks/ab/keys/keystore"))
    assert.isFalse(isChunkKey("keys/keystore"))
    assert.isFalse(isChunkKey(`log/${id}`))
  })

  it("reads the Restore header", () => {
    assert.strictEqual(restoreStateOf(undefined), undefined)
    assert.strictEqual(restoreStateOf('ongoing-request="true"'), "in-progress")
    assert.strictEqual(restoreStateOf('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'), "ready")
  })
})
