import { assert, describe, it } from "@effect/vitest"
import { request } from "node:http"
import { createHash } from "node:crypto"
import { readdirSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  PutBucketAclCommand,
  GetObjectCommand,
  PutObjectTaggingCommand,
  PutBucketTaggingCommand,
  GetObjectTaggingCommand,
  DeleteObjectTaggingCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from "@aws-sdk/client-s3"
import { SignatureV4 } from "@smithy/signature-v4"
import { enigma, initRepo, json, prng } from "../support/cli.ts"
import { freePort } from "../support/server.ts"
import { accessKey, chunkFiles, rawRequest, gatewayClient as client, recoverBeside, s3Failure as failure, secretKey, signedHeaders, startProxy, stopProxy } from "../support/gateway.ts"
import { NodeSha256 } from "../support/nodeSha256.ts"

/** Small content-defined chunks, so a few MiB make many chunks. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 262144\n"
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex")

describe("enigma proxy (S3 gateway, first slice)", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let s3: S3Client
  const bytes = prng(42)
  const big = bytes(20 * 1024 * 1024 + 12345)
  /** Chunks stored by earlier tests that no object references any more (gc must reclaim them). */
  let garbage = 0

  beforeAll(async () => {
    repo = initRepo([], smallChunks)
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    if (proxy) await stopProxy(proxy.child)
  })

  it("creates, heads and lists buckets; a missing bucket is NoSuchBucket", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "photos" }))
    await s3.send(new CreateBucketCommand({ Bucket: "docs" }))
    await s3.send(new HeadBucketCommand({ Bucket: "photos" }))
    const list = await s3.send(new ListBucketsCommand({}))
    assert.deepStrictEqual(list.Buckets?.map((b) => b.Name), ["docs", "photos"])
    assert.deepStrictEqual(await failure(s3.send(new CreateBucketCommand({ Bucket: "docs" }))), { code: "BucketAlreadyOwnedByYou", status: 409 })
    assert.deepStrictEqual(await failure(s3.send(new HeadBucketCommand({ Bucket: "nope" }))), { code: "NotFound", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new PutObjectCommand({ Bucket: "nope", Key: "k", Body: "x" }))), { code: "NoSuchBucket", status: 404 })
    assert.deepStrictEqual(await failure(s3.send(new CreateBucketCommand({ Bucket: "Bad_Name" }))), { code: "InvalidBucketName", status: 400 })
  })

  it("answers as S3 does: bucket names AWS reserves, a foreign or malformed LocationConstraint, keys over 1024 bytes of UTF-8, a PUT without a length or over 5 GiB, a Content-MD5 that is not one, a SigV2 URL; fetch-owner", async () => {
    for (const Bucket of ["xn--abc", "sthree-x", "abc-s3alias", "abc--ol-s3"]) {
      assert.deepStrictEqual(await failure(s3.send(new CreateBucketCommand({ Bucket }))), { code: "InvalidBucketName", status: 400 }, Bucket)
    }
    const foreign = await rawRequest(port, "PUT", "/elsewhere", Buffer.from("<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"))
    assert.strictEqual(foreign.status, 400)
    assert.include(foreign.text, "<Code>IllegalLocationConstraintException</Code>")
    const malformed = await rawRequest(port, "PUT", "/elsewhere", Buffer.from("<Create"))
    assert.include(malformed.text, "<Code>MalformedXML</Code>")
    assert.deepStrictEqual(await failure(s3.send(new HeadBucketCommand({ Bucket: "elsewhere" }))), { code: "NotFound", status: 404 })
    const here = await rawRequest(port, "PUT", "/here", Buffer.from("<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>"))
    assert.strictEqual(here.status, 200, here.text)

    // 1024 bytes of UTF-8 is the limit, whatever the characters: 512 é are 1024 bytes, 513 are 1026.
    await s3.send(new PutObjectCommand({ Bucket: "here", Key: "é".repeat(512), Body: "x" }))
    assert.deepStrictEqual(await failure(s3.send(new PutObjectCommand({ Bucket: "here", Key: "é".repeat(513), Body: "x" }))), { code: "KeyTooLongError", status: 400 })
    assert.deepStrictEqual(await failure(s3.send(new CreateMultipartUploadCommand({ Bucket: "here", Key: "é".repeat(513) }))), { code: "KeyTooLongError", status: 400 })
    assert.deepStrictEqual(await failure(s3.send(new CopyObjectCommand({ Bucket: "here", Key: "é".repeat(513), CopySource: `here/${encodeURIComponent("é".repeat(512))}` }))), { code: "KeyTooLongError", status: 400 })

    await s3.send(new PutObjectCommand({ Bucket: "here", Key: "kept", Body: "the first version" }))
    const kept = async () => (await (await s3.send(new GetObjectCommand({ Bucket: "here", Key: "kept" }))).Body!.transformToString())
    // Hand-written requests: a PUT with neither Content-Length nor Transfer-Encoding has no body in
    // HTTP/1.1, and storing that would empty the object; one announcing 6 GiB is refused before its body.
    const bare = async (extra: Record<string, string>) => {
      const { connect } = await import("node:net")
      const headers = await signedHeaders(port, "PUT", "/here/kept", { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...extra })
      return await new Promise<string>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () => {
          socket.write(`PUT /here/kept HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`)
        })
        let text = ""
        socket.on("data", (d) => {
          text += d.toString("utf8")
          if (text.includes("</Error>")) socket.destroy()
        })
        socket.on("close", () => resolve(text))
        socket.on("error", reject)
      })
    }
    const noLength = await bare({})
    assert.match(noLength, /^HTTP\/1\.1 411 /)
    assert.include(noLength, "<Code>MissingContentLength</Code>")
    const tooLarge = await bare({ "content-length": String(6 * 1024 ** 3) })
    assert.match(tooLarge, /^HTTP\/1\.1 400 /)
    assert.include(tooLarge, "<Code>EntityTooLarge</Code>")
    for (const value of ["", "not base64!", createHash("md5").update("x").digest("hex")]) {
      const r = await rawRequest(port, "PUT", "/here/kept", Buffer.from("other"), { "content-md5": value })
      assert.include(r.text, "<Code>InvalidDigest</Code>", JSON.stringify(value))
    }
    assert.strictEqual(await kept(), "the first version")

    const v2 = await fetch(`http://127.0.0.1:${port}/here/kept?AWSAccessKeyId=${accessKey}&Signature=abc%3D&Expires=${Math.floor(Date.now() / 1000) + 60}`)
    assert.strictEqual(v2.status, 400)
    const v2Text = await v2.text()
    assert.include(v2Text, "<Code>InvalidRequest</Code>")
    assert.include(v2Text, "AWS4-HMAC-SHA256")

    const owned = await s3.send(new ListObjectsV2Command({ Bucket: "here", FetchOwner: true }))
    assert.strictEqual(owned.Contents?.[0]?.Owner?.ID, "enigma")
    assert.strictEqual((await s3.send(new ListObjectsV2Command({ Bucket: "here" }))).Contents?.[0]?.Owner, undefined)
    await s3.send(new DeleteObjectCommand({ Bucket: "here", Key: "kept" }))
    await s3.send(new DeleteObjectCommand({ Bucket: "here", Key: "é".repeat(512) }))
    await s3.send(new DeleteBucketCommand({ Bucket: "here" }))
  })

  it("round-trips small, empty and 20 MiB objects with content type and metadata; ETag is the MD5", async () => {
    const small = Buffer.from("hello, gateway\n")
    const put = await s3.send(new PutObjectCommand({
      Bucket: "docs",
      Key: "notes/hello.txt",
      Body: small,
      ContentType: "text/plain; charset=utf-8",
      Metadata: { author: "ada", project: "enigma" }
    }))
    assert.strictEqual(put.ETag, `"${md5(small)}"`)
    const got = await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "notes/hello.txt" }))
    assert.deepStrictEqual(Buffer.from(await got.Body!.transformToByteArray()), small)
    assert.strictEqual(got.ContentType, "text/plain; charset=utf-8")
    assert.deepStrictEqual(got.Metadata, { author: "ada", project: "enigma" })
    assert.strictEqual(got.ETag, `"${md5(small)}"`)

    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "empty", Body: new Uint8Array(0) }))
    const empty = await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "empty" }))
    assert.strictEqual((await empty.Body!.transformToByteArray()).length, 0)
    assert.strictEqual(empty.ETag, `"${md5(new Uint8Array(0))}"`)

    const bigPut = await s3.send(new PutObjectCommand({ Bucket: "photos", Key: "big.bin", Body: big }))
    assert.strictEqual(bigPut.ETag, `"${md5(big)}"`)
    const head = await s3.send(new HeadObjectCommand({ Bucket: "photos", Key: "big.bin" }))
    assert.strictEqual(head.ContentLength, big.length)
    const bigGot = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "photos", Key: "big.bin" }))).Body!.transformToByteArray())
    assert.strictEqual(bigGot.length, big.length)
    assert.isTrue(bigGot.equals(big))

    // A range that crosses chunk boundaries, and a suffix range.
    const from = 5 * 1024 * 1024 - 17
    const to = from + 1024 * 1024 + 33
    const ranged = await s3.send(new GetObjectCommand({ Bucket: "photos", Key: "big.bin", Range: `bytes=${from}-${to}` }))
    assert.strictEqual(ranged.ContentRange, `bytes ${from}-${to}/${big.length}`)
    assert.isTrue(Buffer.from(await ranged.Body!.transformToByteArray()).equals(big.subarray(from, to + 1)))
    const tail = await s3.send(new GetObjectCommand({ Bucket: "photos", Key: "big.bin", Range: "bytes=-100" }))
    assert.isTrue(Buffer.from(await tail.Body!.transformToByteArray()).equals(big.subarray(big.length - 100)))
    assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "photos", Key: "big.bin", Range: `bytes=${big.length}-` }))), { code: "InvalidRange", status: 416 })
    assert.deepStrictEqual(await failure(s3.send(new GetObjectCommand({ Bucket: "photos", Key: "missing" }))), { code: "NoSuchKey", status: 404 })
  }, 120_000)

  it("stores an identical object a second time without new chunks", async () => {
    const data = bytes(3 * 1024 * 1024)
    const before = chunkFiles(repo.dir).length
    await s3.send(new PutObjectCommand({ Bucket: "photos", Key: "copy-1", Body: data }))
    const afterFirst = chunkFiles(repo.dir).length
    assert.isAbove(afterFirst, before)
    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "copy-2", Body: data }))
    assert.strictEqual(chunkFiles(repo.dir).length, afterFirst)
    const got = await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "copy-2" }))
    assert.isTrue(Buffer.from(await got.Body!.transformToByteArray()).equals(data))
  }, 60_000)

  it("lists with prefix, delimiter and continuation tokens", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "listing" }))
    const keys = ["a/1", "a/2", "a/b/3", "a/b/4", "a/c/5", "b", "c/d", "e"]
    const before = chunkFiles(repo.dir).length
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: "listing", Key, Body: Key }))
    garbage += chunkFiles(repo.dir).length - before // the next test deletes them all

    const all = await s3.send(new ListObjectsV2Command({ Bucket: "listing" }))
    assert.deepStrictEqual(all.Contents?.map((c) => c.Key), keys)
    assert.strictEqual(all.Contents?.[5]?.Size, 1)
    assert.strictEqual(all.Contents?.[5]?.ETag, `"${md5(Buffer.from("b"))}"`)

    const dirs = await s3.send(new ListObjectsV2Command({ Bucket: "listing", Prefix: "a/", Delimiter: "/" }))
    assert.deepStrictEqual(dirs.Contents?.map((c) => c.Key), ["a/1", "a/2"])
    assert.deepStrictEqual(dirs.CommonPrefixes?.map((c) => c.Prefix), ["a/b/", "a/c/"])

    const top = await s3.send(new ListObjectsV2Command({ Bucket: "listing", Delimiter: "/" }))
    assert.deepStrictEqual(top.Contents?.map((c) => c.Key), ["b", "e"])
    assert.deepStrictEqual(top.CommonPrefixes?.map((c) => c.Prefix), ["a/", "c/"])

    const after = await s3.send(new ListObjectsV2Command({ Bucket: "listing", StartAfter: "a/b/4", Prefix: "a/" }))
    assert.deepStrictEqual(after.Contents?.map((c) => c.Key), ["a/c/5"])
    assert.strictEqual((await s3.send(new ListObjectsV2Command({ Bucket: "listing", MaxKeys: 0 }))).KeyCount, 0)

    // Pages of two, with and without a delimiter: every entry exactly once, in order.
    for (const Delimiter of [undefined, "/"]) {
      const seen: Array<string> = []
      let token: string | undefined
      let pages = 0
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: "listing", MaxKeys: 2, Delimiter, ContinuationToken: token }))
        assert.isAtMost((page.KeyCount ?? 0), 2)
        seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((c) => c.Prefix!))
        token = page.IsTruncated ? page.NextContinuationToken : undefined
        pages++
      } while (token !== undefined)
      if (Delimiter === undefined) {
        assert.deepStrictEqual(seen, keys)
        assert.strictEqual(pages, 4)
      } else {
        assert.deepStrictEqual(seen.sort(), ["a/", "b", "c/", "e"])
      }
    }
  }, 60_000)

  it("deletes objects and only empty buckets", async () => {
    assert.deepStrictEqual(await failure(s3.send(new DeleteBucketCommand({ Bucket: "listing" }))), { code: "BucketNotEmpty", status: 409 })
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "listing" }))
    for (const c of listed.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: "listing", Key: c.Key! }))
    await s3.send(new DeleteObjectCommand({ Bucket: "listing", Key: "never-existed" }))
    assert.strictEqual((await s3.send(new ListObjectsV2Command({ Bucket: "listing" }))).KeyCount, 0)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "listing", Key: "b" }))), { code: "NotFound", status: 404 })
    await s3.send(new DeleteBucketCommand({ Bucket: "listing" }))
    assert.deepStrictEqual((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ["docs", "photos"])
  }, 60_000)

  it("rejects a wrong secret, an unknown key and a body that does not match its signed hash", async () => {
    const wrong = client(port, { accessKeyId: accessKey, secretAccessKey: "not-the-secret" })
    assert.deepStrictEqual(await failure(wrong.send(new ListBucketsCommand({}))), { code: "SignatureDoesNotMatch", status: 403 })
    assert.deepStrictEqual(await failure(wrong.send(new PutObjectCommand({ Bucket: "docs", Key: "x", Body: "x" }))), { code: "SignatureDoesNotMatch", status: 403 })
    wrong.destroy()
    const unknown = client(port, { accessKeyId: "nobody", secretAccessKey: secretKey })
    assert.deepStrictEqual(await failure(unknown.send(new ListBucketsCommand({}))), { code: "InvalidAccessKeyId", status: 403 })
    unknown.destroy()
    const anonymous = await fetch(`http://127.0.0.1:${port}/docs`)
    assert.strictEqual(anonymous.status, 403)
    assert.include(await anonymous.text(), "<Code>AccessDenied</Code>")

    const body = Buffer.from("signed body")
    const beforeTampered = chunkFiles(repo.dir).length
    const mismatch = await rawRequest(port, "PUT", "/docs/tampered", Buffer.from("signed bodY"), { "x-amz-content-sha256": createHash("sha256").update(body).digest("hex") })
    assert.strictEqual(mismatch.status, 400)
    assert.include(mismatch.text, "<Code>XAmzContentSHA256Mismatch</Code>")
    // A small body is held (to be kept inline) until it is checked: nothing was stored.
    assert.strictEqual(chunkFiles(repo.dir).length, beforeTampered)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "tampered" }))), { code: "NotFound", status: 404 })
    const unsigned = await rawRequest(port, "PUT", "/docs/unsigned", body)
    assert.strictEqual(unsigned.status, 200)
    const got = await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "unsigned" }))
    assert.strictEqual(await got.Body!.transformToString(), "signed body")
    const badMd5 = await rawRequest(port, "PUT", "/docs/bad-md5", body, { "content-md5": createHash("md5").update("other").digest("base64") })
    assert.strictEqual(badMd5.status, 400)
    assert.include(badMd5.text, "<Code>BadDigest</Code>")
    // (A small body: held for the log until checked, so nothing was stored.)
    const goodMd5 = await rawRequest(port, "PUT", "/docs/good-md5", body, { "content-md5": createHash("md5").update(body).digest("base64") })
    assert.strictEqual(goodMd5.status, 200)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "bad-md5" }))), { code: "NotFound", status: 404 })
    // A plain body announced as aws-chunked is not valid aws-chunked framing (gateway-auth.test.ts covers the real thing).
    const chunked = await rawRequest(port, "PUT", "/docs/chunked", body, { "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" })
    assert.strictEqual(chunked.status, 400)
    assert.include(chunked.text, "<Code>IncompleteBody</Code>")
  }, 60_000)

  it("answers operations it does not implement with 501 NotImplemented and keeps serving", async () => {
    // Reading a setting it lacks is answered (gateway-ops.test.ts); setting one is not implemented.
    assert.deepStrictEqual(await failure(s3.send(new PutBucketAclCommand({ Bucket: "docs", ACL: "public-read" }))), { code: "NotImplemented", status: 501 })
    assert.deepStrictEqual(
      await failure(s3.send(new PutBucketTaggingCommand({ Bucket: "docs", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } }))),
      { code: "NotImplemented", status: 501 }
    )
    await s3.send(new HeadBucketCommand({ Bucket: "docs" }))
  })

  it("object tags: set by PutObject, CopyObject (COPY or REPLACE) and multipart uploads, read and replaced by ?tagging, counted on GET/HEAD; bad tags store nothing", async () => {
    const tagsOf = async (Key: string) =>
      ((await s3.send(new GetObjectTaggingCommand({ Bucket: "docs", Key }))).TagSet ?? []).map((t) => [t.Key, t.Value])
    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "tagged", Body: "t", Tagging: "project=enigma&note=two%20words&empty=" }))
    assert.deepStrictEqual(await tagsOf("tagged"), [["project", "enigma"], ["note", "two words"], ["empty", ""]])
    assert.strictEqual((await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "tagged" }))).TagCount, 3)
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "tagged" }))).$metadata.httpStatusCode, 200)
    // A copy keeps the source's tags (COPY), or takes the request's (REPLACE).
    await s3.send(new CopyObjectCommand({ Bucket: "docs", Key: "tagged-copy", CopySource: "docs/tagged" }))
    assert.deepStrictEqual(await tagsOf("tagged-copy"), await tagsOf("tagged"))
    await s3.send(new CopyObjectCommand({ Bucket: "docs", Key: "tagged-replaced", CopySource: "docs/tagged", TaggingDirective: "REPLACE", Tagging: "only=this" }))
    assert.deepStrictEqual(await tagsOf("tagged-replaced"), [["only", "this"]])
    await s3.send(new CopyObjectCommand({ Bucket: "docs", Key: "untagged-copy", CopySource: "docs/tagged", TaggingDirective: "REPLACE" }))
    assert.deepStrictEqual(await tagsOf("untagged-copy"), [])
    assert.isUndefined((await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "untagged-copy" }))).TagCount)
    // A multipart upload's tags are the object's.
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "docs", Key: "tagged-mp", Tagging: "kind=multipart" }))
    const part = await s3.send(new UploadPartCommand({ Bucket: "docs", Key: "tagged-mp", UploadId, PartNumber: 1, Body: "part" }))
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: "docs", Key: "tagged-mp", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
    assert.deepStrictEqual(await tagsOf("tagged-mp"), [["kind", "multipart"]])
    // PutObjectTagging replaces them, content and metadata kept; DeleteObjectTagging removes them.
    await s3.send(new PutObjectTaggingCommand({ Bucket: "docs", Key: "tagged", Tagging: { TagSet: [{ Key: "état", Value: "créé" }] } }))
    assert.deepStrictEqual(await tagsOf("tagged"), [["état", "créé"]])
    assert.strictEqual(await (await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "tagged" }))).Body!.transformToString(), "t")
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: "docs", Key: "tagged-copy" }))
    assert.deepStrictEqual(await tagsOf("tagged-copy"), [])
    // Bad tags: InvalidTag, and nothing stored or changed.
    const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join("&")
    for (const Tagging of [eleven, "aws:reserved=x", "dup=1&dup=2", `${"k".repeat(129)}=v`, `k=${"v".repeat(257)}`]) {
      assert.deepStrictEqual(await failure(s3.send(new PutObjectCommand({ Bucket: "docs", Key: "bad-tags", Body: "x", Tagging }))), { code: "InvalidTag", status: 400 })
    }
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "bad-tags" }))), { code: "NotFound", status: 404 })
    assert.deepStrictEqual(
      await failure(s3.send(new PutObjectTaggingCommand({ Bucket: "docs", Key: "tagged", Tagging: { TagSet: [{ Key: "a", Value: "1" }, { Key: "a", Value: "2" }] } }))),
      { code: "InvalidTag", status: 400 }
    )
    assert.deepStrictEqual(await tagsOf("tagged"), [["état", "créé"]])
    assert.deepStrictEqual(
      await failure(s3.send(new PutObjectTaggingCommand({ Bucket: "docs", Key: "no-such-key", Tagging: { TagSet: [] } }))),
      { code: "NoSuchKey", status: 404 }
    )
    const malformed = await rawRequest(port, "PUT", "/docs/tagged?tagging", Buffer.from("<Tagging><Nope/></Tagging>"))
    assert.strictEqual(malformed.status, 400)
    assert.include(malformed.text, "<Code>MalformedXML</Code>")
  })

  it("on SIGTERM seals the log and releases the lock; gc then reclaims exactly the deleted objects' chunks", async () => {
    const data = bytes(2 * 1024 * 1024)
    const before = chunkFiles(repo.dir).length
    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "doomed", Body: data }))
    const added = chunkFiles(repo.dir).length - before
    assert.isAbove(added, 0)
    await s3.send(new DeleteObjectCommand({ Bucket: "docs", Key: "doomed" }))
    // An overwrite releases the old content's chunks.
    const beforeReplaced = chunkFiles(repo.dir).length
    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "replaced", Body: bytes(1024 * 1024) }))
    const replacedChunks = chunkFiles(repo.dir).length - beforeReplaced
    assert.isAbove(replacedChunks, 0)
    // The new content is small: kept in the log, no chunk.
    await s3.send(new PutObjectCommand({ Bucket: "docs", Key: "replaced", Body: "new content" }))
    garbage += replacedChunks
    // Overwriting copy-1 with a 0-byte object releases its chunks too, but copy-2 (same bytes) keeps them.
    await s3.send(new PutObjectCommand({ Bucket: "photos", Key: "copy-1", Body: new Uint8Array(0) }))
    s3.destroy()
    const segments = () => readdirSync(path.join(repo.dir, "storage", "log"), { recursive: true }).length
    const segmentsBefore = segments()
    // Interrupted like any enigma command (exit 130), after a clean shutdown: no error printed.
    assert.strictEqual(await stopProxy(proxy.child), 130, proxy.output())
    assert.notInclude(proxy.output(), "enigma:")
    assert.isAbove(segments(), segmentsBefore)

    // status counts the objects' bytes as logical data, and the released chunks as gc's to reclaim.
    const status = json(enigma([...repo.g, "status", "--json"]))
    assert.isAbove(status.objects, 0)
    assert.isAtLeast(status.logicalBytes, big.length + 3 * 1024 * 1024)
    assert.strictEqual(status.unreferencedChunks, added + garbage)
    const gc = json(enigma([...repo.g, "gc", "--json"]))
    assert.isAbove(garbage, 0)
    assert.strictEqual(gc.deletedChunks.length, added + garbage)
    assert.strictEqual(chunkFiles(repo.dir).length, before + replacedChunks - garbage)

    // Restarted, the proxy serves what survived, byte for byte.
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "photos", Key: "big.bin" }))).Body!.transformToByteArray())
    assert.isTrue(got.equals(big))
    assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "copy-2" }))).ContentLength, 3 * 1024 * 1024)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "docs", Key: "doomed" }))), { code: "NotFound", status: 404 })
    assert.strictEqual(await (await s3.send(new GetObjectCommand({ Bucket: "docs", Key: "replaced" }))).Body!.transformToString(), "new content")
  }, 120_000)

  it("seals the log in segments of at most 8 MiB of events (many inline objects make several), contiguous", async () => {
    const segments = () => readdirSync(path.join(repo.dir, "storage", "log")).filter((n) => !n.includes(".tmp-")).sort()
    const before = segments()
    // 560 × 16 KiB objects are kept inline: ~12 MB of event JSON (base64) since the last seal.
    const small = bytes(16 * 1024)
    for (let i = 0; i < 560; i += 40) {
      await Promise.all(Array.from({ length: 40 }, (_, j) => {
        const body = Buffer.from(small)
        body.writeUInt32BE(i + j, 0)
        return s3.send(new PutObjectCommand({ Bucket: "photos", Key: `inline/${String(i + j).padStart(4, "0")}`, Body: body }))
      }))
    }
    s3.destroy()
    await stopProxy(proxy.child) // SIGTERM seals
    const added = segments().filter((n) => !before.includes(n))
    assert.isAtLeast(added.length, 2, `one segment for everything: ${added.join(", ")}`)
    const ranges = segments().map((n) => n.split("-").map(Number) as [number, number])
    for (let i = 1; i < ranges.length; i++) assert.strictEqual(ranges[i]![0], ranges[i - 1]![1] + 1, "segments are contiguous")
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
  }, 120_000)

  it("recover rebuilds the same buckets, objects and chunk references from the sealed log segments", async () => {
    s3.destroy()
    await stopProxy(proxy.child)
    const { original, recovered } = recoverBeside(repo, {
      buckets: "SELECT * FROM buckets ORDER BY name",
      objects: "SELECT * FROM objects ORDER BY bucket, key",
      chunks: "SELECT id, refcount FROM chunks ORDER BY id"
    })
    assert.isAbove(original.objects!.length, 3)
    // Tags set by PutObjectTagging (an ObjectTagged event) are replayed too.
    assert.isTrue(original.objects!.some((o) => String(o.headers).includes("créé")))
    assert.deepStrictEqual(recovered, original)
  }, 60_000)

  it("kill -9 during a PUT: after a restart the acknowledged object is intact and the interrupted one absent", async () => {
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    const acked = bytes(1024 * 1024)
    await s3.send(new PutObjectCommand({ Bucket: "photos", Key: "acked", Body: acked }))

    // An 8 MiB upload of which only 3 MiB arrive before the proxy dies.
    const signer = new SignatureV4({ service: "s3", region: "us-east-1", credentials: { accessKeyId: accessKey, secretAccessKey: secretKey }, sha256: NodeSha256, uriEscapePath: false })
    const total = 8 * 1024 * 1024
    const signed = await signer.sign({
      method: "PUT",
      protocol: "http:",
      hostname: "127.0.0.1",
      port,
      path: "/photos/partial",
      headers: { host: `127.0.0.1:${port}`, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": String(total) }
    })
    const before = chunkFiles(repo.dir).length
    const req = request({ host: "127.0.0.1", port, method: "PUT", path: "/photos/partial", headers: signed.headers })
    const outcome = new Promise<string>((resolve) => {
      req.on("error", (e) => resolve(`error: ${e.message}`))
      req.on("response", (res) => resolve(`status ${res.statusCode}`))
    })
    req.write(bytes(3 * 1024 * 1024))
    // Wait until some of its chunks are stored, so the kill lands mid-object.
    for (let i = 0; i < 100 && chunkFiles(repo.dir).length === before; i++) await new Promise((r) => setTimeout(r, 50))
    assert.isAbove(chunkFiles(repo.dir).length, before)
    proxy.child.kill("SIGKILL")
    assert.match(await outcome, /^error/)
    await new Promise((r) => proxy.child.exitCode !== null || proxy.child.signalCode !== null ? r(undefined) : proxy.child.once("exit", r))
    s3.destroy()

    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    assert.deepStrictEqual(await failure(s3.send(new HeadObjectCommand({ Bucket: "photos", Key: "partial" }))), { code: "NotFound", status: 404 })
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: "photos", Key: "acked" }))).Body!.transformToByteArray())
    assert.isTrue(got.equals(acked))
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "photos" }))
    assert.isFalse((listed.Contents ?? []).some((c) => c.Key === "partial"))
    assert.isTrue((listed.Contents ?? []).some((c) => c.Key === "acked"))
  }, 120_000)
  it("keeps objects up to 16 KiB in the log (no chunk object), readable, rangeable and copyable, across a restart", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "tiny" }))
    const small = bytes(16 * 1024)
    const larger = bytes(16 * 1024 + 1)
    const before = chunkFiles(repo.dir).length
    await s3.send(new PutObjectCommand({ Bucket: "tiny", Key: "inline", Body: small }))
    await s3.send(new PutObjectCommand({ Bucket: "tiny", Key: "empty", Body: new Uint8Array(0) }))
    assert.strictEqual(chunkFiles(repo.dir).length, before)
    // One byte over the limit and it is chunked as usual.
    await s3.send(new PutObjectCommand({ Bucket: "tiny", Key: "chunked", Body: larger }))
    assert.strictEqual(chunkFiles(repo.dir).length, before + 1)
    await s3.send(new CopyObjectCommand({ Bucket: "tiny", Key: "inline-copy", CopySource: "tiny/inline" }))
    const range = await s3.send(new GetObjectCommand({ Bucket: "tiny", Key: "inline-copy", Range: "bytes=100-199" }))
    assert.isTrue(Buffer.from(await range.Body!.transformToByteArray()).equals(small.subarray(100, 200)))

    // After a restart (the log sealed and the projection read back), the content is all there.
    s3.destroy()
    await stopProxy(proxy.child)
    proxy = await startProxy(repo.g, port)
    s3 = client(port)
    for (const [Key, want] of [["inline", small], ["inline-copy", small], ["chunked", larger], ["empty", Buffer.alloc(0)]] as const) {
      const got = await s3.send(new GetObjectCommand({ Bucket: "tiny", Key }))
      assert.strictEqual(got.ETag, `"${md5(want)}"`)
      assert.isTrue(Buffer.from(await got.Body!.transformToByteArray()).equals(want), Key)
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "tiny" }))
    assert.deepStrictEqual(listed.Contents?.map((c) => [c.Key, c.Size]), [["chunked", larger.length], ["empty", 0], ["inline", small.length], ["inline-copy", small.length]])
  }, 60_000)
})
