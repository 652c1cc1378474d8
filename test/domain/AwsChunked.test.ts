import { assert, describe, it } from "@effect/vitest"
import { Readable } from "node:stream"
import { createHash } from "node:crypto"
import { Effect, Exit, Stream } from "effect"
import { readableStreamHasher } from "@smithy/core/checksum"
import { getAwsChunkedEncodingStream } from "@smithy/core/serde"
import { Crc32cJs } from "@aws-sdk/checksums/crc"
import { ChunkedFormatError, makeChunkedParser } from "../../src/domain/s3/AwsChunked.ts"
import { verifyRequest } from "../../src/services/gateway/Auth.ts"
import { requestBody } from "../../src/services/gateway/PayloadBody.ts"

// The examples of "Signature Calculations for the Authorization Header: Transferring Payload in
// Multiple Chunks (Chunked Upload)" and "… Including Trailing Headers" in the S3 API reference:
// 65,536 + 1,024 bytes of 'a', secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z.
const keys = new Map([["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]])
const now = Date.UTC(2013, 4, 24, 0, 1, 0)
const authorization = (signedHeaders: string, signature: string) =>
  `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`

const docSigned = {
  seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
  chunks: [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
  ]
}
const docTrailer = {
  seed: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
  chunks: [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
  ],
  trailer: "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
}

const docBody = (signatures: ReadonlyArray<string>, trailer = "") =>
  Buffer.concat([
    Buffer.from(`10000;chunk-signature=${signatures[0]}\r\n`),
    Buffer.alloc(65_536, "a"),
    Buffer.from(`\r\n400;chunk-signature=${signatures[1]}\r\n`),
    Buffer.alloc(1024, "a"),
    Buffer.from(`\r\n0;chunk-signature=${signatures[2]}\r\n${trailer}\r\n`)
  ])

const docRequest = (trailer: boolean, signature: string, extra: Record<string, string> = {}) => ({
  method: "PUT",
  rawPath: "/examplebucket/chunkObject.txt",
  rawQuery: "",
  headers: {
    host: "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    ...(trailer
      ? {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "x-amz-trailer": "x-amz-checksum-crc32c",
        authorization: authorization("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer", signature)
      }
      : {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-length": "66824",
        authorization: authorization("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class", signature)
      }),
    ...extra
  }
})

/** The body split into pieces of the given sizes (cycled), as a socket might deliver it. */
const pieces = (body: Uint8Array, sizes: ReadonlyArray<number>) => {
  const out: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = sizes[i % sizes.length]!
    out.push(body.subarray(at, at + n))
    at += n
  }
  return out
}

/** Runs a request through Auth.verifyRequest and PayloadBody.requestBody: the decoded bytes and echoed checksum, or the S3 error code. */
const decode = (req: ReturnType<typeof docRequest>, body: Uint8Array, sizes: ReadonlyArray<number> = [body.length]) =>
  Effect.gen(function*() {
    const payload = verifyRequest(req, keys, now)
    if ("code" in payload) return { code: payload.code }
    const decoded = requestBody(payload, req.headers, Stream.fromIterable(pieces(body, sizes)))
    if ("code" in decoded) return { code: decoded.code }
    const exit = yield* Effect.exit(Stream.runCollect(decoded.body))
    if (Exit.isFailure(exit)) {
      const e = exit.cause.reasons.find((r) => r._tag === "Fail")
      return { code: (e as { error: { code: string } } | undefined)?.error.code ?? "defect" }
    }
    return { bytes: Buffer.concat(exit.value), checksum: decoded.checksum() }
  })

const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b)
  c[at] = c[at]! ^ 1
  return c
}

describe("aws-chunked", () => {
  it.effect("decodes and verifies the AWS STREAMING-AWS4-HMAC-SHA256-PAYLOAD example, however the body is split", () =>
    Effect.gen(function*() {
      const body = docBody(docSigned.chunks)
      assert.strictEqual(body.length, 66_824)
      for (const sizes of [[body.length], [1], [7, 1, 93], [65_536 + 87, 2, 1]]) {
        const r = yield* decode(docRequest(false, docSigned.seed), body, sizes.length === 1 && sizes[0] === 1 ? [1] : sizes)
        assert.isTrue(r.bytes?.equals(Buffer.alloc(66_560, "a")), JSON.stringify(sizes))
        assert.isUndefined(r.checksum)
      }
    }))

  it.effect("refuses a wrong chunk signature, tampered data, a missing final chunk and a wrong decoded length", () =>
    Effect.gen(function*() {
      const good = docBody(docSigned.chunks)
      // Chunk 2's signature with one digit changed.
      const badSig = docBody([docSigned.chunks[0]!, docSigned.chunks[1]!.replace(/^0/, "1"), docSigned.chunks[2]!])
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), badSig), { code: "SignatureDoesNotMatch" })
      // One byte of chunk 1's data flipped: its signature no longer matches.
      const headerLength = `10000;chunk-signature=${docSigned.chunks[0]}\r\n`.length
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), flip(good, headerLength + 1000)), { code: "SignatureDoesNotMatch" })
      // Chunks reordered (chunk 2's valid signature first) break the chain.
      const swapped = docBody([docSigned.chunks[1]!, docSigned.chunks[0]!, docSigned.chunks[2]!])
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), swapped), { code: "SignatureDoesNotMatch" })
      // Cut before the signed final chunk: the body may not simply end there.
      const truncated = good.subarray(0, good.length - `0;chunk-signature=${docSigned.chunks[2]}\r\n\r\n`.length)
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), truncated), { code: "IncompleteBody" })
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), good.subarray(0, 30_000)), { code: "IncompleteBody" })
      // A chunk without a signature in a signed body.
      const unsignedChunk = Buffer.from(good.toString("latin1").replace(`;chunk-signature=${docSigned.chunks[1]}`, ""), "latin1")
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), unsignedChunk), { code: "SignatureDoesNotMatch" })
      // The seed itself is the Authorization signature: change a signed header and the request fails up front.
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed, { "x-amz-decoded-content-length": "66561" }), good), { code: "SignatureDoesNotMatch" })
      // Framing errors.
      const badSize = Buffer.from(good.toString("latin1").replace("400;", "401;"), "latin1")
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), badSize), { code: "IncompleteBody" })
      assert.deepStrictEqual(yield* decode(docRequest(false, docSigned.seed), Buffer.concat([good, Buffer.from("x")])), { code: "IncompleteBody" })
    }))

  it.effect("decodes the AWS STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER example and verifies its trailer signature and CRC32C", () =>
    Effect.gen(function*() {
      const body = docBody(docTrailer.chunks, docTrailer.trailer)
      const r = yield* decode(docRequest(true, docTrailer.seed), body, [4093])
      assert.isTrue(r.bytes?.equals(Buffer.alloc(66_560, "a")))
      assert.deepStrictEqual(r.checksum, { algorithm: "CRC32C", header: "x-amz-checksum-crc32c", value: "sOO8/Q==" })
      // A changed trailer value breaks the trailer signature before the checksum is compared.
      const otherValue = docBody(docTrailer.chunks, docTrailer.trailer.replace("sOO8/Q==", "sOO8/A=="))
      assert.deepStrictEqual(yield* decode(docRequest(true, docTrailer.seed), otherValue), { code: "SignatureDoesNotMatch" })
      const noSignature = docBody(docTrailer.chunks, "x-amz-checksum-crc32c:sOO8/Q==\r\n")
      assert.deepStrictEqual(yield* decode(docRequest(true, docTrailer.seed), noSignature), { code: "SignatureDoesNotMatch" })
    }))

  it.effect("decodes what the AWS SDK's getAwsChunkedEncodingStream sends (STREAMING-UNSIGNED-PAYLOAD-TRAILER) and checks its checksum", () =>
    Effect.gen(function*() {
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256))
      const sdkBody = (payload: Buffer, withChecksum: boolean) =>
        Effect.promise(async () => {
          const source = Readable.from([payload.subarray(0, 100_000), payload.subarray(100_000, 100_001), payload.subarray(100_001)])
          const encoded = getAwsChunkedEncodingStream(source, withChecksum
            ? {
              base64Encoder: (b: Uint8Array) => Buffer.from(b).toString("base64"),
              bodyLengthChecker: (b: unknown) => (b as Uint8Array).length,
              checksumAlgorithmFn: Crc32cJs,
              checksumLocationName: "x-amz-checksum-crc32c",
              streamHasher: readableStreamHasher
            }
            : { bodyLengthChecker: (b: unknown) => (b as Uint8Array).length } as never) as Readable
          const parts: Array<Buffer> = []
          for await (const p of encoded) parts.push(Buffer.from(p))
          return Buffer.concat(parts)
        })
      const unsignedRequest = (extra: Record<string, string>) => {
        const req = docRequest(false, docSigned.seed)
        return { ...req, headers: { ...req.headers, "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-decoded-content-length": String(data.length), ...extra } }
      }
      const body = yield* sdkBody(data, true)
      assert.include(body.toString("latin1"), "0\r\nx-amz-checksum-crc32c:")
      // (The Authorization header of such requests is covered by the e2e tests; here the decoder gets the payload variant directly.)
      const payload = { _tag: "Chunked", signing: undefined, trailer: true } as const
      const run = (b: Buffer, headers: Record<string, string | undefined>) => Effect.gen(function*() {
        const decoded = requestBody(payload, headers, Stream.fromIterable(pieces(b, [65_536, 3])))
        if ("code" in decoded) return { code: decoded.code }
        const exit = yield* Effect.exit(Stream.runCollect(decoded.body))
        if (Exit.isFailure(exit)) return { code: (exit.cause.reasons.find((r) => r._tag === "Fail") as { error: { code: string } } | undefined)?.error.code }
        return { bytes: Buffer.concat(exit.value), checksum: decoded.checksum() }
      })
      const headers = unsignedRequest({ "x-amz-trailer": "x-amz-checksum-crc32c" }).headers
      const ok = yield* run(body, headers)
      assert.isTrue(ok.bytes?.equals(data))
      assert.strictEqual(ok.checksum?.value, Buffer.from(yield* Effect.promise(() => { const h = new Crc32cJs(); h.update(data); return h.digest() })).toString("base64"))
      // The same trailer over different bytes: BadDigest.
      const other = Buffer.from(data)
      other[5] = other[5]! ^ 0xff
      const wrong = Buffer.from(body.toString("latin1").replace(/x-amz-checksum-crc32c:[^\r]*/, `x-amz-checksum-crc32c:${(yield* sdkBody(other, true)).toString("latin1").match(/x-amz-checksum-crc32c:([^\r]*)/)![1]}`), "latin1")
      assert.deepStrictEqual(yield* run(wrong, headers), { code: "BadDigest" })
      // A malformed trailer value, a missing announced trailer, a wrong decoded length.
      assert.deepStrictEqual(yield* run(Buffer.from(body.toString("latin1").replace(/x-amz-checksum-crc32c:[^\r]*/, "x-amz-checksum-crc32c:nope"), "latin1"), headers), { code: "InvalidRequest" })
      const plain = yield* sdkBody(data, false)
      assert.isTrue(plain.toString("latin1").endsWith("0\r\n"))
      assert.deepStrictEqual(yield* run(plain, headers), { code: "MalformedTrailerError" })
      assert.deepStrictEqual(yield* run(body, { ...headers, "x-amz-decoded-content-length": String(data.length - 1) }), { code: "IncompleteBody" })
      assert.deepStrictEqual(yield* run(body, { ...headers, "x-amz-decoded-content-length": String(data.length + 1) }), { code: "IncompleteBody" })
      // Without x-amz-trailer and without a checksum, the SDK's body (ending right after `0\r\n`) decodes.
      const noTrailer = { ...headers, "x-amz-trailer": undefined }
      const bare = yield* run(plain, noTrailer)
      assert.isTrue(bare.bytes?.equals(data))
      assert.isUndefined(bare.checksum)
      // Header checks answered before any byte is read.
      assert.deepStrictEqual(yield* run(body, { ...headers, "x-amz-trailer": "x-amz-meta-foo" }), { code: "InvalidRequest" })
      assert.deepStrictEqual(yield* run(body, { ...headers, "x-amz-checksum-crc32": "NSRBwg==" }), { code: "InvalidRequest" })
    }))

  it.effect("verifies an x-amz-checksum-* header on a plain body", () =>
    Effect.gen(function*() {
      const run = (headers: Record<string, string>) => Effect.gen(function*() {
        const decoded = requestBody({ _tag: "Unsigned" }, headers, Stream.fromIterable([Buffer.from("ab"), Buffer.from("c")]))
        if ("code" in decoded) return { code: decoded.code }
        const exit = yield* Effect.exit(Stream.runCollect(decoded.body))
        if (Exit.isFailure(exit)) return { code: (exit.cause.reasons.find((r) => r._tag === "Fail") as { error: { code: string; detail: string } } | undefined)?.error.detail }
        return { checksum: decoded.checksum()?.value }
      })
      assert.deepStrictEqual(yield* run({ "x-amz-checksum-crc32": "NSRBwg==" }), { checksum: "NSRBwg==" })
      assert.deepStrictEqual(yield* run({ "x-amz-checksum-sha256": createHash("sha256").update("abc").digest("base64") }), { checksum: createHash("sha256").update("abc").digest("base64") })
      assert.deepStrictEqual(yield* run({ "x-amz-checksum-crc32": "AAAAAA==" }), { code: "The x-amz-checksum-crc32 you specified did not match the calculated checksum." })
      assert.deepStrictEqual(yield* run({ "x-amz-checksum-crc32": "AAAA" }), { code: "InvalidRequest" })
      assert.deepStrictEqual(yield* run({ "x-amz-checksum-crc32": "NSRBwg==", "x-amz-checksum-sha1": "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=" }), { code: "InvalidRequest" })
      assert.deepStrictEqual(yield* run({ "x-amz-trailer": "x-amz-checksum-crc32" }), { code: "InvalidRequest" })
    }))

  it("frames strictly", () => {
    const p = makeChunkedParser()
    const events = p.push(Buffer.from("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"))
    assert.deepStrictEqual((events as Array<{ _tag: string }>).map((e) => e._tag), ["ChunkStart", "Data", "ChunkEnd", "ChunkStart", "ChunkEnd", "Trailer", "End"])
    assert.deepStrictEqual(p.finish(), [])
    assert.instanceOf(makeChunkedParser().push(Buffer.from("zz\r\n")), ChunkedFormatError)
    assert.instanceOf(makeChunkedParser().push(Buffer.from("3\r\nabcX")), ChunkedFormatError)
    assert.instanceOf(makeChunkedParser().push(Buffer.from("3;chunk-signature=abc\r\n")), ChunkedFormatError)
    assert.instanceOf(makeChunkedParser().push(Buffer.alloc(5000, "1")), ChunkedFormatError)
    assert.instanceOf(makeChunkedParser().push(Buffer.from("0\r\nno colon\r\n")), ChunkedFormatError)
  })
})
