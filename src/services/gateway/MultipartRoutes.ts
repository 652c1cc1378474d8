import type { IncomingHttpHeaders } from "node:http"
import { Effect, type Stream } from "effect"
import type { HttpServerResponse } from "effect/http/HttpServerResponse"
import {
  completeMultipartUploadXml,
  copyPartResultXml,
  initiateMultipartUploadXml,
  listMultipartUploadsXml,
  listPartsXml,
  parseCompleteMultipartUpload
} from "../../domain/s3/MultipartXml.ts"
import { malformedXml, notImplemented, S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import { type CopyRange, Multipart } from "./Multipart.ts"
import { preconditionsOf, refusedWriteHeaders, requestAttributes, writeConditionsIn } from "./ObjectHeaders.ts"
import { uploadSizeProblem } from "./PayloadBody.ts"
import { Transfers } from "./Transfers.ts"
import { copySourceOf } from "../../domain/s3/CopySource.ts"

/** Is this one of the multipart operations (told apart from the others by their query parameters)? */
export const isMultipartRequest = (method: string, hasKey: boolean, params: URLSearchParams) =>
  hasKey
    ? (method === "POST" && (params.has("uploads") || params.has("uploadId"))) ||
      (params.has("uploadId") && (method === "PUT" || method === "GET" || method === "DELETE"))
    : method === "GET" && params.has("uploads")

/** `x-amz-copy-source-range: bytes=first-last` (both offsets required, inclusive). */
export const parseCopyRange = (value: string | undefined): CopyRange | S3Error => {
  if (value === undefined) return undefined
  const m = /^bytes=(\d+)-(\d+)$/.exec(value.trim())
  if (!m) {
    return s3Error("InvalidArgument", 400,
      "x-amz-copy-source-range must be of the form bytes=FIRST-LAST, the zero-based offsets of the first and last bytes to copy")
  }
  return [Number(m[1]), Number(m[2])]
}

/** An integer query parameter in [0, max], or `fallback` when absent. */
const intParam = (params: URLSearchParams, name: string, fallback: number, max: number): number | S3Error => {
  const text = params.get(name)
  if (text === null || text === "") return fallback
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) return s3Error("InvalidArgument", 400, `${name} must be a non-negative integer, got ${JSON.stringify(text)}`)
  return Math.min(n, max)
}

export interface MultipartRequest {
  readonly method: string
  readonly bucket: string
  readonly key: string
  readonly hasKey: boolean
  readonly params: URLSearchParams
  readonly headers: IncomingHttpHeaders
  readonly expectedSha256: string | undefined
  /** The request body as it arrives (UploadPart streams it into chunks). */
  readonly body: Stream.Stream<Uint8Array, S3Error>
  /** The body's size as the request declares it (PayloadBody's `declaredSize`). */
  readonly declaredSize: number | undefined
  /** Reads a small body whole (checking its signed hash), for the XML bodies and empty ones. */
  readonly readSmallBody: Effect.Effect<Buffer, S3Error>
  /** The body's verified x-amz-checksum-* as response headers (empty when none was sent), once it is consumed. */
  readonly checksumHeaders: () => Record<string, string>
  readonly reply: (status: number, headers: Record<string, string | number>, xml?: string) => Effect.Effect<HttpServerResponse>
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return typeof v === "string" ? v : v?.[0]
}

/** Serves CreateMultipartUpload, UploadPart(Copy), CompleteMultipartUpload, Abort, ListParts, ListMultipartUploads. */
export const multipartRoute = Effect.fn("Gateway.multipart")(function*(r: MultipartRequest) {
  const multipart = yield* Multipart
  const transfers = yield* Transfers
  const { bucket, key, params } = r

  if (!r.hasKey) {
    // ListMultipartUploads
    yield* r.readSmallBody
    const maxUploads = intParam(params, "max-uploads", 1000, 1000)
    if (maxUploads instanceof S3Error) return yield* maxUploads
    const encoding = params.get("encoding-type")
    if (encoding !== null && encoding !== "url") return yield* s3Error("InvalidArgument", 400, "encoding-type must be url")
    const prefix = params.get("prefix") ?? ""
    const delimiter = params.get("delimiter") || undefined
    const keyMarker = params.get("key-marker") ?? ""
    // S3 ignores upload-id-marker without key-marker.
    const uploadIdMarker = keyMarker === "" ? "" : (params.get("upload-id-marker") ?? "")
    const page = yield* multipart.listUploads(bucket, { prefix, delimiter, keyMarker, uploadIdMarker, maxUploads })
    return yield* r.reply(200, {}, listMultipartUploadsXml({
      bucket,
      prefix,
      delimiter,
      keyMarker,
      uploadIdMarker,
      maxUploads,
      urlEncoded: encoding === "url",
      next: page.next,
      uploads: page.uploads.map((u) => ({ key: u.key, uploadId: u.uploadId, initiatedAt: u.initiatedAt })),
      commonPrefixes: page.commonPrefixes
    }))
  }

  const uploadId = params.get("uploadId")
  if (r.method === "POST" && params.has("uploads")) {
    yield* r.readSmallBody
    const refused = refusedWriteHeaders(r.headers)
    if (refused !== undefined) return yield* refused
    const attributes = requestAttributes(r.headers)
    if (attributes instanceof S3Error) return yield* attributes
    const u = yield* multipart.create(bucket, key, attributes)
    return yield* r.reply(200, {}, initiateMultipartUploadXml({ bucket, key, uploadId: u.uploadId }))
  }
  if (uploadId === null) return yield* notImplemented(`${r.method} with these multipart parameters`)

  switch (r.method) {
    case "PUT": {
      const partNumberText = params.get("partNumber")
      const partNumber = partNumberText !== null && /^\d{1,6}$/.test(partNumberText) ? Number(partNumberText) : Number.NaN
      const copySource = header(r.headers, "x-amz-copy-source")
      if (copySource === undefined) {
        const sizeProblem = uploadSizeProblem(r.headers, r.declaredSize)
        if (sizeProblem !== undefined) return yield* sizeProblem
        const part = yield* transfers.hold(multipart.uploadPart(bucket, key, uploadId, partNumber, r.body, {
          expectedSha256: r.expectedSha256,
          contentMd5: header(r.headers, "content-md5")
        }))
        return yield* r.reply(200, { ETag: `"${part.etag}"`, ...r.checksumHeaders() })
      }
      yield* r.readSmallBody
      const conditions = preconditionsOf(r.headers, "x-amz-copy-source-")
      const source = copySourceOf(copySource)
      if (source instanceof S3Error) return yield* source
      const range = parseCopyRange(header(r.headers, "x-amz-copy-source-range"))
      if (range instanceof S3Error) return yield* range
      // Reads the source range ahead as a GET does: a large transfer too.
      const part = yield* transfers.hold(multipart.uploadPartCopy(bucket, key, uploadId, partNumber, source, range, conditions))
      return yield* r.reply(200, {}, copyPartResultXml({ etag: part.etag, modifiedAt: part.modifiedAt }))
    }
    case "POST": {
      const body = yield* r.readSmallBody
      const parts = parseCompleteMultipartUpload(body.toString("utf8"))
      if (typeof parts === "string") {
        return yield* malformedXml(parts)
      }
      const writeConditions = writeConditionsIn(r.headers)
      if (writeConditions instanceof S3Error) return yield* writeConditions
      const done = yield* multipart.complete(bucket, key, uploadId, parts, writeConditions)
      const host = header(r.headers, "host") ?? "localhost"
      return yield* r.reply(200, {}, completeMultipartUploadXml({
        location: `http://${host}/${encodeURIComponent(bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`,
        bucket,
        key,
        etag: done.etag
      }))
    }
    case "DELETE": {
      yield* r.readSmallBody
      yield* multipart.abort(bucket, key, uploadId)
      return yield* r.reply(204, {})
    }
    case "GET": {
      yield* r.readSmallBody
      const maxParts = intParam(params, "max-parts", 1000, 1000)
      if (maxParts instanceof S3Error) return yield* maxParts
      const marker = intParam(params, "part-number-marker", 0, Number.MAX_SAFE_INTEGER)
      if (marker instanceof S3Error) return yield* marker
      const page = yield* multipart.listParts(bucket, key, uploadId, marker, maxParts)
      return yield* r.reply(200, {}, listPartsXml({
        bucket,
        key,
        uploadId,
        partNumberMarker: marker,
        maxParts,
        nextPartNumberMarker: page.truncated ? page.parts[page.parts.length - 1]!.partNumber : undefined,
        parts: page.parts
      }))
    }
    default:
      return yield* notImplemented(`${r.method} with uploadId`)
  }
})
