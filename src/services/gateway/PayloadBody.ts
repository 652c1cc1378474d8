import { Effect, Stream } from "effect"
import { algorithmOfHeader, type ChecksumAlgorithm, checksumHeader, contentMd5Problem, isWellFormed, mismatchMessage } from "../../domain/s3/Checksum.ts"
import { type S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import type { Payload } from "./Auth.ts"
import { decodeAwsChunked } from "./AwsChunked.ts"
import { digestMatches, makeHasher } from "./Checksums.ts"

type Headers = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

export interface RequestBody<E> {
  /** The decoded bytes (aws-chunked framing removed); fails with an S3Error when a signature or checksum is wrong. */
  readonly body: Stream.Stream<Uint8Array, E | S3Error>
  /** The verified `x-amz-checksum-*` of the body (header name and base64 value), once `body` has ended. */
  readonly checksum: () => { readonly algorithm: ChecksumAlgorithm; readonly header: string; readonly value: string } | undefined
  /**
   * The body's size as the request declares it (x-amz-decoded-content-length for aws-chunked,
   * else Content-Length), or undefined when it declares none. `body` checks it where it can.
   */
  readonly declaredSize: number | undefined
}

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name]
  return typeof v === "string" ? v : v?.[0]
}

const invalid = (detail: string) => s3Error("InvalidRequest", 400, detail)

/**
 * Turns the raw request body into the object's bytes according to how it was signed (`payload`
 * from Auth.verifyRequest): decodes aws-chunked bodies (verifying chunk and trailer signatures
 * and x-amz-decoded-content-length), and verifies an `x-amz-checksum-*` sent as a header or as
 * the trailer named by `x-amz-trailer`. Header problems are answered before any byte is read.
 */
export const requestBody = <E>(payload: Payload, headers: Headers, raw: Stream.Stream<Uint8Array, E>): RequestBody<E> | S3Error => {
  const given: Array<[ChecksumAlgorithm, string]> = []
  for (const [name, value] of Object.entries(headers)) {
    const algorithm = algorithmOfHeader(name)
    if (algorithm !== undefined && value !== undefined) given.push([algorithm, typeof value === "string" ? value : value.join(",")])
  }
  const trailerName = header(headers, "x-amz-trailer")?.trim().toLowerCase()
  const chunkedTrailer = payload._tag === "Chunked" && payload.trailer
  if (trailerName !== undefined && !chunkedTrailer) {
    return invalid("x-amz-trailer needs an aws-chunked body with trailers (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)")
  }
  const trailerAlgorithm = trailerName !== undefined && trailerName !== "" ? algorithmOfHeader(trailerName) : undefined
  if (trailerName !== undefined && trailerName !== "" && trailerAlgorithm === undefined) {
    return invalid(`The trailer ${trailerName} is not supported: x-amz-trailer may name one x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1 or -sha256`)
  }
  if (given.length + (trailerAlgorithm !== undefined ? 1 : 0) > 1) {
    return invalid("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
  }
  const md5Problem = contentMd5Problem(header(headers, "content-md5"))
  if (md5Problem !== undefined) return md5Problem
  const [headerChecksum] = given
  if (headerChecksum !== undefined && !isWellFormed(headerChecksum[0], headerChecksum[1].trim())) {
    return invalid(`Value for ${checksumHeader(headerChecksum[0])} header is invalid: expected the base64 of the ${headerChecksum[0]} digest.`)
  }

  let body: Stream.Stream<Uint8Array, E | S3Error> = raw
  let trailers: ReadonlyMap<string, string> = new Map()
  const contentLength = header(headers, "transfer-encoding") === undefined ? header(headers, "content-length")?.trim() : undefined
  let declaredSize = contentLength !== undefined && /^\d{1,16}$/.test(contentLength) ? Number(contentLength) : undefined
  if (payload._tag === "Chunked") {
    const lengthText = header(headers, "x-amz-decoded-content-length")
    if (lengthText !== undefined && !/^\d{1,16}$/.test(lengthText.trim())) {
      return s3Error("InvalidArgument", 400, "x-amz-decoded-content-length must be the object's size in bytes")
    }
    declaredSize = lengthText !== undefined ? Number(lengthText.trim()) : undefined
    const decoded = decodeAwsChunked(raw, {
      signing: payload.signing,
      signedTrailer: payload.trailer,
      decodedLength: declaredSize
    })
    body = decoded.body
    trailers = decoded.trailers
  }

  const algorithm = headerChecksum?.[0] ?? trailerAlgorithm
  if (algorithm === undefined) return { body, checksum: () => undefined, declaredSize }

  let verified: string | undefined
  const hasher = makeHasher(algorithm)
  const name = checksumHeader(algorithm)
  const verify = Effect.suspend(() => {
    const expected = headerChecksum !== undefined ? headerChecksum[1].trim() : trailers.get(name)
    if (expected === undefined) {
      return Effect.fail(s3Error("MalformedTrailerError", 400, `The request announced the trailer ${name} (x-amz-trailer) but the body did not carry it.`))
    }
    if (!isWellFormed(algorithm, expected)) return Effect.fail(invalid(`Value for ${name} trailing header is invalid: expected the base64 of the ${algorithm} digest.`))
    if (!digestMatches(hasher.digest(), expected)) return Effect.fail(s3Error("BadDigest", 400, mismatchMessage(algorithm)))
    verified = expected
    return Effect.void
  })
  return {
    body: body.pipe(
      Stream.tap((block) => Effect.sync(() => hasher.update(block))),
      Stream.concat(Stream.fromEffect(verify).pipe(Stream.drain))
    ),
    checksum: () => (verified !== undefined ? { algorithm, header: name, value: verified } : undefined),
    declaredSize
  }
}

/** The most one PutObject or UploadPart may carry (S3's limit; larger objects go in parts). */
export const maxUploadBytes = 5 * 1024 ** 3

/**
 * Why the body of a PutObject or UploadPart is refused before a byte of it is read: no length at
 * all (HTTP/1.1 then means an empty body, which would store an empty object where the client
 * meant to send one: S3's 411), or more than S3 takes in one request.
 */
export const uploadSizeProblem = (headers: Headers, declaredSize: number | undefined): S3Error | undefined => {
  if (declaredSize === undefined && header(headers, "transfer-encoding") === undefined && header(headers, "content-length") === undefined) {
    return s3Error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
  }
  return declaredSize !== undefined && declaredSize > maxUploadBytes
    ? s3Error("EntityTooLarge", 400, `Your proposed upload of ${declaredSize} bytes exceeds the maximum allowed size of ${maxUploadBytes} bytes (5 GiB): send it as a multipart upload`)
    : undefined
}
