import type { IncomingHttpHeaders } from "node:http"
import { type Preconditions, type WriteConditions, writeConditionsOf } from "../../domain/s3/Conditions.ts"
import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import { parseTaggingHeader, type Tags } from "../../domain/s3/Tagging.ts"
import type { KeptHeaders, ObjectAttributes, ObjectRow } from "./Objects.ts"

/**
 * The headers of an object on the wire: what PutObject (and CopyObject with REPLACE) keeps from
 * the request, what GET/HEAD send back (with the `response-*` overrides), and the preconditions.
 */

export const headerOf = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return typeof v === "string" ? v : v?.[0]
}

/** Node decodes header bytes as latin1; S3 metadata and header values are UTF-8. */
export const utf8Header = (v: string) => Buffer.from(v, "latin1").toString("utf8")
export const latin1Header = (v: string) => Buffer.from(v, "utf8").toString("latin1")

/** S3's limit on user metadata: the UTF-8 bytes of every name (without `x-amz-meta-`) and value. */
export const maxMetadataBytes = 2048

/** Request header → field of KeptHeaders. */
const kept = [
  ["content-encoding", "contentEncoding"],
  ["content-disposition", "contentDisposition"],
  ["cache-control", "cacheControl"],
  ["content-language", "contentLanguage"],
  ["expires", "expires"]
] as const

/**
 * Content-Type, the kept headers and `x-amz-meta-*` of a PutObject / CopyObject (REPLACE).
 * Fails with MetadataTooLarge over 2 KB of user metadata, before any byte of the body is stored.
 */
export const requestAttributes = (headers: IncomingHttpHeaders): ObjectAttributes | S3Error => {
  const meta: Array<readonly [string, string]> = []
  let metaBytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-amz-meta-") && value !== undefined) {
      const entry = [name.slice("x-amz-meta-".length), utf8Header(Array.isArray(value) ? value.join(",") : value)] as const
      metaBytes += Buffer.byteLength(entry[0]) + Buffer.byteLength(entry[1])
      meta.push(entry)
    }
  }
  if (metaBytes > maxMetadataBytes) {
    return s3Error("MetadataTooLarge", 400, `Your metadata headers exceed the maximum allowed metadata size: ${metaBytes} bytes of x-amz-meta-* names and values, at most ${maxMetadataBytes} are allowed`)
  }
  meta.sort((a, b) => (a[0] < b[0] ? -1 : 1))
  const h: { -readonly [K in keyof KeptHeaders]: KeptHeaders[K] } = {}
  for (const [name, field] of kept) {
    const v = headerOf(headers, name)
    if (v !== undefined) h[field] = utf8Header(v)
  }
  // `aws-chunked` describes this request's framing, not the object (S3 does not store it either).
  if (h.contentEncoding !== undefined) {
    const rest = h.contentEncoding.split(",").map((s) => s.trim()).filter((s) => s !== "" && s.toLowerCase() !== "aws-chunked")
    if (rest.length > 0) h.contentEncoding = rest.join(", ")
    else delete h.contentEncoding
  }
  const tags = requestTags(headers)
  if (!Array.isArray(tags)) return tags as S3Error
  if (tags.length > 0) h.tags = tags
  const contentType = headerOf(headers, "content-type")
  return { contentType: contentType !== undefined ? utf8Header(contentType) : undefined, meta, headers: h }
}

/** The tags of `x-amz-tagging` (none without it), or S3's refusal of them. */
export const requestTags = (headers: IncomingHttpHeaders): Tags | S3Error => {
  const v = headerOf(headers, "x-amz-tagging")
  if (v === undefined) return []
  const tags = parseTaggingHeader(utf8Header(v))
  return "problem" in tags ? s3Error("InvalidTag", 400, tags.problem) : tags
}

/** `response-*` query parameter → the response header it overrides on GET/HEAD. */
const overrides = [
  ["response-content-type", "Content-Type"],
  ["response-content-language", "Content-Language"],
  ["response-expires", "Expires"],
  ["response-cache-control", "Cache-Control"],
  ["response-content-disposition", "Content-Disposition"],
  ["response-content-encoding", "Content-Encoding"]
] as const

export const responseOverrideParams: ReadonlySet<string> = new Set(overrides.map(([p]) => p))

/** Headers of a GET/HEAD answer: the object's, then the `response-*` overrides of the query. */
export const responseHeaders = (o: ObjectRow, params: URLSearchParams): Record<string, string> | S3Error => {
  const h: Record<string, string> = {
    "ETag": `"${o.etag}"`,
    "Last-Modified": new Date(o.modifiedAt).toUTCString(),
    "Content-Type": latin1Header(o.contentType ?? "binary/octet-stream"),
    "Accept-Ranges": "bytes"
  }
  if (o.headers.contentEncoding !== undefined) h["Content-Encoding"] = latin1Header(o.headers.contentEncoding)
  if (o.headers.contentDisposition !== undefined) h["Content-Disposition"] = latin1Header(o.headers.contentDisposition)
  if (o.headers.cacheControl !== undefined) h["Cache-Control"] = latin1Header(o.headers.cacheControl)
  if (o.headers.contentLanguage !== undefined) h["Content-Language"] = latin1Header(o.headers.contentLanguage)
  if (o.headers.expires !== undefined) h["Expires"] = latin1Header(o.headers.expires)
  for (const [k, v] of o.meta) h[`x-amz-meta-${k}`] = latin1Header(v)
  if (o.headers.tags !== undefined && o.headers.tags.length > 0) h["x-amz-tagging-count"] = String(o.headers.tags.length)
  for (const [param, name] of overrides) {
    const v = params.get(param)
    if (v === null) continue
    // Node refuses control characters in header values; say so instead of failing the response.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v)) return s3Error("InvalidArgument", 400, `${param} must not contain control characters`)
    h[name] = latin1Header(v)
  }
  return h
}

/** A 304 carries the validators and the caching headers (RFC 9110 §15.4.5), no content headers. */
export const notModifiedHeaders = (o: ObjectRow): Record<string, string> => ({
  "ETag": `"${o.etag}"`,
  "Last-Modified": new Date(o.modifiedAt).toUTCString(),
  ...(o.headers.cacheControl !== undefined ? { "Cache-Control": latin1Header(o.headers.cacheControl) } : {}),
  ...(o.headers.expires !== undefined ? { "Expires": latin1Header(o.headers.expires) } : {})
})

/** The conditional headers of GET/HEAD (`prefix` ""), or of CopyObject's source (`x-amz-copy-source-`). */
export const preconditionsOf = (headers: IncomingHttpHeaders, prefix: "" | "x-amz-copy-source-"): Preconditions => ({
  ifMatch: headerOf(headers, `${prefix}if-match`),
  ifNoneMatch: headerOf(headers, `${prefix}if-none-match`),
  ifModifiedSince: headerOf(headers, `${prefix}if-modified-since`),
  ifUnmodifiedSince: headerOf(headers, `${prefix}if-unmodified-since`)
})

/**
 * Write headers that ask for something this gateway does not do, refused rather than ignored: a
 * client that asked for object lock (WORM, against ransomware), its own encryption key (SSE-C) or
 * a colder storage class must not go on believing it has them. SSE-S3 (`AES256`) is what every
 * object gets anyway (AES-256-GCM under the repository's keys), so it is accepted.
 */
export const refusedWriteHeaders = (headers: IncomingHttpHeaders): S3Error | undefined => {
  const lock = ["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"].find((h) => headers[h] !== undefined)
  if (lock !== undefined) return s3Error("InvalidRequest", 400, `Bucket is missing Object Lock Configuration (${lock}): this gateway has no object lock`)
  const customer = Object.keys(headers).find((h) => h.startsWith("x-amz-server-side-encryption-customer-") || h.startsWith("x-amz-copy-source-server-side-encryption-customer-"))
  if (customer !== undefined) {
    return s3Error("NotImplemented", 501, `A header you provided implies functionality that is not implemented: SSE-C (${customer}); every object is encrypted with the repository's keys`)
  }
  /*
   * Storage classes: chunks are shared between objects (dedup), so one object's chunks cannot be
   * put in a class of their own, and an object the gateway reported as STANDARD could then be
   * unreadable until thawed. Every object is in the providers' class (their storage_class in
   * enigma.toml); MinIO refuses the classes it has not got the same way.
   */
  const storageClass = headerOf(headers, "x-amz-storage-class")
  if (storageClass !== undefined && storageClass !== "STANDARD") {
    return s3Error("InvalidStorageClass", 400, `The storage class you specified is not valid: ${storageClass}; this gateway keeps every object in its providers' storage class (storage_class in enigma.toml) and takes only STANDARD`)
  }
  const sse = headerOf(headers, "x-amz-server-side-encryption")
  if (sse !== undefined && sse !== "AES256") {
    return s3Error("NotImplemented", 501, `A header you provided implies functionality that is not implemented: x-amz-server-side-encryption ${sse} (only AES256: every object is encrypted with the repository's keys)`)
  }
  return undefined
}

/** The conditions of a write (PutObject, CopyObject's destination, CompleteMultipartUpload), or S3's refusal of them. */
export const writeConditionsIn = (headers: IncomingHttpHeaders): WriteConditions | S3Error => {
  const c = writeConditionsOf(headerOf(headers, "if-none-match"), headerOf(headers, "if-match"))
  return "code" in c ? s3Error(c.code, c.status, c.detail) : c
}

export const preconditionFailed = () => s3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
