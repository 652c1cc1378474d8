import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Agent } from "node:http"
import type { LookupFunction } from "node:net"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, beforeAll } from "vitest"
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type ListObjectsCommandOutput,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketCorsCommand,
  GetBucketLocationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectTaggingCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import { SignatureV4 } from "@smithy/signature-v4"
import { enigma, initRepo, json, prng } from "../support/cli.ts"
import { NodeSha256 } from "../support/nodeSha256.ts"
import { freePort } from "../support/server.ts"
import { accessKey, chunkFiles, gatewayClient as client, s3Failure as failure, secretKey, startProxy as startSharedProxy, stopProxy } from "../support/gateway.ts"

/** Small content-defined chunks, so a MiB makes several chunks. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 262144\n"
const md5 = (b: Uint8Array | string) => createHash("md5").update(b).digest("hex")

/** The proxy of these tests also serves virtual-hosted-style requests. */
const startProxy = (g: ReadonlyArray<string>, port: number) =>
  startSharedProxy(g, port, ["--virtual-host", "s3.local", "--virtual-host", "localhost"])

/**
 * `b.localhost` and `b.s3.local` do not resolve on this machine (`getent hosts b.localhost` is
 * empty), so the virtual-hosted client connects through an agent whose DNS lookup answers
 * 127.0.0.1 for every name; the Host header, and the SigV4 signature over it, stay the real ones.
 */
const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all) (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }])
  else callback(null, "127.0.0.1", 4)
}
const virtualHostedClient = (port: number, domain: string) =>
  new S3Client({
    endpoint: `http://${domain}:${port}`,
    region: "us-east-1",
    forcePathStyle: false,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, lookup: loopbackLookup }) }
  })

/** A hand-signed request, for bodies and headers the SDK will not send. */
const rawRequest = async (
  port: number,
  method: string,
  p: string,
  query: Record<string, string>,
  body: Buffer,
  extra: Record<string, string> = {}
) => {
  const signer = new SignatureV4({ service: "s3", region: "us-east-1", credentials: { accessKeyId: accessKey, secretAccessKey: secretKey }, sha256: NodeSha256, uriEscapePath: false })
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path: p,
    query,
    headers: {
      host: `127.0.0.1:${port}`,
      "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
      ...(method === "GET" || method === "HEAD" ? {} : { "content-length": String(body.length) }),
      ...extra
    }
  })
  const qs = new URLSearchParams(query).toString().replace(/=(&|$)/g, "$1")
  const res = await fetch(`http://127.0.0.1:${port}${p}${qs ? `?${qs}` : ""}`, {
    method,
    headers: signed.headers as Record<string, string>,
    ...(method === "GET" || method === "HEAD" ? {} : { body })
  })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

const text = async (p: Promise<{ Body?: { transformToString(): Promise<string> } | undefined }>) => (await (await p).Body!).transformToString()

describe("enigma proxy: object and bucket operations", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let s3: S3Client
  const bytes = prng(7)

  beforeAll(async () => {
    repo = initRepo([], smallChunks)
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    await s3.send(new CreateBucketCommand({ Bucket: "ops" }))
    await s3.send(new CreateBucketCommand({ Bucket: "other" }))
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    if (proxy) await stopProxy(proxy.child)
  })

  it("PutObject keeps Content-Type/-Encoding/-Disposition/-Language, Cache-Control and Expires; GET and HEAD return them", async () => {
    const expires = new Date("2031-02-03T04:05:06Z")
    await s3.send(new PutObjectCommand({
      Bucket: "ops",
      Key: "kept.txt",
      Body: "kept headers",
      ContentType: "text/plain; charset=utf-8",
      ContentEncoding: "identity",
      ContentDisposition: "attachment; filename=\"kept.txt\"",
      CacheControl: "max-age=3600, public",
      ContentLanguage: "de-CH",
      Expires: expires,
      Metadata: { owner: "zoe" }
    }))
    for (const r of [
      await s3.send(new GetObjectCommand({ Bucket: "ops", Key: "kept.txt" })),
      await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "kept.txt" }))
    ]) {
      assert.strictEqual(r.ContentType, "text/plain; charset=utf-8")
      assert.strictEqual(r.ContentEncoding, "identity")
      assert.strictEqual(r.ContentDisposition, "attachment; filename=\"kept.txt\"")
      assert.strictEqual(r.CacheControl, "max-age=3600, public")
      assert.strictEqual(r.ContentLanguage, "de-CH")
      assert.strictEqual(r.Expires?.getTime(), expires.getTime())
      assert.deepStrictEqual(r.Metadata, { owner: "zoe" })
    }
    // An object stored without them sends none of them.
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "plain", Body: "plain" }))
    const plain = await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "plain" }))
    assert.isUndefined(plain.ContentEncoding)
    assert.isUndefined(plain.CacheControl)
    assert.isUndefined(plain.Expires)
  })

  it("response-* query parameters override the returned headers on GET and HEAD; a control character is InvalidArgument", async () => {
    const overrides = {
      ResponseContentType: "application/x-override",
      ResponseContentLanguage: "fr",
      ResponseExpires: new Date("2040-01-01T00:00:00Z"),
      ResponseCacheControl: "no-store",
      ResponseContentDisposition: "inline; filename=\"über.txt\"",
      ResponseContentEncoding: "gzip"
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: "ops", Key: "kept.txt", ...overrides }))
    const head = await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "kept.txt", ...overrides }))
    for (const r of [got, head]) {
      assert.strictEqual(r.ContentType, "application/x-override")
      assert.strictEqual(r.ContentLanguage, "fr")
      assert.strictEqual(r.Expires?.getTime(), overrides.ResponseExpires.getTime())
      assert.strictEqual(r.CacheControl, "no-store")
      assert.strictEqual(r.ContentEncoding, "gzip")
      // Header bytes are UTF-8; the SDK reads them as latin1, as any HTTP client does.
      assert.strictEqual(Buffer.from(r.ContentDisposition!, "latin1").toString("utf8"), "inline; filename=\"über.txt\"")
    }
    assert.strictEqual(await got.Body!.transformToString(), "kept headers")
    // Overrides change nothing stored.
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "kept.txt" }))).ContentType, "text/plain; charset=utf-8")
    assert.deepStrictEqual(
      await failure(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "kept.txt", ResponseContentType: "text/plain\nX-Injected: 1" }))),
      { code: "InvalidArgument", status: 400 }
    )
    // Overrides apply to a read by part too (a single PUT is its own part 1; multipart objects: gateway-multipart).
    const part = await s3.send(new GetObjectCommand({ Bucket: "ops", Key: "kept.txt", PartNumber: 1, ResponseContentType: "application/x-part" }))
    assert.strictEqual(part.ContentType, "application/x-part")
    assert.strictEqual(await part.Body!.transformToString(), "kept headers")
  })

  it("user metadata over 2 KB is MetadataTooLarge and stores nothing; exactly 2 KB is accepted", async () => {
    const value = (n: number) => "v".repeat(n)
    // name "big" (3 bytes) + value: 2048 bytes in all is the limit.
    const before = chunkFiles(repo.dir).length
    assert.deepStrictEqual(
      await failure(s3.send(new PutObjectCommand({ Bucket: "ops", Key: "meta-big", Body: bytes(64 * 1024), Metadata: { big: value(2046) } }))),
      { code: "MetadataTooLarge", status: 400 }
    )
    assert.deepStrictEqual(
      await failure(s3.send(new PutObjectCommand({ Bucket: "ops", Key: "meta-big", Body: "x", Metadata: { a: value(1000), b: value(1000), c: value(50) } }))),
      { code: "MetadataTooLarge", status: 400 }
    )
    assert.strictEqual(chunkFiles(repo.dir).length, before)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "meta-big" }))), { code: "NotFound", status: 404 })
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "meta-max", Body: "x", Metadata: { big: value(2045) } }))
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "meta-max" }))).Metadata?.big?.length, 2045)
  })

  it("GET/HEAD preconditions: If-Match/If-Unmodified-Since → 412, If-None-Match/If-Modified-Since → 304, with S3's precedence", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "cond", Body: "conditional" }))
    const head = await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "cond" }))
    const etag = put.ETag!
    const modified = head.LastModified!
    const past = new Date(modified.getTime() - 3600_000)
    const future = new Date(modified.getTime() + 3600_000)
    const get = (c: Partial<{ IfMatch: string; IfNoneMatch: string; IfModifiedSince: Date; IfUnmodifiedSince: Date }>) =>
      s3.send(new GetObjectCommand({ Bucket: "ops", Key: "cond", ...c }))
    const headWith = (c: Partial<{ IfMatch: string; IfNoneMatch: string; IfModifiedSince: Date; IfUnmodifiedSince: Date }>) =>
      s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "cond", ...c }))

    assert.strictEqual(await text(get({ IfMatch: etag })), "conditional")
    assert.strictEqual(await text(get({ IfMatch: `"nope", ${etag}` })), "conditional")
    assert.strictEqual(await text(get({ IfMatch: "*" })), "conditional")
    assert.deepStrictEqual(await failure(get({ IfMatch: "\"0123\"" })), { code: "PreconditionFailed", status: 412 })
    assert.strictEqual((await failure(headWith({ IfMatch: "\"0123\"" }))).status, 412)
    assert.deepStrictEqual(await failure(get({ IfUnmodifiedSince: past })), { code: "PreconditionFailed", status: 412 })
    assert.strictEqual(await text(get({ IfUnmodifiedSince: modified })), "conditional")

    // (A 304 has no body, so the SDK cannot name an error code: the status is what counts.)
    assert.strictEqual((await failure(get({ IfNoneMatch: etag }))).status, 304)
    assert.strictEqual((await failure(headWith({ IfNoneMatch: etag }))).status, 304)
    assert.strictEqual((await failure(get({ IfNoneMatch: "*" }))).status, 304)
    assert.strictEqual(await text(get({ IfNoneMatch: "\"other\"" })), "conditional")
    // Last-Modified has one-second precision: echoing it back means "not modified".
    assert.strictEqual((await failure(get({ IfModifiedSince: modified }))).status, 304)
    assert.strictEqual((await failure(headWith({ IfModifiedSince: future }))).status, 304)
    assert.strictEqual(await text(get({ IfModifiedSince: past })), "conditional")

    // Precedence: a true If-Match overrides a false If-Unmodified-Since…
    assert.strictEqual(await text(get({ IfMatch: etag, IfUnmodifiedSince: past })), "conditional")
    // …and a true If-None-Match overrides a false If-Modified-Since; a false one wins over a true one.
    assert.strictEqual(await text(get({ IfNoneMatch: "\"other\"", IfModifiedSince: future })), "conditional")
    assert.strictEqual((await failure(get({ IfNoneMatch: etag, IfModifiedSince: past }))).status, 304)
    // 412 before 304 when both fail.
    assert.deepStrictEqual(await failure(get({ IfMatch: "\"0123\"", IfNoneMatch: etag })), { code: "PreconditionFailed", status: 412 })
    // A 304 carries the validators and the caching headers, and no body.
    const kept = await rawRequest(port, "GET", "/ops/kept.txt", {}, Buffer.alloc(0), { "if-none-match": `"${md5("kept headers")}"` })
    assert.strictEqual(kept.status, 304)
    assert.strictEqual(kept.text, "")
    assert.strictEqual(kept.headers.get("etag"), `"${md5("kept headers")}"`)
    assert.strictEqual(kept.headers.get("cache-control"), "max-age=3600, public")
    assert.isNotNull(kept.headers.get("last-modified"))
    assert.isNull(kept.headers.get("content-language"))
    // A date that does not parse is ignored, as HTTP says.
    const raw = await rawRequest(port, "GET", "/ops/cond", {}, Buffer.alloc(0), { "if-modified-since": "not a date" })
    assert.strictEqual(raw.status, 200)
    assert.strictEqual(raw.text, "conditional")
  })

  it("conditional writes: If-None-Match: * creates only (one of many racing PUTs wins), If-Match replaces only that ETag; also on copy and multipart completion", async () => {
    const put = (Key: string, Body: string, extra: { IfNoneMatch?: string; IfMatch?: string } = {}) => s3.send(new PutObjectCommand({ Bucket: "ops", Key, Body, ...extra }))
    const first = await put("cond/lock", "holder one", { IfNoneMatch: "*" })
    assert.deepStrictEqual(await failure(put("cond/lock", "holder two", { IfNoneMatch: "*" })), { code: "PreconditionFailed", status: 412 })
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "cond/lock" }))), "holder one")
    // Twenty clients race to create one key: exactly one succeeds.
    const racing = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => put("cond/race", `client ${i}`, { IfNoneMatch: "*" })))
    assert.strictEqual(racing.filter((r) => r.status === "fulfilled").length, 1)
    const winner = racing.findIndex((r) => r.status === "fulfilled")
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "cond/race" }))), `client ${winner}`)
    // If-Match: only over the ETag named; a missing key is NoSuchKey.
    const second = await put("cond/lock", "holder one, renewed", { IfMatch: first.ETag! })
    assert.deepStrictEqual(await failure(put("cond/lock", "stale writer", { IfMatch: first.ETag! })), { code: "PreconditionFailed", status: 412 })
    assert.deepStrictEqual(await failure(put("cond/none", "x", { IfMatch: first.ETag! })), { code: "NoSuchKey", status: 404 })
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "cond/lock" }))).ETag, second.ETag)
    // If-None-Match on a write takes only *.
    const other = await rawRequest(port, "PUT", "/ops/cond/other", {}, Buffer.from("x"), { "if-none-match": "\"abc\"" })
    assert.strictEqual(other.status, 501)
    // CopyObject: the conditions are about the destination.
    const copy = (IfNoneMatch: string) => s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "cond/lock", CopySource: "ops/cond/race", IfNoneMatch }))
    assert.deepStrictEqual(await failure(copy("*")), { code: "PreconditionFailed", status: 412 })
    // CompleteMultipartUpload: refused over an existing key with If-None-Match: *; the upload stays, to complete without it.
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "ops", Key: "cond/lock" }))
    const part = await s3.send(new UploadPartCommand({ Bucket: "ops", Key: "cond/lock", UploadId, PartNumber: 1, Body: "multipart holder" }))
    const complete = (extra: { IfNoneMatch?: string }) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: "ops", Key: "cond/lock", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] }, ...extra }))
    assert.deepStrictEqual(await failure(complete({ IfNoneMatch: "*" })), { code: "PreconditionFailed", status: 412 })
    await complete({})
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "cond/lock" }))), "multipart holder")
  })

  it("object lock, SSE-C, SSE-KMS and storage classes other than STANDARD on a write are refused, not ignored (nothing stored); SSE-S3 (AES256) is what every object gets", async () => {
    const put = (Key: string, extra: Record<string, unknown>) => s3.send(new PutObjectCommand({ Bucket: "ops", Key, Body: "x", ...extra }))
    const customerKey = Buffer.alloc(32, 7).toString("base64")
    for (const [extra, expected] of [
      [{ ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000) }, { code: "InvalidRequest", status: 400 }],
      [{ ObjectLockLegalHoldStatus: "ON" }, { code: "InvalidRequest", status: 400 }],
      [{ SSECustomerAlgorithm: "AES256", SSECustomerKey: customerKey }, { code: "NotImplemented", status: 501 }],
      [{ ServerSideEncryption: "aws:kms" }, { code: "NotImplemented", status: 501 }],
      [{ StorageClass: "GLACIER" }, { code: "InvalidStorageClass", status: 400 }],
      [{ StorageClass: "STANDARD_IA" }, { code: "InvalidStorageClass", status: 400 }]
    ] as const) {
      assert.deepStrictEqual(await failure(put("refused/one", extra)), expected, JSON.stringify(extra))
    }
    assert.deepStrictEqual(await failure(s3.send(new CreateMultipartUploadCommand({ Bucket: "ops", Key: "refused/mp", ObjectLockLegalHoldStatus: "ON" }))), {
      code: "InvalidRequest",
      status: 400
    })
    assert.deepStrictEqual(await failure(s3.send(new CreateMultipartUploadCommand({ Bucket: "ops", Key: "refused/mp", StorageClass: "DEEP_ARCHIVE" }))), {
      code: "InvalidStorageClass",
      status: 400
    })
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "refused/one" }))), { code: "NotFound", status: 404 })
    await put("refused/sse-s3", { ServerSideEncryption: "AES256", StorageClass: "STANDARD" })
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "refused/sse-s3" }))), "x")
    // A copy "into" another class (how S3 users move an object to one) is refused the same way.
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "refused/cold", CopySource: "ops/refused/sse-s3", StorageClass: "GLACIER_IR" }))), {
      code: "InvalidStorageClass",
      status: 400
    })
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "refused/cold" }))), { code: "NotFound", status: 404 })
  })

  it("CopyObject shares the source's chunks, copies or replaces metadata, and answers CopyObjectResult", async () => {
    const data = bytes(1024 * 1024 + 7)
    const key = "dir/sp ace+plus ü.bin"
    const put = await s3.send(new PutObjectCommand({
      Bucket: "ops",
      Key: key,
      Body: data,
      ContentType: "application/x-src",
      CacheControl: "max-age=1",
      Metadata: { origin: "source" }
    }))
    const before = chunkFiles(repo.dir).length

    // COPY (the default): everything from the source; the request's own headers are ignored.
    const copied = await s3.send(new CopyObjectCommand({
      Bucket: "other",
      Key: "copy.bin",
      CopySource: `/ops/${encodeURIComponent(key)}`,
      ContentType: "ignored/with-copy",
      Metadata: { ignored: "yes" }
    }))
    assert.strictEqual(copied.CopyObjectResult?.ETag, put.ETag)
    assert.instanceOf(copied.CopyObjectResult?.LastModified, Date)
    const got = await s3.send(new GetObjectCommand({ Bucket: "other", Key: "copy.bin" }))
    assert.isTrue(Buffer.from(await got.Body!.transformToByteArray()).equals(data))
    assert.strictEqual(got.ContentType, "application/x-src")
    assert.strictEqual(got.CacheControl, "max-age=1")
    assert.deepStrictEqual(got.Metadata, { origin: "source" })
    assert.strictEqual(got.ETag, put.ETag)

    // REPLACE: the request's headers and metadata; the source's are dropped. Without a leading slash too.
    await s3.send(new CopyObjectCommand({
      Bucket: "ops",
      Key: "replaced.bin",
      CopySource: `ops/${encodeURIComponent(key)}`,
      MetadataDirective: "REPLACE",
      ContentType: "application/x-new",
      ContentLanguage: "en",
      Metadata: { origin: "replaced" }
    }))
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "replaced.bin" }))
    assert.strictEqual(replaced.ContentType, "application/x-new")
    assert.strictEqual(replaced.ContentLanguage, "en")
    assert.isUndefined(replaced.CacheControl)
    assert.deepStrictEqual(replaced.Metadata, { origin: "replaced" })
    assert.strictEqual(replaced.ContentLength, data.length)
    // No byte was uploaded again.
    assert.strictEqual(chunkFiles(repo.dir).length, before)

    // Onto itself: only with REPLACE.
    assert.deepStrictEqual(
      await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: key, CopySource: `ops/${encodeURIComponent(key)}` }))),
      { code: "InvalidRequest", status: 400 }
    )
    assert.deepStrictEqual(
      await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: key, CopySource: `ops/${encodeURIComponent(key)}`, MetadataDirective: "COPY" }))),
      { code: "InvalidRequest", status: 400 }
    )
    await s3.send(new CopyObjectCommand({ Bucket: "ops", Key: key, CopySource: `ops/${encodeURIComponent(key)}`, MetadataDirective: "REPLACE", Metadata: { origin: "self" } }))
    assert.deepStrictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: key }))).Metadata, { origin: "self" })

    // Missing source key or bucket, missing destination bucket.
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "ops/missing" }))), { code: "NoSuchKey", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "nobucket/k" }))), { code: "NoSuchBucket", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "nobucket", Key: "x", CopySource: "ops/plain" }))), { code: "NoSuchBucket", status: 404 })
    // A copy source that names no key, an unknown directive, a specific version.
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "ops" }))), { code: "InvalidArgument", status: 400 })
    assert.deepStrictEqual(
      await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "ops/plain", MetadataDirective: "MERGE" as "COPY" }))),
      { code: "InvalidArgument", status: 400 }
    )
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "ops/plain?versionId=3HL4kqtJlcpXroDTDmJ" }))), { code: "NotImplemented", status: 501 })
    await s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "x", CopySource: "ops/plain?versionId=null" }))
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "x" }))), "plain")
    // REPLACE metadata is held to the same 2 KB limit.
    assert.deepStrictEqual(
      await failure(s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "y", CopySource: "ops/plain", MetadataDirective: "REPLACE", Metadata: { m: "v".repeat(3000) } }))),
      { code: "MetadataTooLarge", status: 400 }
    )
  }, 60_000)

  it("CopyObject source preconditions (x-amz-copy-source-if-*) answer 412", async () => {
    const src = "ops/cond"
    const head = await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "cond" }))
    const etag = head.ETag!
    const past = new Date(head.LastModified!.getTime() - 3600_000)
    const future = new Date(head.LastModified!.getTime() + 3600_000)
    const copy = (c: Partial<{ CopySourceIfMatch: string; CopySourceIfNoneMatch: string; CopySourceIfModifiedSince: Date; CopySourceIfUnmodifiedSince: Date }>) =>
      s3.send(new CopyObjectCommand({ Bucket: "ops", Key: "cond-copy", CopySource: src, ...c }))
    const failed = { code: "PreconditionFailed", status: 412 }
    assert.deepStrictEqual(await failure(copy({ CopySourceIfMatch: "\"0123\"" })), failed)
    assert.deepStrictEqual(await failure(copy({ CopySourceIfNoneMatch: etag })), failed)
    assert.deepStrictEqual(await failure(copy({ CopySourceIfModifiedSince: future })), failed)
    assert.deepStrictEqual(await failure(copy({ CopySourceIfUnmodifiedSince: past })), failed)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "cond-copy" }))), { code: "NotFound", status: 404 })
    // True conditions (and If-Match winning over a false If-Unmodified-Since) copy.
    await copy({ CopySourceIfMatch: etag, CopySourceIfUnmodifiedSince: past })
    await copy({ CopySourceIfNoneMatch: "\"other\"", CopySourceIfModifiedSince: past })
    assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "cond-copy" }))), "conditional")
  })

  it("DeleteObjects deletes a batch (missing keys reported as Deleted), honours Quiet, and rejects malformed requests", async () => {
    const keys = ["del/a", "del/b", "del/c d", "del/ü+"]
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: "ops", Key, Body: Key }))
    const res = await s3.send(new DeleteObjectsCommand({
      Bucket: "ops",
      Delete: { Objects: [...keys.slice(0, 3), "del/never"].map((Key) => ({ Key })) }
    }))
    assert.deepStrictEqual(res.Deleted?.map((d) => d.Key).sort(), ["del/a", "del/b", "del/c d", "del/never"])
    assert.isUndefined(res.Errors)
    const left = await s3.send(new ListObjectsV2Command({ Bucket: "ops", Prefix: "del/" }))
    assert.deepStrictEqual(left.Contents?.map((c) => c.Key), ["del/ü+"])
    // The three deletions are one log append: consecutive events with one timestamp.
    const db = new DatabaseSync(path.join(repo.dir, "enigma.db"), { readOnly: true })
    try {
      const events = db.prepare("SELECT seq, at FROM events WHERE type = 'ObjectDeleted' ORDER BY seq").all() as Array<{ seq: number; at: number }>
      assert.strictEqual(events.length, 3)
      assert.deepStrictEqual(events.map((e) => Number(e.seq) - Number(events[0]!.seq)), [0, 1, 2])
      assert.strictEqual(new Set(events.map((e) => Number(e.at))).size, 1)
    } finally {
      db.close()
    }

    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: "ops", Delete: { Quiet: true, Objects: [{ Key: "del/ü+" }] } }))
    assert.isUndefined(quiet.Deleted)
    assert.isUndefined(quiet.Errors)
    assert.strictEqual((await s3.send(new ListObjectsV2Command({ Bucket: "ops", Prefix: "del/" }))).KeyCount, 0)

    // A version other than "null" cannot be deleted here: reported per key, the others still go.
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "del/v", Body: "v" }))
    const versioned = await s3.send(new DeleteObjectsCommand({ Bucket: "ops", Delete: { Objects: [{ Key: "del/v" }, { Key: "del/w", VersionId: "abc" }] } }))
    assert.deepStrictEqual(versioned.Deleted?.map((d) => d.Key), ["del/v"])
    assert.deepStrictEqual(versioned.Errors?.map((e) => [e.Key, e.Code]), [["del/w", "NotImplemented"]])

    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` }))
    assert.deepStrictEqual(await failure(s3.send(new DeleteObjectsCommand({ Bucket: "ops", Delete: { Objects: tooMany } }))), { code: "MalformedXML", status: 400 })
    assert.deepStrictEqual(
      await failure(s3.send(new DeleteObjectsCommand({ Bucket: "nobucket", Delete: { Objects: [{ Key: "a" }] } }))),
      { code: "NoSuchBucket", status: 404 }
    )

    const body = Buffer.from("<Delete><Object><Key>del/x</Key></Object></Delete>")
    const good = await rawRequest(port, "POST", "/ops", { delete: "" }, body, { "content-md5": createHash("md5").update(body).digest("base64") })
    assert.strictEqual(good.status, 200)
    assert.include(good.text, "<Deleted><Key>del/x</Key></Deleted>")
    const badMd5 = await rawRequest(port, "POST", "/ops", { delete: "" }, body, { "content-md5": createHash("md5").update("other").digest("base64") })
    assert.strictEqual(badMd5.status, 400)
    assert.include(badMd5.text, "<Code>BadDigest</Code>")
    const invalidMd5 = await rawRequest(port, "POST", "/ops", { delete: "" }, body, { "content-md5": "not-base64" })
    assert.strictEqual(invalidMd5.status, 400)
    assert.include(invalidMd5.text, "<Code>InvalidDigest</Code>")
    for (const malformed of ["<Delete><Object><Key>a</Key></Object>", "<Delete></Delete>", "<Remove><Object><Key>a</Key></Object></Remove>", "<Delete><Object></Object></Delete>", "<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>"]) {
      const r = await rawRequest(port, "POST", "/ops", { delete: "" }, Buffer.from(malformed))
      assert.strictEqual(r.status, 400, malformed)
      assert.include(r.text, "<Code>MalformedXML</Code>", malformed)
    }
  })

  it("ListObjects v1: prefix, delimiter, max-keys, marker paging; NextMarker only with a delimiter", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "list-v1" }))
    const keys = ["a/1", "a/2", "a/b/3", "b", "c/d", "e"]
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: "list-v1", Key, Body: Key }))

    const all = await s3.send(new ListObjectsCommand({ Bucket: "list-v1" }))
    assert.deepStrictEqual(all.Contents?.map((c) => c.Key), keys)
    assert.strictEqual(all.Contents?.[3]?.ETag, `"${md5("b")}"`)
    assert.strictEqual(all.Contents?.[3]?.Size, 1)
    assert.strictEqual(all.IsTruncated, false)
    assert.isUndefined(all.NextMarker)

    const dirs = await s3.send(new ListObjectsCommand({ Bucket: "list-v1", Prefix: "a/", Delimiter: "/" }))
    assert.deepStrictEqual(dirs.Contents?.map((c) => c.Key), ["a/1", "a/2"])
    assert.deepStrictEqual(dirs.CommonPrefixes?.map((c) => c.Prefix), ["a/b/"])
    assert.strictEqual(dirs.Prefix, "a/")
    assert.strictEqual(dirs.Delimiter, "/")

    // Without a delimiter: no NextMarker; clients continue from the last key.
    const seen: Array<string> = []
    let marker: string | undefined
    for (;;) {
      const page: ListObjectsCommandOutput = await s3.send(new ListObjectsCommand({ Bucket: "list-v1", MaxKeys: 2, Marker: marker }))
      assert.isUndefined(page.NextMarker)
      assert.strictEqual(page.MaxKeys, 2)
      seen.push(...(page.Contents ?? []).map((c) => c.Key!))
      if (!page.IsTruncated) break
      marker = page.Contents!.at(-1)!.Key
    }
    assert.deepStrictEqual(seen, keys)

    // With a delimiter, pages of one: NextMarker may be a common prefix, and continuing from it skips what it rolls up.
    const rolled: Array<string> = []
    const markers: Array<string> = []
    marker = undefined
    for (;;) {
      const page: ListObjectsCommandOutput = await s3.send(new ListObjectsCommand({ Bucket: "list-v1", MaxKeys: 1, Delimiter: "/", Marker: marker }))
      rolled.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((c) => c.Prefix!))
      if (!page.IsTruncated) {
        assert.isUndefined(page.NextMarker)
        break
      }
      marker = page.NextMarker!
      markers.push(marker)
    }
    assert.deepStrictEqual(rolled, ["a/", "b", "c/", "e"])
    assert.deepStrictEqual(markers, ["a/", "b", "c/"])

    const fromMarker = await s3.send(new ListObjectsCommand({ Bucket: "list-v1", Marker: "b" }))
    assert.deepStrictEqual(fromMarker.Contents?.map((c) => c.Key), ["c/d", "e"])
    assert.strictEqual(fromMarker.Marker, "b")
    assert.strictEqual((await s3.send(new ListObjectsCommand({ Bucket: "list-v1", MaxKeys: 0 }))).Contents, undefined)
    assert.deepStrictEqual(await failure(s3.send(new ListObjectsCommand({ Bucket: "list-v1", MaxKeys: -1 }))), { code: "InvalidArgument", status: 400 })
    assert.deepStrictEqual(await failure(s3.send(new ListObjectsCommand({ Bucket: "nobucket" }))), { code: "NoSuchBucket", status: 404 })
  })

  it("encoding-type=url encodes keys, prefixes, delimiter, marker and start-after (v1 and v2) as S3 does", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc" }))
    for (const Key of ["p q/a b.txt", "p q/a+b.txt", "p q/100%.csv", "p q/한글/x.txt", "p q/run books/x.txt"]) {
      await s3.send(new PutObjectCommand({ Bucket: "enc", Key, Body: "x" }))
    }
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: "enc", Prefix: "p q/", Delimiter: "/", EncodingType: "url" }))
    assert.strictEqual(v2.EncodingType, "url")
    assert.strictEqual(v2.Prefix, "p+q/")
    assert.strictEqual(v2.Delimiter, "/")
    assert.deepStrictEqual(v2.Contents?.map((c) => c.Key), ["p+q/100%25.csv", "p+q/a+b.txt", "p+q/a%2Bb.txt"])
    assert.deepStrictEqual(v2.CommonPrefixes?.map((c) => c.Prefix), ["p+q/run+books/", "p+q/%ED%95%9C%EA%B8%80/"])
    const after = await s3.send(new ListObjectsV2Command({ Bucket: "enc", StartAfter: "p q/a b.txt", EncodingType: "url" }))
    assert.strictEqual(after.StartAfter, "p+q/a+b.txt")
    assert.strictEqual(after.Contents?.[0]?.Key, "p+q/a%2Bb.txt")
    // Without encoding-type, the raw keys.
    const plain = await s3.send(new ListObjectsV2Command({ Bucket: "enc", Prefix: "p q/a" }))
    assert.isUndefined(plain.EncodingType)
    assert.deepStrictEqual(plain.Contents?.map((c) => c.Key), ["p q/a b.txt", "p q/a+b.txt"])

    const v1 = await s3.send(new ListObjectsCommand({ Bucket: "enc", Prefix: "p q/", Delimiter: " ", Marker: "p q/100%.csv", MaxKeys: 1, EncodingType: "url" }))
    assert.strictEqual(v1.EncodingType, "url")
    assert.strictEqual(v1.Marker, "p+q/100%25.csv")
    assert.strictEqual(v1.Delimiter, "+")
    assert.deepStrictEqual(v1.CommonPrefixes?.map((c) => c.Prefix), ["p+q/a+"])
    assert.strictEqual(v1.NextMarker, "p+q/a+")
    assert.deepStrictEqual(
      await failure(s3.send(new ListObjectsV2Command({ Bucket: "enc", EncodingType: "base64" as "url" }))),
      { code: "InvalidArgument", status: 400 }
    )
    assert.deepStrictEqual(
      await failure(s3.send(new ListObjectsCommand({ Bucket: "enc", EncodingType: "base64" as "url" }))),
      { code: "InvalidArgument", status: 400 }
    )
  })

  it("GetBucketLocation and HeadBucket report the region (us-east-1: an empty LocationConstraint)", async () => {
    const location = await s3.send(new GetBucketLocationCommand({ Bucket: "ops" }))
    assert.isUndefined(location.LocationConstraint)
    const raw = await rawRequest(port, "GET", "/ops", { location: "" }, Buffer.alloc(0))
    assert.strictEqual(raw.status, 200)
    assert.match(raw.text, /<LocationConstraint xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"\/>$/)
    assert.strictEqual((await s3.send(new HeadBucketCommand({ Bucket: "ops" }))).BucketRegion, "us-east-1")
    assert.deepStrictEqual(await failure(s3.send(new GetBucketLocationCommand({ Bucket: "nobucket" }))), { code: "NoSuchBucket", status: 404 })
  })

  it("GETs of settings this gateway lacks answer as S3 does when they were never set; setting them is NotImplemented", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "settings/obj", Body: "x" }))
    assert.isUndefined((await s3.send(new GetBucketVersioningCommand({ Bucket: "ops" }))).Status)
    const acl = await s3.send(new GetBucketAclCommand({ Bucket: "ops" }))
    assert.deepStrictEqual(acl.Grants?.map((g) => [g.Grantee?.ID, g.Permission]), [["enigma", "FULL_CONTROL"]])
    assert.strictEqual(acl.Owner?.ID, "enigma")
    assert.deepStrictEqual((await s3.send(new GetObjectAclCommand({ Bucket: "ops", Key: "settings/obj" }))).Grants?.length, 1)
    assert.deepStrictEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: "ops", Key: "settings/obj" }))).TagSet, [])
    assert.deepStrictEqual(await failure(s3.send(new GetBucketPolicyCommand({ Bucket: "ops" }))), { code: "NoSuchBucketPolicy", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new GetBucketCorsCommand({ Bucket: "ops" }))), { code: "NoSuchCORSConfiguration", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new GetBucketTaggingCommand({ Bucket: "ops" }))), { code: "NoSuchTagSet", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new GetBucketVersioningCommand({ Bucket: "nobucket" }))), { code: "NoSuchBucket", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new GetObjectTaggingCommand({ Bucket: "ops", Key: "settings/none" }))), { code: "NoSuchKey", status: 404 })
    assert.deepStrictEqual(
      await failure(s3.send(new PutBucketVersioningCommand({ Bucket: "ops", VersioningConfiguration: { Status: "Enabled" } }))),
      { code: "NotImplemented", status: 501 }
    )
  })

  it("an unversioned bucket's objects are each version null: ListObjectVersions, and versionId=null on GET, HEAD and DELETE", async () => {
    for (const k of ["ver/a", "ver/b", "ver/sub/c"]) await s3.send(new PutObjectCommand({ Bucket: "ops", Key: k, Body: k }))
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: "ops", Prefix: "ver/", Delimiter: "/" }))
    assert.deepStrictEqual(all.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]), [["ver/a", "null", true, 5], ["ver/b", "null", true, 5]])
    assert.deepStrictEqual(all.CommonPrefixes?.map((p) => p.Prefix), ["ver/sub/"])
    assert.isFalse(all.IsTruncated)
    const first = await s3.send(new ListObjectVersionsCommand({ Bucket: "ops", Prefix: "ver/", MaxKeys: 1 }))
    assert.deepStrictEqual([first.IsTruncated, first.NextKeyMarker, first.NextVersionIdMarker], [true, "ver/a", "null"])
    const second = await s3.send(new ListObjectVersionsCommand({ Bucket: "ops", Prefix: "ver/", MaxKeys: 5, KeyMarker: first.NextKeyMarker, VersionIdMarker: "null" }))
    assert.deepStrictEqual(second.Versions?.map((v) => v.Key), ["ver/b", "ver/sub/c"])
    const got = await s3.send(new GetObjectCommand({ Bucket: "ops", Key: "ver/a", VersionId: "null" }))
    assert.strictEqual(await got.Body!.transformToString(), "ver/a")
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "ver/b", VersionId: "null" }))).ContentLength, 5)
    await s3.send(new DeleteObjectCommand({ Bucket: "ops", Key: "ver/b", VersionId: "null" }))
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "ver/b" }))), { code: "NotFound", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "ops", Key: "ver/a", VersionId: "3HL4kqtJlcpXroDTDmJ" }))), { code: "NotImplemented", status: 501 })
    assert.deepStrictEqual(await failure(s3.send(new ListObjectVersionsCommand({ Bucket: "nobucket" }))), { code: "NoSuchBucket", status: 404 })
  })

  it("virtual-hosted-style requests (Host <bucket>.<domain>) address the bucket; the path is the key", async () => {
    for (const domain of ["localhost", "s3.local"]) {
      const vh = virtualHostedClient(port, domain)
      const hosts = new Set<string>()
      vh.middlewareStack.add((next) => async (args) => {
        hosts.add((args.request as { hostname: string }).hostname)
        return next(args)
      }, { step: "finalizeRequest" })
      try {
        const bucket = `vh-${domain.replace(/\./g, "-")}`
        await vh.send(new CreateBucketCommand({ Bucket: bucket }))
        await vh.send(new HeadBucketCommand({ Bucket: bucket }))
        await vh.send(new PutObjectCommand({ Bucket: bucket, Key: "dir/a key.txt", Body: "virtual", Metadata: { via: domain } }))
        const got = await vh.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/a key.txt" }))
        assert.strictEqual(await got.Body!.transformToString(), "virtual")
        assert.deepStrictEqual(got.Metadata, { via: domain })
        assert.deepStrictEqual((await vh.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((c) => c.Key), ["dir/a key.txt"])
        assert.deepStrictEqual((await vh.send(new ListObjectsCommand({ Bucket: bucket, Delimiter: "/" }))).CommonPrefixes?.map((c) => c.Prefix), ["dir/"])
        await vh.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy", CopySource: `${bucket}/dir/a%20key.txt` }))
        // The same objects through path-style.
        assert.strictEqual(await text(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "copy" }))), "virtual")
        assert.deepStrictEqual((await vh.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "copy" }, { Key: "dir/a key.txt" }] } }))).Deleted?.length, 2)
        assert.deepStrictEqual(await failure(vh.send(new GetObjectCommand({ Bucket: bucket, Key: "copy" }))), { code: "NoSuchKey", status: 404 })
        assert.deepStrictEqual(await failure(vh.send(new GetObjectCommand({ Bucket: "vh-missing", Key: "k" }))), { code: "NoSuchBucket", status: 404 })
        // Every request went to <bucket>.<domain>, none path-style.
        assert.deepStrictEqual([...hosts].sort(), [`${bucket}.${domain}`, `vh-missing.${domain}`].sort())
      } finally {
        vh.destroy()
      }
    }
    // A Host outside the configured domains is path-style: `/ops/plain` is bucket ops, key plain.
    const other = await rawRequest(port, "GET", "/ops/plain", {}, Buffer.alloc(0))
    assert.strictEqual(other.text, "plain")
  })

  it("an identical PUT stores no new chunk files on the Local provider", async () => {
    const data = bytes(2 * 1024 * 1024)
    const before = chunkFiles(repo.dir).length
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "dedup/one", Body: data }))
    const afterFirst = chunkFiles(repo.dir).length
    assert.isAbove(afterFirst, before + 1)
    await s3.send(new PutObjectCommand({ Bucket: "other", Key: "dedup/two", Body: data }))
    assert.strictEqual(chunkFiles(repo.dir).length, afterFirst)
    assert.isTrue(Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "other", Key: "dedup/two" }))).Body!.transformToByteArray()).equals(data))
  }, 60_000)

  it("a copy keeps its chunks through the source's deletion and gc", async () => {
    const data = bytes(1536 * 1024)
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "gc/source", Body: data }))
    // Something for gc to reclaim, so the test shows it ran and spared the copy.
    await s3.send(new PutObjectCommand({ Bucket: "ops", Key: "gc/doomed", Body: bytes(1536 * 1024) }))
    await s3.send(new DeleteObjectCommand({ Bucket: "ops", Key: "gc/doomed" }))
    await s3.send(new CopyObjectCommand({ Bucket: "other", Key: "gc/copy", CopySource: "ops/gc/source" }))
    await s3.send(new DeleteObjectCommand({ Bucket: "ops", Key: "gc/source" }))
    s3.destroy()
    await stopProxy(proxy.child)

    const db = new DatabaseSync(path.join(repo.dir, "enigma.db"), { readOnly: true })
    const copyChunks = (() => {
      try {
        const row = db.prepare("SELECT extents FROM objects WHERE bucket = 'other' AND key = 'gc/copy'").get() as { extents: string }
        return new Set((JSON.parse(row.extents) as Array<[string, number, number]>).map((e) => e[0]))
      } finally {
        db.close()
      }
    })()
    assert.isAbove(copyChunks.size, 1)
    const gc = json<{ deletedChunks: Array<{ id: string }> }>(enigma([...repo.g, "gc", "--json"]))
    // gc did reclaim something (the doomed object), but none of the copy's chunks.
    assert.isAbove(gc.deletedChunks.length, 0)
    assert.isFalse(gc.deletedChunks.some((c) => copyChunks.has(c.id)))

    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "other", Key: "gc/copy" }))).Body!.transformToByteArray())
    assert.isTrue(got.equals(data))
    // Kept headers survive the restart (they are in the log, not only in memory).
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "ops", Key: "kept.txt" }))).ContentLanguage, "de-CH")
  }, 120_000)
})
