import { assert, describe, it } from "@effect/vitest"
import { createCipheriv, createHash } from "node:crypto"
import { request } from "node:http"
import { Readable } from "node:stream"
import { afterAll, beforeAll } from "vitest"
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { enigma, initRepo, json } from "../support/cli.ts"
import { chunkFiles, gatewayClient as s3Client, rawRequest, recoverBeside, s3Failure as failure, signedHeaders, startProxy, stopProxy } from "../support/gateway.ts"
import { freePort } from "../support/server.ts"

/** Small content-defined chunks, so a few MiB make many chunks. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 262144\n"
const MiB = 1024 * 1024

/** Deterministic bytes (an AES-CTR keystream of a seed): fast, and the same on every call. */
const keystream = (seed: number) => {
  const key = createHash("sha256").update(`seed ${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16))
  return (n: number) => cipher.update(Buffer.alloc(n))
}
const data = (seed: number, n: number) => keystream(seed)(n)
/** `total` bytes of seed's stream in 1 MiB blocks, generated as they are read. */
const streamOf = (seed: number, total: number) =>
  Readable.from((function*() {
    const next = keystream(seed)
    for (let sent = 0; sent < total; sent += MiB) yield next(Math.min(MiB, total - sent))
  })())

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex")
const multipartEtag = (parts: ReadonlyArray<Uint8Array>) =>
  `"${createHash("md5").update(Buffer.concat(parts.map((p) => createHash("md5").update(p).digest()))).digest("hex")}-${parts.length}"`

const readAll = async (s3: S3Client, Bucket: string, Key: string) =>
  Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray())

describe("enigma proxy: multipart uploads", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let s3: S3Client

  /** Runs `enigma gc` with the proxy stopped (it holds the repository lock), then restarts it. */
  const gcBetweenRestarts = async () => {
    s3.destroy()
    await stopProxy(proxy.child)
    const report = json(enigma([...repo.g, "gc", "--json"]))
    proxy = await startProxy(repo.g, port)
    s3 = s3Client(port)
    return report as { deletedChunks: Array<{ id: string }> }
  }
  const start = async (Bucket: string, Key: string) =>
    (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!
  const part = async (Bucket: string, Key: string, UploadId: string, PartNumber: number, Body: Uint8Array) =>
    (await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body }))).ETag!

  beforeAll(async () => {
    repo = initRepo([], smallChunks)
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = s3Client(port)
    await s3.send(new CreateBucketCommand({ Bucket: "mpu" }))
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    if (proxy) await stopProxy(proxy.child)
  })

  it("uploads 100 MiB through lib-storage (6 MiB parts, 4 at a time) and reads it back byte-identical", async () => {
    const total = 100 * MiB + 12345
    const partSize = 6 * MiB
    const upload = new Upload({
      client: s3,
      params: { Bucket: "mpu", Key: "big/100m.bin", Body: streamOf(7, total), ContentType: "application/x-test", Metadata: { origin: "lib-storage" } },
      partSize,
      queueSize: 4,
      leavePartsOnError: true
    })
    const done = await upload.done()
    // The expected ETag and hash, from the same stream generated again part by part.
    const next = keystream(7)
    const partMd5s: Array<Buffer> = []
    const whole = createHash("sha256")
    for (let sent = 0; sent < total; sent += partSize) {
      const p = next(Math.min(partSize, total - sent))
      partMd5s.push(createHash("md5").update(p).digest())
      whole.update(p)
    }
    const expectedEtag = `"${createHash("md5").update(Buffer.concat(partMd5s)).digest("hex")}-${partMd5s.length}"`
    assert.strictEqual(done.ETag, expectedEtag)

    const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu", Key: "big/100m.bin" }))
    assert.strictEqual(head.ContentLength, total)
    assert.strictEqual(head.ETag, expectedEtag)
    assert.strictEqual(head.ContentType, "application/x-test")
    assert.deepStrictEqual(head.Metadata, { origin: "lib-storage" })
    const got = await s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "big/100m.bin" }))
    const readBack = createHash("sha256")
    let size = 0
    for await (const block of got.Body as AsyncIterable<Uint8Array>) {
      readBack.update(block)
      size += block.length
    }
    assert.strictEqual(size, total)
    assert.strictEqual(readBack.digest("hex"), whole.digest("hex"))
    // The upload is gone once completed.
    assert.deepStrictEqual((await s3.send(new ListMultipartUploadsCommand({ Bucket: "mpu" }))).Uploads ?? [], [])
  }, 300_000)

  it("keeps Content-Type, the standard headers and metadata from creation; a re-uploaded part replaces the earlier one; the key is invisible until Complete", async () => {
    const created = await s3.send(new CreateMultipartUploadCommand({
      Bucket: "mpu",
      Key: "meta/ü.bin",
      ContentType: "text/x-parts; charset=utf-8",
      ContentDisposition: "attachment; filename=parts.bin",
      CacheControl: "max-age=60",
      Metadata: { author: "ada", note: "parts & pieces" }
    }))
    const UploadId = created.UploadId!
    assert.strictEqual(created.Key, "meta/ü.bin")
    const first = data(11, 5 * MiB)
    const replaced = data(12, 5 * MiB + 1)
    const last = data(13, 100)
    const e1 = await part("mpu", "meta/ü.bin", UploadId, 1, first)
    assert.strictEqual(e1, `"${md5(first)}"`)
    const e1b = await part("mpu", "meta/ü.bin", UploadId, 1, replaced)
    const e2 = await part("mpu", "meta/ü.bin", UploadId, 2, last)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "mpu", Key: "meta/ü.bin" }))), { code: "NotFound", status: 404 })
    assert.isFalse(((await s3.send(new ListObjectsV2Command({ Bucket: "mpu", Prefix: "meta/" }))).Contents ?? []).length > 0)
    const listed = await s3.send(new ListPartsCommand({ Bucket: "mpu", Key: "meta/ü.bin", UploadId }))
    assert.deepStrictEqual(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]), [[1, e1b, replaced.length], [2, e2, 100]])
    // The first version of part 1 is no longer an acceptable ETag.
    assert.deepStrictEqual(await failure(s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key: "meta/ü.bin", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] }
    }))), { code: "InvalidPart", status: 400 })
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key: "meta/ü.bin", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1b }, { PartNumber: 2, ETag: e2 }] }
    }))
    assert.strictEqual(done.ETag, multipartEtag([replaced, last]))
    assert.strictEqual(done.Key, "meta/ü.bin")
    const got = await s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "meta/ü.bin" }))
    assert.strictEqual(got.ContentType, "text/x-parts; charset=utf-8")
    assert.strictEqual(got.ContentDisposition, "attachment; filename=parts.bin")
    assert.strictEqual(got.CacheControl, "max-age=60")
    assert.deepStrictEqual(got.Metadata, { author: "ada", note: "parts & pieces" })
    assert.isTrue(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat([replaced, last])))
    assert.deepStrictEqual(await failure(s3.send(new ListPartsCommand({ Bucket: "mpu", Key: "meta/ü.bin", UploadId }))), { code: "NoSuchUpload", status: 404 })
  }, 120_000)

  it("GetObject and HeadObject with PartNumber read one part, as S3 does (multipart, single PUT, bad numbers)", async () => {
    const parts = [data(31, 5 * MiB), data(32, 5 * MiB + 3), data(33, 1000)]
    const UploadId = await start("mpu", "parts/three")
    const etags: Array<string> = []
    for (const [i, p] of parts.entries()) etags.push(await part("mpu", "parts/three", UploadId, i + 1, p))
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key: "parts/three", UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) }
    }))
    const total = parts.reduce((a, p) => a + p.length, 0)
    let offset = 0
    for (const [i, p] of parts.entries()) {
      const got = await s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "parts/three", PartNumber: i + 1 }))
      assert.strictEqual(got.$metadata.httpStatusCode, 206)
      assert.strictEqual(got.PartsCount, 3)
      assert.strictEqual(got.ContentRange, `bytes ${offset}-${offset + p.length - 1}/${total}`)
      assert.isTrue(Buffer.from(await got.Body!.transformToByteArray()).equals(p), `part ${i + 1}`)
      const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu", Key: "parts/three", PartNumber: i + 1 }))
      assert.strictEqual(head.ContentLength, p.length)
      assert.strictEqual(head.PartsCount, 3)
      offset += p.length
    }
    assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "parts/three", PartNumber: 4 }))), { code: "InvalidPartNumber", status: 416 })
    assert.deepStrictEqual(
      await failure(s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "parts/three", PartNumber: 1, Range: "bytes=0-9" }))),
      { code: "InvalidRequest", status: 400 }
    )
    // A single PUT is its own part 1 and has no part 2; no parts count is given.
    const single = data(34, 300_000)
    await s3.send(new PutObjectCommand({ Bucket: "mpu", Key: "parts/single", Body: single }))
    const whole = await s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "parts/single", PartNumber: 1 }))
    assert.strictEqual(whole.PartsCount, undefined)
    assert.strictEqual(whole.ContentRange, `bytes 0-${single.length - 1}/${single.length}`)
    assert.isTrue(Buffer.from(await whole.Body!.transformToByteArray()).equals(single))
    assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "mpu", Key: "parts/single", PartNumber: 2 }))), { code: "InvalidPartNumber", status: 416 })
    // Out of 1–10000 (the SDK would refuse to send these, so they go by hand).
    for (const bad of ["0", "10001", "x"]) {
      const r = await rawRequest(port, "GET", `/mpu/parts/three?partNumber=${bad}`, Buffer.alloc(0))
      assert.strictEqual(r.status, 400, bad)
      assert.match(r.text, /<Code>InvalidArgument<\/Code>/)
    }
  }, 120_000)

  it("UploadPartCopy references the source's chunks (no new chunk stored), with and without a range; a small (inline) source becomes the part's own chunk", async () => {
    const source = data(21, 9 * MiB + 777)
    await s3.send(new PutObjectCommand({ Bucket: "mpu", Key: "copy/source", Body: source }))
    const small = Buffer.from("the tail of the copy, from a small object")
    await s3.send(new PutObjectCommand({ Bucket: "mpu", Key: "copy/small", Body: small }))
    const UploadId = await start("mpu", "copy/target")
    const before = chunkFiles(repo.dir).length
    const from = 1 * MiB + 5
    const to = from + 5 * MiB + 4242
    const c1 = await s3.send(new UploadPartCopyCommand({
      Bucket: "mpu", Key: "copy/target", UploadId, PartNumber: 1, CopySource: "mpu/copy/source", CopySourceRange: `bytes=${from}-${to}`
    }))
    assert.strictEqual(c1.CopyPartResult?.ETag, `"${md5(source.subarray(from, to + 1))}"`)
    const c2 = await s3.send(new UploadPartCopyCommand({ Bucket: "mpu", Key: "copy/target", UploadId, PartNumber: 2, CopySource: "/mpu/copy/small" }))
    assert.strictEqual(c2.CopyPartResult?.ETag, `"${md5(small)}"`)
    // The range of the large source is referenced; the small source had no chunk, now its part has one.
    assert.strictEqual(chunkFiles(repo.dir).length, before + 1)
    const listed = await s3.send(new ListPartsCommand({ Bucket: "mpu", Key: "copy/target", UploadId }))
    assert.deepStrictEqual(listed.Parts?.map((p) => p.Size), [to - from + 1, small.length])
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key: "copy/target", UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult!.ETag! }, { PartNumber: 2, ETag: c2.CopyPartResult!.ETag! }] }
    }))
    assert.strictEqual(done.ETag, multipartEtag([source.subarray(from, to + 1), small]))
    assert.strictEqual(chunkFiles(repo.dir).length, before + 1)
    assert.isTrue((await readAll(s3, "mpu", "copy/target")).equals(Buffer.concat([source.subarray(from, to + 1), small])))

    const other = await start("mpu", "copy/bad")
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCopyCommand({
      Bucket: "mpu", Key: "copy/bad", UploadId: other, PartNumber: 1, CopySource: "mpu/copy/source", CopySourceRange: `bytes=0-${source.length}`
    }))), { code: "InvalidArgument", status: 400 })
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCopyCommand({
      Bucket: "mpu", Key: "copy/bad", UploadId: other, PartNumber: 1, CopySource: "mpu/copy/source", CopySourceRange: "bytes=10-"
    }))), { code: "InvalidArgument", status: 400 })
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCopyCommand({
      Bucket: "mpu", Key: "copy/bad", UploadId: other, PartNumber: 1, CopySource: "mpu/copy/missing"
    }))), { code: "NoSuchKey", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCopyCommand({
      Bucket: "mpu", Key: "copy/bad", UploadId: "nope", PartNumber: 1, CopySource: "mpu/copy/source"
    }))), { code: "NoSuchUpload", status: 404 })
    // x-amz-copy-source-if-*: If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
    const copyIf = (conditions: Partial<{ CopySourceIfMatch: string; CopySourceIfNoneMatch: string; CopySourceIfModifiedSince: Date; CopySourceIfUnmodifiedSince: Date }>) =>
      s3.send(new UploadPartCopyCommand({ Bucket: "mpu", Key: "copy/bad", UploadId: other, PartNumber: 1, CopySource: "mpu/copy/small", ...conditions }))
    const smallEtag = `"${md5(small)}"`
    const past = new Date(Date.now() - 3_600_000)
    const future = new Date(Date.now() + 3_600_000)
    assert.deepStrictEqual(await failure(copyIf({ CopySourceIfMatch: `"${md5(Buffer.from("other"))}"` })), { code: "PreconditionFailed", status: 412 })
    assert.deepStrictEqual(await failure(copyIf({ CopySourceIfNoneMatch: smallEtag })), { code: "PreconditionFailed", status: 412 })
    assert.deepStrictEqual(await failure(copyIf({ CopySourceIfModifiedSince: future })), { code: "PreconditionFailed", status: 412 })
    assert.deepStrictEqual(await failure(copyIf({ CopySourceIfUnmodifiedSince: past })), { code: "PreconditionFailed", status: 412 })
    assert.strictEqual((await copyIf({ CopySourceIfMatch: smallEtag, CopySourceIfUnmodifiedSince: past })).CopyPartResult?.ETag, smallEtag)
    assert.strictEqual((await copyIf({ CopySourceIfNoneMatch: `"${md5(Buffer.from("other"))}"`, CopySourceIfModifiedSince: future })).CopyPartResult?.ETag, smallEtag)
    assert.strictEqual((await copyIf({ CopySourceIfModifiedSince: past, CopySourceIfUnmodifiedSince: future })).CopyPartResult?.ETag, smallEtag)
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key: "copy/bad", UploadId: other }))
  }, 120_000)

  it("answers each error with its S3 code", async () => {
    const Key = "errors/obj"
    const UploadId = await start("mpu", Key)
    const small = data(31, MiB)
    const big = data(32, 5 * MiB)
    const e1 = await part("mpu", Key, UploadId, 1, small)
    const e2 = await part("mpu", Key, UploadId, 2, big)
    const e3 = await part("mpu", Key, UploadId, 3, Buffer.from("tail"))

    for (const PartNumber of [0, 10001]) {
      assert.deepStrictEqual(await failure(s3.send(new UploadPartCommand({ Bucket: "mpu", Key, UploadId, PartNumber, Body: "x" }))), { code: "InvalidArgument", status: 400 })
    }
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCommand({ Bucket: "mpu", Key, UploadId: "no-such-upload", PartNumber: 1, Body: "x" }))), { code: "NoSuchUpload", status: 404 })
    // An upload id is bound to its key.
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCommand({ Bucket: "mpu", Key: "errors/other", UploadId, PartNumber: 1, Body: "x" }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId: "no-such-upload" }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key, UploadId: "no-such-upload" }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new CreateMultipartUploadCommand({ Bucket: "no-such-bucket", Key }))), { code: "NoSuchBucket", status: 404 })

    const complete = (Parts: Array<{ PartNumber: number; ETag: string }>, id = UploadId) =>
      failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu", Key, UploadId: id, MultipartUpload: { Parts } })))
    assert.deepStrictEqual(await complete([{ PartNumber: 2, ETag: e2 }], "no-such-upload"), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 4, ETag: e3 }]), { code: "InvalidPart", status: 400 })
    assert.deepStrictEqual(await complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: `"${md5(Buffer.from("other"))}"` }]), { code: "InvalidPart", status: 400 })
    assert.deepStrictEqual(await complete([{ PartNumber: 3, ETag: e3 }, { PartNumber: 2, ETag: e2 }]), { code: "InvalidPartOrder", status: 400 })
    assert.deepStrictEqual(await complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 2, ETag: e2 }]), { code: "InvalidPartOrder", status: 400 })
    assert.deepStrictEqual(await complete([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }]), { code: "EntityTooSmall", status: 400 })
    assert.deepStrictEqual(await complete([]), { code: "MalformedXML", status: 400 })
    const q = `?uploadId=${UploadId}`
    for (const body of ["<CompleteMultipartUpload><Part><PartNumber>2</PartNumber>", "<Other/>", "<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>"]) {
      const r = await rawRequest(port, "POST", `/mpu/${Key}${q}`, Buffer.from(body))
      assert.strictEqual(r.status, 400, body)
      assert.include(r.text, "<Code>MalformedXML</Code>")
    }
    // A part whose body does not match its Content-MD5 is refused and not recorded.
    const badMd5 = await rawRequest(port, "PUT", `/mpu/${Key}?partNumber=4&uploadId=${UploadId}`, Buffer.from("four"), {
      "content-md5": createHash("md5").update("five").digest("base64")
    })
    assert.strictEqual(badMd5.status, 400)
    assert.include(badMd5.text, "<Code>BadDigest</Code>")
    assert.deepStrictEqual((await s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId }))).Parts?.map((x) => x.PartNumber), [1, 2, 3])
    const partNumberText = await rawRequest(port, "PUT", `/mpu/${Key}?partNumber=one&uploadId=${UploadId}`, Buffer.from("x"))
    assert.strictEqual(partNumberText.status, 400)
    assert.include(partNumberText.text, "<Code>InvalidArgument</Code>")
    // None of the failures changed the upload: the last part alone may be small.
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "mpu", Key }))), { code: "NotFound", status: 404 })
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }] }
    }))
    assert.strictEqual(done.ETag, multipartEtag([big, Buffer.from("tail")]))
    assert.isTrue((await readAll(s3, "mpu", Key)).equals(Buffer.concat([big, Buffer.from("tail")])))
    assert.deepStrictEqual(await complete([{ PartNumber: 2, ETag: e2 }]), { code: "NoSuchUpload", status: 404 })

    const aborted = await start("mpu", Key)
    await part("mpu", Key, aborted, 1, Buffer.from("abandoned"))
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key, UploadId: aborted }))
    assert.deepStrictEqual(await failure(s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId: aborted }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new UploadPartCommand({ Bucket: "mpu", Key, UploadId: aborted, PartNumber: 2, Body: "x" }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key, UploadId: aborted }))), { code: "NoSuchUpload", status: 404 })
    // The completed object is untouched by the aborted upload of the same key.
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "mpu", Key }))).ETag, done.ETag)
  }, 120_000)

  it("pages ListParts with max-parts and part-number-marker", async () => {
    const Key = "pages/parts"
    const UploadId = await start("mpu", Key)
    const etags = []
    for (let n = 1; n <= 5; n++) etags.push(await part("mpu", Key, UploadId, n * 2, Buffer.from(`part ${n}`)))
    const seen: Array<number> = []
    let marker: string | undefined
    let pages = 0
    for (;;) {
      const page = await s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId, MaxParts: 2, PartNumberMarker: marker }))
      assert.strictEqual(page.MaxParts, 2)
      assert.isAtMost(page.Parts?.length ?? 0, 2)
      seen.push(...(page.Parts ?? []).map((p) => p.PartNumber!))
      pages++
      if (!page.IsTruncated) break
      marker = page.NextPartNumberMarker
      assert.strictEqual(marker, String(seen[seen.length - 1]))
    }
    assert.deepStrictEqual(seen, [2, 4, 6, 8, 10])
    assert.strictEqual(pages, 3)
    const tail = await s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId, PartNumberMarker: "6" }))
    assert.deepStrictEqual(tail.Parts?.map((p) => [p.PartNumber, p.ETag]), [[8, etags[3]], [10, etags[4]]])
    assert.isFalse(tail.IsTruncated)
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key, UploadId }))
  }, 60_000)

  it("pages ListMultipartUploads with prefix, delimiter, key-marker, upload-id-marker and max-uploads", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "uploads" }))
    const keys = ["a/1", "a/2", "a/2", "a/b/3", "b", "c/d/e", "c/f"]
    const ids: Array<string> = []
    for (const k of keys) ids.push(await start("uploads", k))
    const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads" }))
    assert.deepStrictEqual(all.Uploads?.map((u) => [u.Key, u.UploadId]), keys.map((k, i) => [k, ids[i]]))
    assert.isFalse(all.IsTruncated)

    // Pages of two: every upload once, in order, including two uploads of one key split across pages.
    const seen: Array<[string, string]> = []
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    let pages = 0
    for (;;) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", MaxUploads: 2, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }))
      assert.isAtMost(page.Uploads?.length ?? 0, 2)
      seen.push(...(page.Uploads ?? []).map((u) => [u.Key!, u.UploadId!] as [string, string]))
      pages++
      if (!page.IsTruncated) break
      keyMarker = page.NextKeyMarker
      uploadIdMarker = page.NextUploadIdMarker
    }
    assert.deepStrictEqual(seen, keys.map((k, i) => [k, ids[i]!]))
    assert.strictEqual(pages, 4)

    const top = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Delimiter: "/" }))
    assert.deepStrictEqual(top.Uploads?.map((u) => u.Key), ["b"])
    assert.deepStrictEqual(top.CommonPrefixes?.map((c) => c.Prefix), ["a/", "c/"])
    const inA = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Prefix: "a/", Delimiter: "/" }))
    assert.deepStrictEqual(inA.Uploads?.map((u) => u.Key), ["a/1", "a/2", "a/2"])
    assert.deepStrictEqual(inA.CommonPrefixes?.map((c) => c.Prefix), ["a/b/"])
    // A page that ends on a common prefix continues after everything under it.
    const p1 = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Delimiter: "/", MaxUploads: 1 }))
    assert.deepStrictEqual(p1.CommonPrefixes?.map((c) => c.Prefix), ["a/"])
    assert.isTrue(p1.IsTruncated)
    const p2 = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Delimiter: "/", MaxUploads: 1, KeyMarker: p1.NextKeyMarker, UploadIdMarker: p1.NextUploadIdMarker }))
    assert.deepStrictEqual(p2.Uploads?.map((u) => u.Key), ["b"])
    // key-marker alone skips every upload of that key; with upload-id-marker, only the earlier ones.
    const afterKey = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", KeyMarker: "a/2" }))
    assert.deepStrictEqual(afterKey.Uploads?.map((u) => u.Key), ["a/b/3", "b", "c/d/e", "c/f"])
    const afterId = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", KeyMarker: "a/2", UploadIdMarker: ids[1] }))
    assert.deepStrictEqual(afterId.Uploads?.map((u) => u.UploadId), ids.slice(2))
    const prefixed = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Prefix: "c/" }))
    assert.deepStrictEqual(prefixed.Uploads?.map((u) => u.Key), ["c/d/e", "c/f"])
    assert.deepStrictEqual(await failure(s3.send(new ListMultipartUploadsCommand({ Bucket: "no-such-bucket" }))), { code: "NoSuchBucket", status: 404 })
  }, 60_000)

  it("stores a second identical multipart upload without new chunks", async () => {
    const parts = [data(41, 5 * MiB), data(42, 2 * MiB + 3)]
    const upload = async (Key: string) => {
      const UploadId = await start("mpu", Key)
      const etags = []
      for (let i = 0; i < parts.length; i++) etags.push(await part("mpu", Key, UploadId, i + 1, parts[i]!))
      return (await s3.send(new CompleteMultipartUploadCommand({
        Bucket: "mpu", Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) }
      }))).ETag
    }
    const before = chunkFiles(repo.dir).length
    const first = await upload("dedup/1")
    const afterFirst = chunkFiles(repo.dir).length
    assert.isAbove(afterFirst, before)
    const second = await upload("dedup/2")
    assert.strictEqual(chunkFiles(repo.dir).length, afterFirst)
    assert.strictEqual(second, first)
    assert.isTrue((await readAll(s3, "mpu", "dedup/2")).equals(Buffer.concat(parts)))
  }, 120_000)

  it("DeleteBucket with uploads in progress succeeds (as for S3 general-purpose buckets) and drops them", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "doomed" }))
    const UploadId = await start("doomed", "k")
    await part("doomed", "k", UploadId, 1, Buffer.from("left behind"))
    await s3.send(new DeleteBucketCommand({ Bucket: "doomed" }))
    assert.deepStrictEqual(await failure(s3.send(new ListPartsCommand({ Bucket: "doomed", Key: "k", UploadId }))), { code: "NoSuchBucket", status: 404 })
    await s3.send(new CreateBucketCommand({ Bucket: "doomed" }))
    assert.deepStrictEqual((await s3.send(new ListMultipartUploadsCommand({ Bucket: "doomed" }))).Uploads ?? [], [])
    assert.deepStrictEqual(await failure(s3.send(new ListPartsCommand({ Bucket: "doomed", Key: "k", UploadId }))), { code: "NoSuchUpload", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new CompleteMultipartUploadCommand({
      Bucket: "doomed", Key: "k", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${md5(Buffer.from("left behind"))}"` }] }
    }))), { code: "NoSuchUpload", status: 404 })
  }, 60_000)

  it("gc keeps the chunks of an upload in progress and reclaims aborted, replaced and unused parts and the object a Complete overwrote", async () => {
    // Everything unreferenced so far (the deleted bucket's part, …) goes first, so what follows is exact.
    await gcBetweenRestarts()
    const newChunks = async (f: () => Promise<unknown>) => {
      const before = new Set(chunkFiles(repo.dir))
      await f()
      const added = chunkFiles(repo.dir).filter((c) => !before.has(c))
      assert.isAbove(added.length, 0)
      return added
    }
    const present = (files: ReadonlyArray<string>) => {
      const now = new Set(chunkFiles(repo.dir))
      return files.filter((c) => now.has(c)).length
    }
    const Key = "gc/target"
    const old = await newChunks(() => s3.send(new PutObjectCommand({ Bucket: "mpu", Key, Body: data(51, 2 * MiB) })))
    const UploadId = await start("mpu", Key)
    const replaced = await newChunks(() => part("mpu", Key, UploadId, 1, data(52, 5 * MiB)))
    let e1 = ""
    const kept1 = await newChunks(async () => (e1 = await part("mpu", Key, UploadId, 1, data(53, 5 * MiB))))
    let e2 = ""
    const kept2 = await newChunks(async () => (e2 = await part("mpu", Key, UploadId, 2, data(54, MiB))))
    const unused = await newChunks(() => part("mpu", Key, UploadId, 3, data(55, MiB)))
    const abortedId = await start("mpu", "gc/aborted")
    const aborted = await newChunks(() => part("mpu", "gc/aborted", abortedId, 1, data(56, 3 * MiB)))

    // During the uploads gc reclaims only the replaced part.
    const during = await gcBetweenRestarts()
    assert.strictEqual(during.deletedChunks.length, replaced.length)
    assert.strictEqual(present(replaced), 0)
    for (const set of [old, kept1, kept2, unused, aborted]) assert.strictEqual(present(set), set.length)
    assert.deepStrictEqual((await s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId }))).Parts?.map((p) => p.PartNumber), [1, 2, 3])

    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu", Key: "gc/aborted", UploadId: abortedId }))
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] }
    }))
    const after = await gcBetweenRestarts()
    assert.strictEqual(after.deletedChunks.length, old.length + unused.length + aborted.length)
    for (const set of [old, unused, aborted]) assert.strictEqual(present(set), 0)
    for (const set of [kept1, kept2]) assert.strictEqual(present(set), set.length)
    assert.isTrue((await readAll(s3, "mpu", Key)).equals(Buffer.concat([data(53, 5 * MiB), data(54, MiB)])))
  }, 180_000)

  it("kill -9 during an UploadPart: acknowledged parts survive, the interrupted one is absent, and the upload completes", async () => {
    const Key = "crash/object"
    const UploadId = await start("mpu", Key)
    const p1 = data(61, 5 * MiB)
    const p2 = data(62, 5 * MiB)
    const p3 = data(63, 8 * MiB)
    const e1 = await part("mpu", Key, UploadId, 1, p1)
    const e2 = await part("mpu", Key, UploadId, 2, p2)

    // Part 3: 8 MiB announced, 3 MiB sent, then the proxy dies.
    const p = `/mpu/${Key}?partNumber=3&uploadId=${UploadId}`
    const headers = await signedHeaders(port, "PUT", p, { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": String(p3.length) })
    const before = chunkFiles(repo.dir).length
    const req = request({ host: "127.0.0.1", port, method: "PUT", path: p, headers })
    const outcome = new Promise<string>((resolve) => {
      req.on("error", (e) => resolve(`error: ${e.message}`))
      req.on("response", (res) => resolve(`status ${res.statusCode}`))
    })
    req.write(p3.subarray(0, 3 * MiB))
    for (let i = 0; i < 200 && chunkFiles(repo.dir).length === before; i++) await new Promise((r) => setTimeout(r, 50))
    assert.isAbove(chunkFiles(repo.dir).length, before)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "mpu", Key }))), { code: "NotFound", status: 404 })
    proxy.child.kill("SIGKILL")
    assert.match(await outcome, /^error/)
    await new Promise((r) => (proxy.child.exitCode !== null || proxy.child.signalCode !== null ? r(undefined) : proxy.child.once("exit", r)))
    s3.destroy()

    proxy = await startProxy(repo.g, port)
    s3 = s3Client(port)
    const listed = await s3.send(new ListPartsCommand({ Bucket: "mpu", Key, UploadId }))
    assert.deepStrictEqual(listed.Parts?.map((x) => [x.PartNumber, x.ETag]), [[1, e1], [2, e2]])
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "mpu", Key }))), { code: "NotFound", status: 404 })
    assert.isTrue(((await s3.send(new ListMultipartUploadsCommand({ Bucket: "mpu", Prefix: "crash/" }))).Uploads ?? []).some((u) => u.UploadId === UploadId))
    const e3 = await part("mpu", Key, UploadId, 3, p3)
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: "mpu", Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }] }
    }))
    assert.strictEqual(done.ETag, multipartEtag([p1, p2, p3]))
    assert.isTrue((await readAll(s3, "mpu", Key)).equals(Buffer.concat([p1, p2, p3])))
    // The retried part reused the chunks the interrupted one had stored (same bytes): gc after
    // the crash must take none of them.
    await gcBetweenRestarts()
    assert.isTrue((await readAll(s3, "mpu", Key)).equals(Buffer.concat([p1, p2, p3])))
  }, 180_000)

  it("recover rebuilds the same uploads, parts, objects and chunk references from the sealed log", async () => {
    // An upload left in progress, with a replaced part, must come back exactly as it is.
    const Key = "recover/in-progress"
    const UploadId = await start("mpu", Key)
    await part("mpu", Key, UploadId, 1, data(71, MiB))
    await part("mpu", Key, UploadId, 1, data(72, MiB))
    await part("mpu", Key, UploadId, 7, data(73, 1000))
    s3.destroy()
    await stopProxy(proxy.child)
    const { original, recovered } = recoverBeside(repo, {
      uploads: "SELECT * FROM multipart_uploads ORDER BY upload_id",
      parts: "SELECT * FROM multipart_parts ORDER BY upload_id, part_number",
      objects: "SELECT * FROM objects ORDER BY bucket, key",
      chunks: "SELECT id, refcount FROM chunks ORDER BY id"
    })
    assert.isAbove(original.uploads!.length, 5)
    const parts = original.parts as Array<{ upload_id: string; part_number: number; etag: string }>
    assert.deepStrictEqual(parts.filter((p) => p.upload_id === UploadId).map((p) => [p.part_number, p.etag]), [[1, md5(data(72, MiB))], [7, md5(data(73, 1000))]])
    assert.deepStrictEqual(recovered, original)
    proxy = await startProxy(repo.g, port)
    s3 = s3Client(port)
  }, 120_000)
})
