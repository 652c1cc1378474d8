/**
 * HTTP preconditions of GetObject/HeadObject (If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since) and of CopyObject (the same four as x-amz-copy-source-if-*), with S3's
 * precedence: a true If-Match makes If-Unmodified-Since irrelevant, a false If-None-Match makes
 * If-Modified-Since irrelevant (RFC 9110 §13.2.2).
 */

export interface Preconditions {
  readonly ifMatch: string | undefined
  readonly ifNoneMatch: string | undefined
  readonly ifModifiedSince: string | undefined
  readonly ifUnmodifiedSince: string | undefined
}

/**
 * "proceed"; "failed": 412 PreconditionFailed; "not-modified": 304 for GET/HEAD (CopyObject
 * answers 412 for it too, as S3 does).
 */
export type PreconditionOutcome = "proceed" | "failed" | "not-modified"

/** Does an If-Match / If-None-Match list (`"a", W/"b"` or `*`) name this ETag (hex, unquoted)? */
export const etagListMatches = (list: string, etag: string): boolean =>
  list.split(",").some((item) => {
    const t = item.trim()
    if (t === "*") return true
    const unweak = t.startsWith("W/") ? t.slice(2) : t
    const bare = unweak.startsWith("\"") && unweak.endsWith("\"") && unweak.length >= 2 ? unweak.slice(1, -1) : unweak
    return bare === etag
  })

/** An HTTP date in milliseconds, or undefined when it does not parse (the header is then ignored, as RFC 9110 says). */
export const parseHttpDate = (value: string): number | undefined => {
  const ms = Date.parse(value.trim())
  return Number.isNaN(ms) ? undefined : ms
}

/**
 * Evaluates the preconditions against an object's ETag and modification time (ms). Last-Modified
 * is sent with one-second precision, so the comparison uses whole seconds: a client that echoes
 * the Last-Modified it got must see the object as unmodified.
 */
export const evaluatePreconditions = (p: Preconditions, etag: string, modifiedAtMs: number): PreconditionOutcome => {
  const modifiedSec = Math.floor(modifiedAtMs / 1000) * 1000
  if (p.ifMatch !== undefined) {
    if (!etagListMatches(p.ifMatch, etag)) return "failed"
  } else if (p.ifUnmodifiedSince !== undefined) {
    const since = parseHttpDate(p.ifUnmodifiedSince)
    if (since !== undefined && modifiedSec > since) return "failed"
  }
  if (p.ifNoneMatch !== undefined) {
    if (etagListMatches(p.ifNoneMatch, etag)) return "not-modified"
  } else if (p.ifModifiedSince !== undefined) {
    const since = parseHttpDate(p.ifModifiedSince)
    if (since !== undefined && modifiedSec <= since) return "not-modified"
  }
  return "proceed"
}

/**
 * S3's conditional writes (PutObject, CompleteMultipartUpload): `If-None-Match: *` writes only
 * where no object has the key, `If-Match: "etag"` only over the object with that ETag.
 */
export interface WriteConditions {
  readonly ifNoneMatch: boolean
  readonly ifMatch: string | undefined
}

export const noWriteConditions: WriteConditions = { ifNoneMatch: false, ifMatch: undefined }

/** The write conditions of a request's headers, or the S3 error code, status and message for a value S3 refuses. */
export const writeConditionsOf = (
  ifNoneMatch: string | undefined,
  ifMatch: string | undefined
): WriteConditions | { readonly code: string; readonly status: number; readonly detail: string } => {
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== "*") {
    return { code: "NotImplemented", status: 501, detail: "A header you provided implies functionality that is not implemented: If-None-Match on a write takes only *" }
  }
  return { ifNoneMatch: ifNoneMatch !== undefined, ifMatch }
}

/**
 * Whether a write under `c` may replace `current` (the object now at the key, if any): "proceed",
 * "exists" (If-None-Match: *, 412), "missing" (If-Match with no object, 404 NoSuchKey) or
 * "changed" (If-Match naming another ETag, 412).
 */
export const evaluateWriteConditions = (c: WriteConditions, current: { readonly etag: string } | undefined): "proceed" | "exists" | "missing" | "changed" => {
  if (c.ifNoneMatch && current !== undefined) return "exists"
  if (c.ifMatch !== undefined) {
    if (current === undefined) return "missing"
    if (!etagListMatches(c.ifMatch, current.etag)) return "changed"
  }
  return "proceed"
}
