import { createHash, randomBytes } from "node:crypto"
import { Cause, Effect, Stream } from "effect"
import { HttpServerRequest } from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { evaluatePreconditions } from "../../domain/s3/Conditions.ts"
import { selectRange } from "../../domain/s3/ObjectRange.ts"
import { copyObjectResultXml, locationConstraintXml, parseCreateBucketConfiguration } from "../../domain/s3/OperationsXml.ts"
import { malformedXml, notImplemented, S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import { parseTaggingXml, taggingXml } from "../../domain/s3/Tagging.ts"
import { bucketSettings, objectSettings } from "../../domain/s3/UnconfiguredXml.ts"
import { errorXml, listBucketsXml, listObjectsV2Xml } from "../../domain/s3/Xml.ts"
import { verifyRequest } from "./Auth.ts"
import { copyObject } from "./CopyObject.ts"
import { deleteObjects } from "./DeleteObjects.ts"
import { listObjectsV1, listObjectVersions, listParamsOf, listV1Params, listVersionsParams } from "./ListObjectsV1.ts"
import { notModifiedHeaders, preconditionFailed, preconditionsOf, refusedWriteHeaders, requestAttributes, responseHeaders, responseOverrideParams, writeConditionsIn } from "./ObjectHeaders.ts"
import { isMultipartRequest, multipartRoute } from "./MultipartRoutes.ts"
import { Objects } from "./Objects.ts"
import { requestBody, uploadSizeProblem } from "./PayloadBody.ts"
import { digestEquals } from "./Signing.ts"
import { nodeResponse, releaseWhenWritten } from "./ReleaseWritten.ts"
import { largeBody, Transfers } from "./Transfers.ts"
import { addressOf } from "./VirtualHost.ts"

/** Bodies of requests other than PutObject (CreateBucket configuration…) are read whole up to this size. */
const smallBodyLimit = 1024 * 1024

/** Query parameters of ListObjectsV2 that this slice implements. */
const listParams = new Set(["list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type", "x-id"])

const decodeToken = (token: string): { after: string; skipPrefix: string | undefined } | undefined => {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { a?: unknown; p?: unknown }
    if (typeof v.a !== "string") return undefined
    return { after: v.a, skipPrefix: typeof v.p === "string" ? v.p : undefined }
  } catch {
    return undefined
  }
}
const encodeToken = (next: { after: string; skipPrefix: string | undefined }) =>
  Buffer.from(JSON.stringify(next.skipPrefix !== undefined ? { a: next.after, p: next.skipPrefix } : { a: next.after }), "utf8").toString("base64url")

/** Response headers as effect/http takes them: strings. */
const textHeaders = (h: Record<string, string | number>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name in h) out[name] = String(h[name])
  return out
}

/**
 * x-amz-request-id: a random per-process prefix and a counter — unique per process run and cheap
 * (a randomBytes call per request showed up in profiles of small requests).
 */
const requestIdPrefix = randomBytes(4).toString("hex").toUpperCase()
let requestCounter = 0
const nextRequestId = () => `${requestIdPrefix}${(requestCounter++).toString(16).toUpperCase().padStart(8, "0")}`

export interface GatewayOptions {
  /** Access key → secret key. */
  readonly credentials: ReadonlyMap<string, string>
  /** The region buckets report (GetBucketLocation, HeadBucket); default "us-east-1". */
  readonly region?: string
  /** Base domains served virtual-hosted-style: `Host: <bucket>.<domain>` addresses that bucket. */
  readonly virtualHosts?: ReadonlyArray<string>
}

/**
 * Serves one request of the S3 API (path-style and virtual-hosted-style) as an effect/http
 * handler. Never fails: S3 errors become XML error responses, anything unexpected a 500
 * InternalError. The server adapter (@effect/platform-node) drains or closes the connection when
 * a reply leaves the request body unread, interrupts the handler when the client goes away, and
 * cuts a response whose body stream fails after the headers went out.
 */
export const handleRequest = (options: GatewayOptions) => Effect.gen(function*() {
  const req = yield* HttpServerRequest
  const requestId = nextRequestId()
  const url = req.url
  const q = url.indexOf("?")
  const rawPath = q < 0 ? url : url.slice(0, q)
  const rawQuery = q < 0 ? "" : url.slice(q + 1)
  const method = req.method.toUpperCase()
  const header = (name: string): string | undefined => req.headers[name]

  const sendError = (e: S3Error) =>
    Effect.succeed(HttpServerResponse.text(method === "HEAD" ? "" : errorXml({ code: e.code, message: e.detail, resource: rawPath, requestId }), {
      status: e.status,
      contentType: "application/xml",
      headers: { "x-amz-request-id": requestId }
    }))

  const program = Effect.gen(function*() {
    const objects = yield* Objects
    const transfers = yield* Transfers
    const payload = verifyRequest({ method, rawPath, rawQuery, headers: req.headers }, options.credentials, Date.now())
    if (payload instanceof S3Error) return yield* payload
    const expectedSha256 = payload._tag === "Signed" ? payload.sha256 : undefined

    const address = addressOf(rawPath, header("host"), options.virtualHosts ?? [])
    if (address instanceof S3Error) return yield* address
    const { bucket, key } = address
    const hasKey = key !== ""
    const region = options.region ?? "us-east-1"
    const params = new URLSearchParams(rawQuery)
    // A presigned URL's X-Amz-* parameters are authentication, not part of the operation.
    // Buckets here are never versioned: every object is version "null" (S3's name for it), so
    // versionId=null on an object names the object itself.
    const names = [...params.keys()].filter((n) => !/^x-amz-/i.test(n) && !(n === "versionId" && params.get(n) === "null" && hasKey))

    const request = requestBody(payload, req.headers, req.stream.pipe(Stream.mapError((e) =>
      s3Error("IncompleteBody", 400, `The request body could not be read: ${e.message}`))))
    if (request instanceof S3Error) return yield* request
    const body = request.body
    /** The verified x-amz-checksum-* of the body, echoed like S3 does. */
    const checksumHeaders = (): Record<string, string> => {
      const c = request.checksum()
      return c !== undefined ? { [c.header]: c.value } : {}
    }

    // HTTP/1.1: without Content-Length or Transfer-Encoding a request has no body. Most GETs,
    // HEADs and DELETEs: nothing to read, so no stream is set up for them.
    const noBody = header("transfer-encoding") === undefined && (header("content-length") ?? "0") === "0"
    /** Reads a small body whole and checks the signed payload hash. */
    const readSmallBody = Effect.gen(function*() {
      const parts: Array<Uint8Array> = []
      let size = 0
      if (!noBody) yield* body.pipe(Stream.runForEach((b) => {
        size += b.length
        if (size > smallBodyLimit) return Effect.fail(s3Error("MaxMessageLengthExceeded", 400, "The request body is too large"))
        parts.push(b)
        return Effect.void
      }))
      const all = Buffer.concat(parts)
      if (expectedSha256 !== undefined && !digestEquals(createHash("sha256").update(all).digest(), expectedSha256, "hex")) {
        return yield* s3Error("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
      }
      return all
    })

    const reply = (status: number, headers: Record<string, string | number>, xml?: string) =>
      Effect.succeed(
        xml !== undefined
          ? HttpServerResponse.text(xml, { status, contentType: "application/xml", headers: textHeaders({ "x-amz-request-id": requestId, ...headers }) })
          : HttpServerResponse.empty({ status, headers: textHeaders({ "x-amz-request-id": requestId, "content-length": 0, ...headers }) })
      )

    if (bucket !== "" && isMultipartRequest(method, hasKey, params)) {
      return yield* multipartRoute({
        method, bucket, key, hasKey, params, headers: req.headers, expectedSha256, body, declaredSize: request.declaredSize, readSmallBody, reply, checksumHeaders
      })
    }

    if (bucket === "") {
      if (method === "GET" && names.every((n) => n === "x-id")) {
        yield* readSmallBody
        return yield* reply(200, {}, listBucketsXml(yield* objects.listBuckets))
      }
      return yield* notImplemented(`${method} on the service endpoint`)
    }

    // GET of a setting this gateway does not have: what S3 says of a bucket (object) where it was never set.
    const setting = method === "GET" ? names.filter((n) => n !== "x-id") : []
    const unconfigured = setting.length === 1 ? (hasKey ? objectSettings : bucketSettings).get(setting[0]!) : undefined
    if (unconfigured !== undefined) {
      yield* readSmallBody
      if (hasKey) yield* objects.headObject(bucket, key)
      else yield* objects.headBucket(bucket)
      return unconfigured._tag === "Body"
        ? yield* reply(200, {}, unconfigured.xml)
        : yield* s3Error(unconfigured.code, 404, unconfigured.detail)
    }

    if (!hasKey) {
      const only = (...allowed: Array<string>) => names.every((n) => allowed.includes(n))
      if (method === "GET" && params.has("location") && only("location", "x-id")) {
        yield* readSmallBody
        yield* objects.headBucket(bucket)
        return yield* reply(200, {}, locationConstraintXml(region))
      }
      if (method === "GET" && params.has("versions")) {
        const unknown = names.filter((n) => !listVersionsParams.has(n))
        if (unknown.length > 0) return yield* notImplemented(`GET on a bucket with ?${unknown.join("&")}`)
        yield* readSmallBody
        return yield* reply(200, {}, yield* listObjectVersions(objects, bucket, params))
      }
      if (method === "POST" && params.has("delete") && only("delete", "x-id")) {
        const xml = yield* deleteObjects(objects, bucket, yield* readSmallBody, header("content-md5"))
        return yield* reply(200, {}, xml)
      }
      if (method === "GET" && params.get("list-type") !== "2") {
        const unknown = names.filter((n) => !listV1Params.has(n))
        if (unknown.length > 0) return yield* notImplemented(`GET on a bucket with ?${unknown.join("&")}`)
        yield* readSmallBody
        return yield* reply(200, {}, yield* listObjectsV1(objects, bucket, params))
      }
      const unsupported = names.filter((n) => !(method === "GET" ? listParams : new Set(["x-id"])).has(n))
      if (unsupported.length > 0) return yield* notImplemented(`${method} with ?${unsupported.join("&")}`)
      switch (method) {
        case "PUT": {
          const configuration = parseCreateBucketConfiguration(Buffer.from(yield* readSmallBody).toString("utf8"))
          if (typeof configuration === "string") {
            return yield* malformedXml(configuration)
          }
          // One region here: a bucket asked for elsewhere would report this one and hold its data here.
          const constraint = configuration.locationConstraint
          if (constraint !== "" && constraint !== region && !(region === "us-east-1" && constraint === "US")) {
            return yield* s3Error("IllegalLocationConstraintException", 400,
              `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to (${region}): leave it out, or give ${region}`)
          }
          yield* objects.createBucket(bucket)
          return yield* reply(200, { Location: `/${bucket}` })
        }
        case "HEAD": {
          yield* readSmallBody
          yield* objects.headBucket(bucket)
          return yield* reply(200, { "x-amz-bucket-region": region })
        }
        case "DELETE": {
          yield* readSmallBody
          yield* objects.deleteBucket(bucket)
          return yield* reply(204, {})
        }
        case "GET": {
          yield* readSmallBody
          const common = listParamsOf(params)
          if (common instanceof S3Error) return yield* common
          const { encodingType, maxKeys, prefix, delimiter } = common
          const token = params.get("continuation-token") ?? undefined
          const startAfter = params.get("start-after") ?? undefined
          let after: string | undefined
          let skipPrefix: string | undefined
          if (token !== undefined) {
            const t = decodeToken(token)
            if (!t) return yield* s3Error("InvalidArgument", 400, "The continuation token provided is incorrect")
            after = t.after
            skipPrefix = t.skipPrefix
          } else if (startAfter !== undefined) {
            after = startAfter
          }
          const page = yield* objects.listObjects(bucket, { prefix, delimiter, maxKeys: Math.min(maxKeys, 1000), after, skipPrefix })
          return yield* reply(200, {}, listObjectsV2Xml({
            bucket,
            prefix,
            delimiter,
            maxKeys: Math.min(maxKeys, 1000),
            continuationToken: token,
            startAfter,
            nextContinuationToken: page.next ? encodeToken(page.next) : undefined,
            contents: page.contents.map((c) => ({ key: c.key, modifiedAt: c.modifiedAt, etag: c.etag, size: c.size })),
            commonPrefixes: page.commonPrefixes,
            fetchOwner: params.get("fetch-owner") === "true",
            encodingType
          }))
        }
        default:
          return yield* notImplemented(`${method} on a bucket`)
      }
    }

    // Object tagging: GET, PUT and DELETE of ?tagging.
    if (params.has("tagging") && names.every((n) => n === "tagging" || n === "x-id")) {
      switch (method) {
        case "GET": {
          yield* readSmallBody
          return yield* reply(200, {}, taggingXml((yield* objects.headObject(bucket, key)).headers.tags ?? []))
        }
        case "PUT": {
          const tags = parseTaggingXml(Buffer.from(yield* readSmallBody).toString("utf8"))
          if (!Array.isArray(tags)) {
            const refused = tags as { readonly malformed: boolean; readonly problem: string }
            return yield* refused.malformed
              ? malformedXml(refused.problem)
              : s3Error("InvalidTag", 400, refused.problem)
          }
          yield* objects.setTags(bucket, key, tags)
          return yield* reply(200, {})
        }
        case "DELETE": {
          yield* readSmallBody
          yield* objects.setTags(bucket, key, [])
          return yield* reply(204, {})
        }
        default:
          return yield* notImplemented(`${method} with ?tagging`)
      }
    }

    const unsupported = names.filter((n) =>
      n !== "x-id" && !((method === "GET" || method === "HEAD") && (responseOverrideParams.has(n) || n === "partNumber")))
    if (unsupported.length > 0) return yield* notImplemented(`${method} with ?${unsupported.join("&")}`)
    switch (method) {
      case "PUT": {
        const refused = refusedWriteHeaders(req.headers)
        if (refused !== undefined) return yield* refused
        if (header("x-amz-copy-source") !== undefined) {
          yield* readSmallBody
          const copy = yield* copyObject(objects, req.headers, bucket, key)
          return yield* reply(200, {}, copyObjectResultXml(copy))
        }
        const sizeProblem = uploadSizeProblem(req.headers, request.declaredSize)
        if (sizeProblem !== undefined) return yield* sizeProblem
        const attributes = requestAttributes(req.headers)
        if (attributes instanceof S3Error) return yield* attributes
        const conditions = writeConditionsIn(req.headers)
        if (conditions instanceof S3Error) return yield* conditions
        const put = objects.putObject(bucket, key, body, {
          ...attributes,
          conditions,
          expectedSha256,
          contentMd5: header("content-md5"),
          checksum: request.checksum
        })
        // A body of unknown size counts as large.
        const o = yield* ((request.declaredSize ?? largeBody) < largeBody ? put : transfers.hold(put))
        return yield* reply(200, { ETag: `"${o.etag}"`, ...checksumHeaders() })
      }
      case "HEAD":
      case "GET": {
        yield* readSmallBody
        const o = yield* objects.headObject(bucket, key)
        const condition = evaluatePreconditions(preconditionsOf(req.headers, ""), o.etag, o.modifiedAt)
        if (condition === "failed") return yield* preconditionFailed()
        if (condition === "not-modified") return yield* reply(304, notModifiedHeaders(o))
        const headers = responseHeaders(o, params)
        if (headers instanceof S3Error) return yield* headers
        const range = selectRange(params.get("partNumber") ?? undefined, header("range"), o.size, o.partSizes)
        if (range instanceof S3Error) return yield* range
        const { start, last } = range ?? { start: 0, last: o.size - 1 }
        const length = Math.max(0, last - start + 1)
        const h: Record<string, string | number> = { "x-amz-request-id": requestId, ...headers }
        // An empty object has no byte to name: its part 1 is the whole (empty) object, as a 200.
        const partial = range !== undefined && length > 0
        if (partial) h["Content-Range"] = `bytes ${start}-${last}/${o.size}`
        if (range?.partsCount !== undefined) h["x-amz-mp-parts-count"] = range.partsCount
        // Like S3: the stored checksum covers the whole object, so only whole-object reads carry it.
        if (!partial && o.checksum !== undefined && header("x-amz-checksum-mode")?.toUpperCase() === "ENABLED") {
          h[`x-amz-checksum-${o.checksum.algorithm.toLowerCase()}`] = o.checksum.value
          h["x-amz-checksum-type"] = "FULL_OBJECT"
        }
        const status = partial ? 206 : 200
        if (method === "HEAD" || length === 0) {
          return HttpServerResponse.empty({ status, headers: textHeaders({ ...h, "content-length": length }) })
        }
        // A small object's bytes are at hand: sent whole, without a stream per request.
        if (o.inline !== undefined) {
          return HttpServerResponse.uint8Array(o.inline.subarray(start, last + 1), { status, headers: textHeaders(h) })
        }
        const res = nodeResponse(req)
        let stream = releaseWhenWritten(res, objects.readRange(o, start, last))
        if (res !== undefined) {
          // The turn is taken before the headers go out, so a GET that gets none in time can still
          // be answered SlowDown. It is given back when the body ends, or when the response closes
          // (the body may never run: the client went away first).
          let done = () => {}
          yield* transfers.take((d) => {
            done = d
            res.once("close", d)
          })
          stream = stream.pipe(Stream.ensuring(Effect.sync(() => done())))
        } else {
          stream = transfers.holdStream(stream)
        }
        return HttpServerResponse.stream(stream, { status, headers: textHeaders(h), contentLength: length })
      }
      case "DELETE": {
        yield* readSmallBody
        yield* objects.deleteObject(bucket, key)
        return yield* reply(204, {})
      }
      default:
        return yield* notImplemented(`${method} on an object`)
    }
  })

  return yield* program.pipe(
    Effect.catchTag("S3Error", sendError),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.andThen(
          Effect.logError(`gateway: ${method} ${rawPath}: ${Cause.pretty(cause)}`),
          sendError(s3Error("InternalError", 500, "We encountered an internal error. Please try again."))
        )
    )
  )
})
