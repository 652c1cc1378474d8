import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Readable } from "node:stream"
import { afterAll, beforeAll } from "vitest"
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from "@aws-sdk/client-s3"
import { enigma, initRepo, json, prng } from "../support/cli.ts"
import { sha256 } from "../support/clients.ts"
import { accessKey, chunkFiles, gatewayClient, killProxy, s3Failure as failure, secretKey, startProxy, stopProxy } from "../support/gateway.ts"
import { freePort } from "../support/server.ts"

/**
 * kill -9 of `enigma proxy` in the middle of a PUT: an object is visible whole or not at all,
 * during the upload, after the crash and after a restart on the same repository.
 */

/** Small content-defined chunks, so the first MiBs of a body are stored before the kill. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 262144\n"
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex")

type ChecksumMode = "WHEN_REQUIRED" | "WHEN_SUPPORTED"

/** WHEN_SUPPORTED is what current SDKs do by default: an aws-chunked body with a CRC32 trailer. */
const client = (port: number, checksums: ChecksumMode = "WHEN_REQUIRED") =>
  checksums === "WHEN_REQUIRED"
    ? gatewayClient(port)
    : new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      requestChecksumCalculation: checksums,
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 1
    })

/**
 * A body of `content.length` bytes of which only the first `sent` arrive: the stream then waits forever
 * (the proxy dies meanwhile). `stalled` resolves once those bytes were handed to the socket.
 */
const stalledBody = (content: Uint8Array, sent: number) => {
  let markStalled: () => void = () => {}
  const stalled = new Promise<void>((resolve) => (markStalled = resolve))
  let offset = 0
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (offset >= sent) {
        markStalled()
        return // never pushes again: the upload hangs mid-body
      }
      const end = Math.min(sent, offset + 256 * 1024)
      this.push(content.subarray(offset, end))
      offset = end
    }
  })
  return { stream, stalled }
}

const waitFor = async (what: string, cond: () => boolean) => {
  for (let i = 0; i < 400; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe("kill -9 of enigma proxy during a PUT", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let s3: S3Client
  const bytes = prng(9)
  /** Every object a PUT was acknowledged for, by bucket/key: what it must read back as. */
  const acked = new Map<string, Uint8Array>()
  /** Chunks that interrupted uploads stored but no object references (gc must reclaim them). */
  let orphans = 0

  const put = async (key: string, body: Uint8Array) => {
    const r = await s3.send(new PutObjectCommand({ Bucket: "crash", Key: key, Body: body }))
    assert.strictEqual(r.ETag, `"${md5(body)}"`)
    acked.set(key, body)
  }
  const read = async (key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "crash", Key: key }))).Body!.transformToByteArray())
  const listed = async () => {
    const out = new Map<string, { size: number; etag: string }>()
    let token: string | undefined
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: "crash", ContinuationToken: token }))
      for (const c of page.Contents ?? []) out.set(c.Key!, { size: c.Size!, etag: c.ETag! })
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    return out
  }
  /** Every acknowledged object reads back byte for byte, and the listing is exactly them. */
  const assertAckedIntact = async () => {
    for (const [key, body] of acked) {
      const got = await read(key)
      assert.strictEqual(sha256(got), sha256(body), key)
      const head = await s3.send(new HeadObjectCommand({ Bucket: "crash", Key: key }))
      assert.strictEqual(head.ContentLength, body.length, key)
      assert.strictEqual(head.ETag, `"${md5(body)}"`, key)
    }
    const list = await listed()
    assert.deepStrictEqual([...list.keys()].sort(), [...acked.keys()].sort())
    for (const [key, body] of acked) assert.deepStrictEqual(list.get(key), { size: body.length, etag: `"${md5(body)}"` }, key)
  }
  const restart = async () => {
    s3.destroy()
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
  }

  /**
   * Starts a PUT of `content` that stalls after `sent` bytes, waits until the proxy has stored
   * some of its chunks, runs `during`, then kills the proxy with SIGKILL; the PUT must fail.
   */
  const interruptedPut = async (key: string, content: Uint8Array, sent: number, checksums: ChecksumMode, during: () => Promise<void>) => {
    const before = chunkFiles(repo.dir).length
    const uploader = client(port, checksums)
    const { stream, stalled } = stalledBody(content, sent)
    const outcome = uploader.send(new PutObjectCommand({ Bucket: "crash", Key: key, Body: stream, ContentLength: content.length }))
      .then(() => "acknowledged", (e: Error) => `failed: ${e.name}: ${e.message}`)
    // A PUT that ends before the kill (rejected at once, say) fails the test with its own error.
    const endedEarly = outcome.then((r) => Promise.reject(new Error(`the PUT ended before the proxy was killed: ${r}`)))
    endedEarly.catch(() => {})
    await Promise.race([
      stalled.then(() => waitFor("the interrupted upload's first chunks to be stored", () => chunkFiles(repo.dir).length > before)),
      endedEarly
    ])
    await during()
    const stored = chunkFiles(repo.dir).length - before
    await killProxy(proxy.child)
    const result = await outcome
    assert.match(result, /^failed/, "a PUT whose body never ended cannot have been acknowledged")
    stream.destroy()
    uploader.destroy()
    // Nothing appends chunk files once the proxy is dead.
    orphans += chunkFiles(repo.dir).length - before
    assert.isAtLeast(chunkFiles(repo.dir).length - before, stored)
  }

  beforeAll(async () => {
    repo = initRepo([], smallChunks)
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    await s3.send(new CreateBucketCommand({ Bucket: "crash" }))
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    if (proxy) await stopProxy(proxy.child)
  })

  for (const checksums of ["WHEN_REQUIRED", "WHEN_SUPPORTED"] as const) {
    const mode = checksums === "WHEN_REQUIRED" ? "a plain streamed body" : "an aws-chunked body with a CRC32 trailer (the SDK default)"
    it(`of a new key (${mode}): absent during and after; the objects acknowledged before are intact`, async () => {
      const prefix = checksums === "WHEN_REQUIRED" ? "plain" : "chunked"
      // Acknowledged just before the crash: a tiny one, a multi-chunk one, and an empty one.
      await put(`${prefix}/tiny`, Buffer.from("acknowledged before the crash\n"))
      await put(`${prefix}/multi`, bytes(5 * 1024 * 1024 + 17))
      await put(`${prefix}/empty`, new Uint8Array(0))
      const key = `${prefix}/interrupted`
      const content = bytes(16 * 1024 * 1024)
      await interruptedPut(key, content, 4 * 1024 * 1024, checksums, async () => {
        // While its chunks are being stored, nobody sees the object.
        assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "crash", Key: key }))), { code: "NotFound", status: 404 })
        assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "crash", Key: key }))), { code: "NoSuchKey", status: 404 })
        assert.isFalse((await listed()).has(key))
      })

      await restart()
      assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "crash", Key: key }))), { code: "NotFound", status: 404 })
      assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "crash", Key: key }))), { code: "NoSuchKey", status: 404 })
      await assertAckedIntact()
      // The key is not stuck: a complete PUT of it succeeds and reads back whole. (Other bytes than
      // the interrupted body's, whose stored chunks would be deduplicated into it and stop being garbage.)
      const retry = bytes(1024 * 1024 + 3)
      await put(key, retry)
      assert.strictEqual(sha256(await read(key)), sha256(retry))
    }, 180_000)
  }

  it("of an overwrite: the previous version stays visible and whole, during and after", async () => {
    const key = "victim"
    const previous = bytes(3 * 1024 * 1024 + 5)
    await put(key, previous)
    const replacement = bytes(16 * 1024 * 1024)
    const seesPrevious = async () => {
      assert.strictEqual(sha256(await read(key)), sha256(previous))
      const head = await s3.send(new HeadObjectCommand({ Bucket: "crash", Key: key }))
      assert.strictEqual(head.ContentLength, previous.length)
      assert.strictEqual(head.ETag, `"${md5(previous)}"`)
      assert.deepStrictEqual((await listed()).get(key), { size: previous.length, etag: `"${md5(previous)}"` })
    }
    await interruptedPut(key, replacement, 5 * 1024 * 1024, "WHEN_REQUIRED", seesPrevious)
    await restart()
    await seesPrevious()
    await assertAckedIntact()
  }, 180_000)

  it("after the crashes, gc reclaims exactly the interrupted uploads' chunks and every acknowledged object survives", async () => {
    assert.isAbove(orphans, 0)
    s3.destroy()
    assert.strictEqual(await stopProxy(proxy.child), 130, proxy.output())
    const before = chunkFiles(repo.dir).length
    const gc = json(enigma([...repo.g, "gc", "--json"]))
    // Whether the manifest recorded them before the kill (unreferenced chunks) or not (orphaned objects).
    assert.strictEqual(gc.deletedChunks.length + gc.orphanObjects.length, orphans, JSON.stringify(gc))
    assert.strictEqual(chunkFiles(repo.dir).length, before - orphans)
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    await assertAckedIntact()
  }, 180_000)
})
