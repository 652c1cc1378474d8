import { assert, describe, it } from "@effect/vitest"
import { createHash, createHmac } from "node:crypto"
import { rmSync } from "node:fs"
import { request } from "node:http"
import { Readable } from "node:stream"
import { crc32 } from "node:zlib"
import { afterAll, beforeAll } from "vitest"
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { getSignedUrl } from "@aws-sdk/s3-request-presigner"
import { Crc32cJs, Crc64NvmeJs } from "@aws-sdk/checksums/crc"
import { SignatureV4 } from "@smithy/signature-v4"
import { initRepo, prng } from "../support/cli.ts"
import { accessKey as proxyAccessKey, gatewayClient, s3Failure as failure, secretKey as proxySecretKey, startProxy, stopProxy } from "../support/gateway.ts"
import { NodeSha256 } from "../support/nodeSha256.ts"
import { freePort } from "../support/server.ts"

const sha256Hex = (d: string | Uint8Array) => createHash("sha256").update(d).digest("hex")
const b64 = (d: Uint8Array) => Buffer.from(d).toString("base64")
const sdkDigest = async (Hash: typeof Crc32cJs | typeof Crc64NvmeJs, data: Uint8Array) => {
  const h = new Hash()
  h.update(data)
  return b64(await h.digest())
}
const crc32Base64 = (d: Uint8Array) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(crc32(d))
  return b.toString("base64")
}

/** An SDK client with the SDK's default checksum behaviour (a CRC32 on every PUT, aws-chunked trailers for streams). */
const defaultsClient = (port: number) =>
  new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: proxyAccessKey, secretAccessKey: proxySecretKey },
    maxAttempts: 1
  })

/** A Readable of `data` in 100 kB pieces, with no length the SDK could read. */
const streamOf = (data: Buffer) =>
  Readable.from((function*() {
    for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000)
  })())

const assertRejects = async (p: Promise<unknown>, message: RegExp) => {
  try {
    await p
  } catch (e) {
    assert.match(String((e as Error)?.message ?? e), message)
    return
  }
  assert.fail("expected a rejection")
}

/** Headers signed by @smithy/signature-v4 for a request the SDK cannot make (aws-chunked bodies, odd payload modes). */
const signHeaders = async (port: number, method: string, p: string, headers: Record<string, string>, signingDate?: Date) => {
  const signer = new SignatureV4({ service: "s3", region: "us-east-1", credentials: { accessKeyId: proxyAccessKey, secretAccessKey: proxySecretKey }, sha256: NodeSha256, uriEscapePath: false })
  const signed = await signer.sign({ method, protocol: "http:", hostname: "127.0.0.1", port, path: p, headers: { host: `127.0.0.1:${port}`, ...headers } }, signingDate ? { signingDate } : {})
  return signed.headers as Record<string, string>
}

/** Sends a request with exactly these headers and body (a Buffer, or a stream sent with Transfer-Encoding: chunked). */
const send = (port: number, method: string, p: string, headers: Record<string, string>, body: Buffer | Readable) =>
  new Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path: p, headers }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (d: Buffer) => parts.push(d))
      res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString(), headers: res.headers }))
    })
    req.on("error", reject)
    if (Buffer.isBuffer(body)) req.end(body)
    else body.pipe(req)
  })

// An aws-chunked encoder with chunk signatures, written from the S3 documentation (the AWS SDK for
// JavaScript does not send signed chunks; restic's minio-go does, see the clients tests).
const signingKey = (date: string) => {
  let k: Buffer = createHmac("sha256", `AWS4${proxySecretKey}`).update(date).digest()
  for (const part of ["us-east-1", "s3", "aws4_request"]) k = createHmac("sha256", k).update(part).digest()
  return k
}
const signedChunks = (data: Buffer, chunkSize: number, amzDate: string, seed: string, trailer?: string) => {
  const key = signingKey(amzDate.slice(0, 8))
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`
  const out: Array<Buffer> = []
  let previous = seed
  const signatures: Array<string> = []
  for (let at = 0; ; at += chunkSize) {
    const piece = data.subarray(at, Math.min(at + chunkSize, data.length))
    const signature = createHmac("sha256", key)
      .update(`AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${sha256Hex("")}\n${sha256Hex(piece)}`).digest("hex")
    signatures.push(signature)
    out.push(Buffer.from(`${piece.length.toString(16)};chunk-signature=${signature}\r\n`))
    if (piece.length > 0) out.push(piece, Buffer.from("\r\n"))
    previous = signature
    if (piece.length === 0) break
  }
  if (trailer !== undefined) {
    const trailerSignature = createHmac("sha256", key)
      .update(`AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previous}\n${sha256Hex(`${trailer}\n`)}`).digest("hex")
    out.push(Buffer.from(`${trailer}\r\nx-amz-trailer-signature:${trailerSignature}\r\n`))
  }
  out.push(Buffer.from("\r\n"))
  return { body: Buffer.concat(out), signatures }
}

/** Signs and sends a STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] PUT; `corrupt` may alter the encoded body. */
const chunkedPut = async (port: number, p: string, data: Buffer, opts: { trailer?: string; corrupt?: (body: Buffer) => Buffer } = {}) => {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")
  const mode = opts.trailer !== undefined ? "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" : "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
  // The encoded length depends only on sizes, so encode once with a dummy seed to learn Content-Length.
  const length = signedChunks(data, 65_536, amzDate, "0".repeat(64), opts.trailer).body.length
  const headers = await signHeaders(port, "PUT", p, {
    "x-amz-content-sha256": mode,
    "x-amz-date": amzDate,
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(data.length),
    "content-length": String(length),
    ...(opts.trailer !== undefined ? { "x-amz-trailer": opts.trailer.slice(0, opts.trailer.indexOf(":")) } : {})
  }, new Date(Date.UTC(Number(amzDate.slice(0, 4)), Number(amzDate.slice(4, 6)) - 1, Number(amzDate.slice(6, 8)), Number(amzDate.slice(9, 11)), Number(amzDate.slice(11, 13)), Number(amzDate.slice(13, 15)))))
  const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization ?? headers.Authorization ?? "")![1]!
  const { body } = signedChunks(data, 65_536, amzDate, seed, opts.trailer)
  return send(port, "PUT", p, headers, opts.corrupt ? opts.corrupt(body) : body)
}

describe("enigma proxy: authentication and payload verification", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let proxy: Awaited<ReturnType<typeof startProxy>>
  /** SDK defaults: a CRC32 (or the chosen algorithm) on every PUT, streamed bodies as aws-chunked with a trailer. */
  let s3: S3Client
  /** Checksums only when required: plain bodies, for presigning and raw checks. */
  let plain: S3Client
  const bytes = prng(4)

  const getBytes = async (client: S3Client, key: string, checksumMode?: "ENABLED") => {
    const r = await client.send(new GetObjectCommand({ Bucket: "auth", Key: key, ...(checksumMode ? { ChecksumMode: checksumMode } : {}) }))
    return { body: Buffer.from(await r.Body!.transformToByteArray()), r }
  }
  const absent = async (key: string) => assert.deepStrictEqual(await failure(plain.send(new HeadObjectCommand({ Bucket: "auth", Key: key }))), { code: "NotFound", status: 404 })

  beforeAll(async () => {
    repo = initRepo([])
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = defaultsClient(port)
    plain = gatewayClient(port)
    await plain.send(new CreateBucketCommand({ Bucket: "auth" }))
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    plain?.destroy()
    // The proxy must have survived every bad request.
    if (proxy) assert.isNull(proxy.child.exitCode, proxy.output())
    if (proxy) await stopProxy(proxy.child)
    // Its objects total ~80 MiB: do not leave them in the temp dir.
    if (repo) rmSync(repo.root, { recursive: true, force: true })
  })

  it("stores streamed bodies the SDK sends as aws-chunked with CRC32C, CRC64NVME, CRC32, SHA1 and SHA256 trailers", async () => {
    const data = bytes(3 * 1024 * 1024 + 17)
    const cases = [
      ["CRC32C", "ChecksumCRC32C", await sdkDigest(Crc32cJs, data)],
      ["CRC64NVME", "ChecksumCRC64NVME", await sdkDigest(Crc64NvmeJs, data)],
      ["CRC32", "ChecksumCRC32", crc32Base64(data)],
      ["SHA1", "ChecksumSHA1", createHash("sha1").update(data).digest("base64")],
      ["SHA256", "ChecksumSHA256", createHash("sha256").update(data).digest("base64")]
    ] as const
    for (const [algorithm, field, expected] of cases) {
      const key = `stream-${algorithm}`
      // A stream body: the SDK sends it as aws-chunked with the checksum as a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
      const put = await s3.send(new PutObjectCommand({ Bucket: "auth", Key: key, Body: streamOf(data), ContentLength: data.length, ChecksumAlgorithm: algorithm }))
      assert.strictEqual(put[field], expected, `${algorithm} echoed by PutObject`)
      // The SDK validates the returned checksum against the bytes it reads.
      const got = await getBytes(s3, key, "ENABLED")
      assert.isTrue(got.body.equals(data), algorithm)
      assert.strictEqual(got.r[field], expected)
      const head = await s3.send(new HeadObjectCommand({ Bucket: "auth", Key: key, ChecksumMode: "ENABLED" }))
      assert.strictEqual(head[field], expected)
      // The SDK sent Content-Encoding: aws-chunked, a transfer detail that is not kept.
      assert.isUndefined(head.ContentEncoding)
      // A copy has the same bytes, so it keeps the checksum.
      if (algorithm === "CRC32C") {
        await plain.send(new CopyObjectCommand({ Bucket: "auth", Key: `${key}-copy`, CopySource: `auth/${key}` }))
        assert.strictEqual((await s3.send(new HeadObjectCommand({ Bucket: "auth", Key: `${key}-copy`, ChecksumMode: "ENABLED" })))[field], expected)
      }
      // Without x-amz-checksum-mode the checksum is not returned.
      assert.isUndefined((await plain.send(new HeadObjectCommand({ Bucket: "auth", Key: key })))[field])
    }
    // The default (no algorithm chosen): the SDK sends CRC32, with a Buffer body too.
    const small = bytes(5000)
    const gzipped = await s3.send(new PutObjectCommand({ Bucket: "auth", Key: "gzip", Body: streamOf(small), ContentLength: small.length, ContentEncoding: "gzip" }))
    assert.strictEqual(gzipped.ChecksumCRC32, crc32Base64(small))
    assert.strictEqual((await plain.send(new HeadObjectCommand({ Bucket: "auth", Key: "gzip" }))).ContentEncoding, "gzip")
    const put = await s3.send(new PutObjectCommand({ Bucket: "auth", Key: "default-crc", Body: small }))
    assert.strictEqual(put.ChecksumCRC32, crc32Base64(small))
    assert.isTrue((await getBytes(s3, "default-crc")).body.equals(small))
  }, 120_000)

  it("streams a 48 MiB body of unknown length (no x-amz-decoded-content-length) with a CRC64NVME trailer", async () => {
    // The SDK (3.1175) cannot send a stream of unknown length itself: it copies the missing
    // Content-Length into x-amz-decoded-content-length, and Node refuses the undefined header
    // before a byte is sent. A request handler that drops undefined headers sends what the SDK
    // means: Transfer-Encoding: chunked around aws-chunked, with no decoded length.
    const inner = new NodeHttpHandler()
    const unknownLength = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: proxyAccessKey, secretAccessKey: proxySecretKey },
      maxAttempts: 1,
      requestHandler: {
        handle: (req: Parameters<NodeHttpHandler["handle"]>[0], options?: Parameters<NodeHttpHandler["handle"]>[1]) => {
          for (const [k, v] of Object.entries(req.headers)) if (v === undefined) delete req.headers[k]
          assert.strictEqual(req.headers["transfer-encoding"], "chunked")
          assert.isUndefined(req.headers["x-amz-decoded-content-length"])
          return inner.handle(req, options)
        },
        destroy: () => inner.destroy()
      } as never
    })
    const small = bytes(70_000)
    const direct = await unknownLength.send(new PutObjectCommand({ Bucket: "auth", Key: "unknown-crc32c", Body: streamOf(small), ChecksumAlgorithm: "CRC32C" }))
    assert.strictEqual(direct.ChecksumCRC32C, await sdkDigest(Crc32cJs, small))
    assert.isTrue((await getBytes(s3, "unknown-crc32c", "ENABLED")).body.equals(small))
    // The plain SDK fails on its own, before sending (so that an SDK fix shows up here).
    await assertRejects(s3.send(new PutObjectCommand({ Bucket: "auth", Key: "sdk-unknown", Body: streamOf(small), ChecksumAlgorithm: "CRC32C" })), /x-amz-decoded-content-length/)

    const piece = bytes(1024 * 1024)
    const total = 48
    const expected = new Crc64NvmeJs()
    for (let i = 0; i < total; i++) expected.update(Buffer.concat([piece.subarray(i), piece.subarray(0, i)]))
    const body = Readable.from((function*() {
      for (let i = 0; i < total; i++) yield Buffer.concat([piece.subarray(i), piece.subarray(0, i)])
    })())
    const put = await unknownLength.send(new PutObjectCommand({ Bucket: "auth", Key: "big-stream", Body: body, ChecksumAlgorithm: "CRC64NVME" }))
    assert.strictEqual(put.ChecksumCRC64NVME, b64(await expected.digest()))
    const got = await getBytes(s3, "big-stream", "ENABLED")
    assert.strictEqual(got.body.length, total * 1024 * 1024)
    assert.strictEqual(got.r.ChecksumCRC64NVME, put.ChecksumCRC64NVME)
    unknownLength.destroy()
  }, 180_000)

  it("verifies and echoes the checksums of UploadPart bodies", async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "auth", Key: "mp", ChecksumAlgorithm: "CRC32C" }))
    const part = bytes(5 * 1024 * 1024)
    const up = await s3.send(new UploadPartCommand({ Bucket: "auth", Key: "mp", UploadId, PartNumber: 1, Body: streamOf(part), ContentLength: part.length, ChecksumAlgorithm: "CRC32C" }))
    assert.strictEqual(up.ChecksumCRC32C, await sdkDigest(Crc32cJs, part))
    assert.deepStrictEqual(await failure(plain.send(new UploadPartCommand({ Bucket: "auth", Key: "mp", UploadId, PartNumber: 2, Body: part, ChecksumCRC32: "AAAAAA==" }))), { code: "BadDigest", status: 400 })
    await plain.send(new CompleteMultipartUploadCommand({ Bucket: "auth", Key: "mp", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: up.ETag! }] } }))
    assert.isTrue((await getBytes(plain, "mp")).body.equals(part))
  }, 60_000)

  it("refuses a checksum that does not match (BadDigest) or is malformed (InvalidRequest), and stores nothing", async () => {
    assert.deepStrictEqual(await failure(plain.send(new PutObjectCommand({ Bucket: "auth", Key: "bad-crc", Body: "hello", ChecksumCRC32: crc32Base64(Buffer.from("hellO")) }))), { code: "BadDigest", status: 400 })
    await absent("bad-crc")
    assert.deepStrictEqual(await failure(plain.send(new PutObjectCommand({ Bucket: "auth", Key: "bad-crc", Body: "hello", ChecksumSHA256: "not base64" }))), { code: "InvalidRequest", status: 400 })
    await absent("bad-crc")
    // The message names the header, as S3's does.
    const headers = await signHeaders(port, "PUT", "/auth/bad-crc", { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": "5", "x-amz-checksum-crc32c": "AAAAAA==" })
    const res = await send(port, "PUT", "/auth/bad-crc", headers, Buffer.from("hello"))
    assert.strictEqual(res.status, 400)
    assert.include(res.text, "<Code>BadDigest</Code>")
    assert.include(res.text, "The x-amz-checksum-crc32c you specified did not match the calculated checksum.")
    await absent("bad-crc")
    // A wrong trailer in an unsigned aws-chunked body (what the SDK would send had the bytes changed on the way).
    const trailerHeaders = await signHeaders(port, "PUT", "/auth/bad-trailer", {
      "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": "5",
      "x-amz-trailer": "x-amz-checksum-crc32"
    })
    const encoded = (crc: string) => Buffer.from(`5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`)
    const bad = await send(port, "PUT", "/auth/bad-trailer", { ...trailerHeaders, "content-length": String(encoded("AAAAAA==").length) }, encoded("AAAAAA=="))
    assert.strictEqual(bad.status, 400)
    assert.include(bad.text, "<Code>BadDigest</Code>")
    await absent("bad-trailer")
    const good = await send(port, "PUT", "/auth/bad-trailer", { ...trailerHeaders, "content-length": String(encoded(crc32Base64(Buffer.from("hello"))).length) }, encoded(crc32Base64(Buffer.from("hello"))))
    assert.strictEqual(good.status, 200, good.text)
    assert.strictEqual(good.headers["x-amz-checksum-crc32"], crc32Base64(Buffer.from("hello")))
    assert.strictEqual((await getBytes(plain, "bad-trailer")).body.toString(), "hello")
  }, 60_000)

  it("verifies every chunk signature of STREAMING-AWS4-HMAC-SHA256-PAYLOAD; a bad one is 403 and stores nothing", async () => {
    const data = bytes(300_000)
    const ok = await chunkedPut(port, "/auth/signed-chunks", data)
    assert.strictEqual(ok.status, 200, ok.text)
    assert.isTrue((await getBytes(plain, "signed-chunks")).body.equals(data))
    // Chunk 3's signature altered.
    const bad = await chunkedPut(port, "/auth/signed-bad", data, {
      corrupt: (body) => {
        const text = body.toString("latin1")
        const third = text.split("chunk-signature=")[3]!.slice(0, 64)
        return Buffer.from(text.replace(third, third.slice(0, 63) + (third.endsWith("0") ? "1" : "0")), "latin1")
      }
    })
    assert.strictEqual(bad.status, 403)
    assert.include(bad.text, "<Code>SignatureDoesNotMatch</Code>")
    await absent("signed-bad")
    // A data byte flipped in the last chunk: its signature no longer matches.
    const flipped = await chunkedPut(port, "/auth/signed-bad", data, {
      corrupt: (body) => {
        const c = Buffer.from(body)
        c[c.length - 200] = c[c.length - 200]! ^ 1
        return c
      }
    })
    assert.strictEqual(flipped.status, 403)
    await absent("signed-bad")
    // With a signed CRC32C trailer.
    const trailer = `x-amz-checksum-crc32c:${await sdkDigest(Crc32cJs, data)}`
    const withTrailer = await chunkedPut(port, "/auth/signed-trailer", data, { trailer })
    assert.strictEqual(withTrailer.status, 200, withTrailer.text)
    assert.strictEqual(withTrailer.headers["x-amz-checksum-crc32c"], await sdkDigest(Crc32cJs, data))
    assert.isTrue((await getBytes(plain, "signed-trailer")).body.equals(data))
    const badTrailer = await chunkedPut(port, "/auth/signed-trailer-bad", data, {
      trailer,
      corrupt: (body) => Buffer.from(body.toString("latin1").replace(/x-amz-trailer-signature:(.)/, (_, c: string) => `x-amz-trailer-signature:${c === "0" ? "1" : "0"}`), "latin1")
    })
    assert.strictEqual(badTrailer.status, 403)
    await absent("signed-trailer-bad")
  }, 60_000)

  it("serves presigned GET and PUT URLs made by @aws-sdk/s3-request-presigner to plain fetch()", async () => {
    const data = bytes(200_000)
    const putUrl = await getSignedUrl(plain, new PutObjectCommand({ Bucket: "auth", Key: "presigned" }), { expiresIn: 300 })
    assert.include(putUrl, "X-Amz-Signature=")
    const put = await fetch(putUrl, { method: "PUT", body: data })
    assert.strictEqual(put.status, 200, await put.clone().text())
    const getUrl = await getSignedUrl(plain, new GetObjectCommand({ Bucket: "auth", Key: "presigned" }), { expiresIn: 300 })
    const got = await fetch(getUrl)
    assert.strictEqual(got.status, 200)
    assert.isTrue(Buffer.from(await got.arrayBuffer()).equals(data))
    // A presigned ListBuckets: the X-Amz-* parameters do not make it an unknown operation.
    const list = await fetch(await getSignedUrl(plain, new ListBucketsCommand({}), { expiresIn: 60 }))
    assert.strictEqual(list.status, 200)
    assert.include(await list.text(), "<Name>auth</Name>")

    const code = async (url: string, init?: RequestInit) => {
      const r = await fetch(url, init)
      const text = await r.text()
      return { status: r.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] }
    }
    // Expired: signed an hour ago for one minute.
    const expired = await getSignedUrl(plain, new GetObjectCommand({ Bucket: "auth", Key: "presigned" }), { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) })
    assert.deepStrictEqual(await code(expired), { status: 403, code: "AccessDenied", message: "Request has expired" })
    // Tampered: another key, another signature, another expiry.
    assert.strictEqual((await code(getUrl.replace("/auth/presigned?", "/auth/presigneD?"))).code, "SignatureDoesNotMatch")
    assert.strictEqual((await code(getUrl.replace(/X-Amz-Signature=(.)/, (_, c: string) => `X-Amz-Signature=${c === "a" ? "b" : "a"}`))).code, "SignatureDoesNotMatch")
    assert.strictEqual((await code(getUrl.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))).code, "SignatureDoesNotMatch")
    // The presigned PUT cannot be used for a GET of the same key.
    assert.strictEqual((await code(putUrl)).code, "SignatureDoesNotMatch")
    // X-Amz-Expires out of 1..604800.
    assert.deepStrictEqual(await code(getUrl.replace("X-Amz-Expires=300", "X-Amz-Expires=604801")), { status: 400, code: "AuthorizationQueryParametersError", message: "X-Amz-Expires must be a number of seconds from 1 to 604800 (seven days)" })
    assert.strictEqual((await code(getUrl.replace("X-Amz-Expires=300", "X-Amz-Expires=0"))).code, "AuthorizationQueryParametersError")
    assert.strictEqual((await code(getUrl.replace(/&?X-Amz-Date=[^&]*/, ""))).code, "AuthorizationQueryParametersError")
    // A key the proxy does not know.
    const stranger = gatewayClient(port, { accessKeyId: "nobody", secretAccessKey: "x" })
    assert.deepStrictEqual(await code(await getSignedUrl(stranger, new GetObjectCommand({ Bucket: "auth", Key: "presigned" }), { expiresIn: 60 })), { status: 403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records." })
    stranger.destroy()
  }, 60_000)

  it("answers RequestTimeTooSkewed, SignatureDoesNotMatch and InvalidAccessKeyId", async () => {
    const skewed = await signHeaders(port, "GET", "/", { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }, new Date(Date.now() - 16 * 60_000))
    const r1 = await send(port, "GET", "/", skewed, Buffer.alloc(0))
    assert.strictEqual(r1.status, 403)
    assert.include(r1.text, "<Code>RequestTimeTooSkewed</Code>")
    // 14 minutes is within S3's 15.
    const near = await signHeaders(port, "GET", "/", { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }, new Date(Date.now() - 14 * 60_000))
    assert.strictEqual((await send(port, "GET", "/", near, Buffer.alloc(0))).status, 200)
    const wrongSecret = gatewayClient(port, { accessKeyId: proxyAccessKey, secretAccessKey: "wrong" })
    assert.deepStrictEqual(await failure(wrongSecret.send(new ListBucketsCommand({}))), { code: "SignatureDoesNotMatch", status: 403 })
    wrongSecret.destroy()
    const unknown = gatewayClient(port, { accessKeyId: "nobody", secretAccessKey: proxySecretKey })
    assert.deepStrictEqual(await failure(unknown.send(new ListBucketsCommand({}))), { code: "InvalidAccessKeyId", status: 403 })
    unknown.destroy()
    // A header changed after signing.
    const signed = await signHeaders(port, "PUT", "/auth/changed", { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": "1", "x-amz-meta-a": "1" })
    const r2 = await send(port, "PUT", "/auth/changed", { ...signed, "x-amz-meta-a": "2" }, Buffer.from("x"))
    assert.strictEqual(r2.status, 403)
    assert.include(r2.text, "<Code>SignatureDoesNotMatch</Code>")
    await absent("changed")
  }, 60_000)
})
