import { createHash, createHmac, type KeyObject } from "node:crypto"
import { Effect, Stream } from "effect"
import { ChunkedFormatError, type ChunkedEvent, makeChunkedParser } from "../../domain/s3/AwsChunked.ts"
import { S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import { signatureMatches } from "./Signing.ts"

/** What chunk and trailer signatures chain from: the request's signing key, date, scope and seed signature. */
export interface ChunkSigning {
  readonly key: KeyObject
  readonly amzDate: string
  readonly scope: string
  /** The Authorization header's signature (hex): the first chunk signature chains from it. */
  readonly seed: string
}

export interface ChunkedOptions {
  /** Set for STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: every chunk signature is verified. */
  readonly signing: ChunkSigning | undefined
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the trailers carry x-amz-trailer-signature, verified too. */
  readonly signedTrailer: boolean
  /** x-amz-decoded-content-length, when the client sent it. */
  readonly decodedLength: number | undefined
}

export interface DecodedBody<E> {
  /** The object's bytes; fails with an S3Error when a signature, the framing or the length is wrong. */
  readonly body: Stream.Stream<Uint8Array, E | S3Error>
  /** Trailer values (lower-case names, signature excluded), complete once `body` has ended. */
  readonly trailers: ReadonlyMap<string, string>
}

const emptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const signatureMismatch = (what: string) =>
  s3Error("SignatureDoesNotMatch", 403, `The ${what} signature we calculated does not match the signature you provided. Check your key and signing method.`)

/**
 * Decodes an aws-chunked request body as it streams: chunk data flows on at once (hashed on the
 * way), and each chunk's signature is checked when its data ends. A failure fails the stream, so
 * a PutObject that consumes it never appends its object; chunks already stored stay unreferenced
 * for gc, as with a mismatching signed payload hash.
 */
export const decodeAwsChunked = <E>(raw: Stream.Stream<Uint8Array, E>, options: ChunkedOptions): DecodedBody<E> => {
  const trailers = new Map<string, string>()
  const body = Stream.suspend(() => {
    const parser = makeChunkedParser()
    const signing = options.signing
    let previous = signing?.seed ?? ""
    let chunkSignature: string | undefined
    let chunkHash: ReturnType<typeof createHash> | undefined
    let chunkSize = 0
    let decoded = 0
    let trailerSignature: string | undefined
    let trailerText = ""

    const sign = (toSign: string) => createHmac("sha256", signing!.key).update(toSign).digest()

    const handle = (events: ReadonlyArray<ChunkedEvent>): Array<Uint8Array> | S3Error => {
      const out: Array<Uint8Array> = []
      for (const ev of events) {
        switch (ev._tag) {
          case "ChunkStart":
            chunkSize = ev.size
            if (signing) {
              if (ev.signature === undefined) return s3Error("SignatureDoesNotMatch", 403, "A chunk of a signed aws-chunked body carries no chunk-signature")
              chunkSignature = ev.signature
              chunkHash = ev.size > 0 ? createHash("sha256") : undefined
            }
            break
          case "Data":
            decoded += ev.bytes.length
            if (options.decodedLength !== undefined && decoded > options.decodedLength) {
              return s3Error("IncompleteBody", 400, `The body holds more than the ${options.decodedLength} bytes x-amz-decoded-content-length announced`)
            }
            chunkHash?.update(ev.bytes)
            out.push(ev.bytes)
            break
          case "ChunkEnd":
            if (signing) {
              const dataHash = chunkSize > 0 ? chunkHash!.digest("hex") : emptySha256
              const expected = sign(`AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${previous}\n${emptySha256}\n${dataHash}`)
              if (!signatureMatches(chunkSignature!, expected)) return signatureMismatch("chunk")
              previous = chunkSignature!
            }
            break
          case "Trailer":
            if (ev.name === "x-amz-trailer-signature") {
              trailerSignature = ev.value
            } else {
              trailers.set(ev.name, ev.value)
              trailerText += `${ev.name}:${ev.value}\n`
            }
            break
          case "End":
            if (signing && options.signedTrailer) {
              if (trailerSignature === undefined || !/^[0-9a-f]{64}$/.test(trailerSignature)) {
                return s3Error("SignatureDoesNotMatch", 403, "The trailers of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body carry no x-amz-trailer-signature")
              }
              const hash = createHash("sha256").update(trailerText).digest("hex")
              const expected = sign(`AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${previous}\n${hash}`)
              if (!signatureMatches(trailerSignature, expected)) return signatureMismatch("trailer")
            }
            if (options.decodedLength !== undefined && decoded !== options.decodedLength) {
              return s3Error("IncompleteBody", 400, `The body holds ${decoded} bytes but x-amz-decoded-content-length announced ${options.decodedLength}`)
            }
            break
        }
      }
      return out
    }

    const malformed = (e: ChunkedFormatError) => s3Error("IncompleteBody", 400, `The aws-chunked body is malformed: ${e.reason}`)
    const lift = (events: ReadonlyArray<ChunkedEvent> | ChunkedFormatError): Effect.Effect<ReadonlyArray<Uint8Array>, S3Error> => {
      if (events instanceof ChunkedFormatError) return Effect.fail(malformed(events))
      const r = handle(events)
      return r instanceof S3Error ? Effect.fail(r) : Effect.succeed(r)
    }

    return raw.pipe(
      Stream.mapEffect((block) => lift(parser.push(block))),
      Stream.concat(Stream.fromEffect(Effect.suspend(() => lift(parser.finish())))),
      Stream.flattenIterable
    )
  })
  return { body, trailers }
}
