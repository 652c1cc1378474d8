/**
 * The `aws-chunked` body framing, parsed incrementally and without copying chunk data:
 *
 *   <hex size>[;chunk-signature=<64 hex>]\r\n<data>\r\n   … repeated …
 *   0[;chunk-signature=<64 hex>]\r\n
 *   [<trailer name>:<value>\r\n …]                          (x-amz-checksum-*, x-amz-trailer-signature)
 *   \r\n
 *
 * The parser only frames; signatures, checksums and lengths are checked by the caller
 * (services/gateway/AwsChunked.ts), which sees every event in order. Only the header and trailer
 * lines are buffered (bounded by `maxLine`/`maxTrailer`), so memory does not grow with the body.
 *
 * References: "Signature Calculations for the Authorization Header: Transferring Payload in
 * Multiple Chunks (Chunked Upload)" and "… Including Trailing Headers" in the S3 API reference.
 */

/** x-amz-content-sha256 values that announce an aws-chunked body. */
export const streamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
export const streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
export const streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

export type ChunkedEvent =
  /** A chunk header; `signature` is the lower-case hex chunk-signature extension, when present. */
  | { readonly _tag: "ChunkStart"; readonly size: number; readonly signature: string | undefined }
  /** Bytes of the current chunk (a view into the input block). */
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  /** The current chunk's data and its CRLF are complete (also emitted for the final 0-size chunk). */
  | { readonly _tag: "ChunkEnd" }
  /** One trailer line, name in lower case, value trimmed. */
  | { readonly _tag: "Trailer"; readonly name: string; readonly value: string }
  /** The blank line after the trailers: the body is complete. */
  | { readonly _tag: "End" }

export class ChunkedFormatError {
  readonly _tag = "ChunkedFormatError"
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const maxLine = 4096
const maxTrailer = 16 * 1024
const CR = 13
const LF = 10

type State = "header" | "data" | "dataCr" | "dataLf" | "trailer" | "done"

export interface ChunkedParser {
  /** Frames one block of the body. Data events reference `block`, so consume them before the next push. */
  readonly push: (block: Uint8Array) => ReadonlyArray<ChunkedEvent> | ChunkedFormatError
  /** The body ended: an error unless the framing is complete. */
  readonly finish: () => ReadonlyArray<ChunkedEvent> | ChunkedFormatError
}

const decoder = new TextDecoder("latin1")

export const parseChunkHeader = (line: string): { size: number; signature: string | undefined } | ChunkedFormatError => {
  const semi = line.indexOf(";")
  const sizeText = semi < 0 ? line : line.slice(0, semi)
  if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return new ChunkedFormatError(`bad chunk size ${JSON.stringify(sizeText.slice(0, 20))}`)
  let signature: string | undefined
  if (semi >= 0) {
    for (const ext of line.slice(semi + 1).split(";")) {
      const eq = ext.indexOf("=")
      const name = (eq < 0 ? ext : ext.slice(0, eq)).trim()
      if (name === "chunk-signature") {
        const v = ext.slice(eq + 1).trim()
        if (eq < 0 || !/^[0-9a-f]{64}$/.test(v)) return new ChunkedFormatError("chunk-signature must be 64 lower-case hex digits")
        signature = v
      }
    }
  }
  return { size: parseInt(sizeText, 16), signature }
}

export const makeChunkedParser = (): ChunkedParser => {
  let state: State = "header"
  // Bytes of the line being read (header or trailer), without its CRLF.
  let line: Array<number> = []
  let sawCr = false
  let remaining = 0
  let trailerBytes = 0
  let lastWasZero = false

  const push = (block: Uint8Array): ReadonlyArray<ChunkedEvent> | ChunkedFormatError => {
    const out: Array<ChunkedEvent> = []
    let i = 0
    const n = block.length
    while (i < n) {
      switch (state) {
        case "data": {
          const take = Math.min(remaining, n - i)
          out.push({ _tag: "Data", bytes: block.subarray(i, i + take) })
          i += take
          remaining -= take
          if (remaining === 0) state = "dataCr"
          break
        }
        case "dataCr":
          if (block[i++] !== CR) return new ChunkedFormatError("chunk data is not followed by CRLF (is the chunk size right?)")
          state = "dataLf"
          break
        case "dataLf":
          if (block[i++] !== LF) return new ChunkedFormatError("chunk data is not followed by CRLF (is the chunk size right?)")
          out.push({ _tag: "ChunkEnd" })
          state = "header"
          break
        case "header":
        case "trailer": {
          const b = block[i++]!
          if (sawCr) {
            if (b !== LF) return new ChunkedFormatError("a bare CR in a chunk header or trailer line")
            sawCr = false
            const text = decoder.decode(Uint8Array.from(line))
            line = []
            if (state === "header") {
              const h = parseChunkHeader(text)
              if (h instanceof ChunkedFormatError) return h
              out.push({ _tag: "ChunkStart", size: h.size, signature: h.signature })
              if (h.size === 0) {
                // The final chunk has no data and no CRLF of its own: the trailer section follows.
                out.push({ _tag: "ChunkEnd" })
                lastWasZero = true
                state = "trailer"
              } else {
                remaining = h.size
                state = "data"
              }
            } else if (text === "") {
              out.push({ _tag: "End" })
              state = "done"
            } else {
              const colon = text.indexOf(":")
              if (colon <= 0) return new ChunkedFormatError("a trailer line is not NAME:VALUE")
              out.push({ _tag: "Trailer", name: text.slice(0, colon).trim().toLowerCase(), value: text.slice(colon + 1).trim() })
            }
          } else if (b === CR) {
            sawCr = true
          } else {
            if (line.length >= maxLine) return new ChunkedFormatError("a chunk header or trailer line is too long")
            if (state === "trailer" && ++trailerBytes > maxTrailer) return new ChunkedFormatError("the trailers are too long")
            line.push(b)
          }
          break
        }
        case "done":
          return new ChunkedFormatError("data after the end of the aws-chunked body")
      }
    }
    return out
  }

  const finish = (): ReadonlyArray<ChunkedEvent> | ChunkedFormatError => {
    if (state === "done") return []
    // The AWS SDKs end an aws-chunked body without a checksum trailer right after `0\r\n`.
    if (state === "trailer" && lastWasZero && line.length === 0 && !sawCr && trailerBytes === 0) {
      state = "done"
      return [{ _tag: "End" }]
    }
    return new ChunkedFormatError(state === "data" ? "the body ended inside a chunk" : "the body ended before the final 0-size chunk and its blank line")
  }

  return { push, finish }
}
