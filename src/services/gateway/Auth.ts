import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import * as SigV4 from "../../domain/s3/SigV4.ts"
import { notImplemented, s3Error, type S3Error } from "../../domain/s3/S3Error.ts"

/** How far a request's x-amz-date may be from our clock (S3's limit). */
export const maxSkewMs = 15 * 60 * 1000

export type Payload =
  | { readonly _tag: "Unsigned" }
  /** The body's SHA-256 must equal this (lower-case hex); the caller checks it as the body arrives. */
  | { readonly _tag: "Signed"; readonly sha256: string }

export interface AuthRequest {
  readonly method: string
  readonly rawPath: string
  readonly rawQuery: string
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
}

const header = (h: AuthRequest["headers"], name: string): string | undefined => {
  const v = h[name]
  return typeof v === "string" ? v : v?.[0]
}

export const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex")

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
export const signingKey = (secret: string, date: string, region: string, service: string) => {
  const kDate = createHmac("sha256", `AWS4${secret}`).update(date).digest()
  const kRegion = createHmac("sha256", kDate).update(region).digest()
  const kService = createHmac("sha256", kRegion).update(service).digest()
  return createHmac("sha256", kService).update("aws4_request").digest()
}

/**
 * Verifies a request signed with SigV4 in the Authorization header against `credentials`
 * (access key → secret). Returns how the payload is to be checked, or the S3 error to answer.
 * Streaming payloads (aws-chunked, chunk signatures, trailers) and presigned URLs are not
 * supported yet and answer NotImplemented.
 */
export const verifyRequest = (
  req: AuthRequest,
  credentials: ReadonlyMap<string, string>,
  now: number
): Payload | S3Error => {
  const authorization = header(req.headers, "authorization")
  if (authorization === undefined) {
    if (/(^|&)X-Amz-Signature=/i.test(req.rawQuery)) return notImplemented("Presigned URL authentication")
    return s3Error("AccessDenied", 403, "Anonymous requests are not allowed: sign the request with AWS Signature Version 4")
  }
  const auth = SigV4.parseAuthorization(authorization)
  if (auth === undefined) {
    return s3Error("AuthorizationHeaderMalformed", 400, "The authorization header is not a well-formed AWS4-HMAC-SHA256 header")
  }
  const secret = credentials.get(auth.accessKey)
  if (secret === undefined) {
    return s3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
  }
  const amzDate = header(req.headers, "x-amz-date")
  const at = amzDate === undefined ? undefined : SigV4.parseAmzDate(amzDate)
  if (amzDate === undefined || at === undefined) {
    return s3Error("AccessDenied", 403, "AWS authentication requires a valid x-amz-date header")
  }
  if (Math.abs(now - at) > maxSkewMs) {
    return s3Error("RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.")
  }
  if (auth.service !== "s3" || auth.date !== amzDate.slice(0, 8)) {
    return s3Error("AuthorizationHeaderMalformed", 400, "The credential scope does not match the request date or the s3 service")
  }
  if (!auth.signedHeaders.includes("host")) {
    return s3Error("AuthorizationHeaderMalformed", 400, "The host header must be signed")
  }
  const contentSha = header(req.headers, "x-amz-content-sha256")
  if (contentSha === undefined) {
    return s3Error("InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256")
  }
  const encoding = header(req.headers, "content-encoding") ?? ""
  if (contentSha.startsWith("STREAMING-") || /(^|,)\s*aws-chunked\s*(,|$)/i.test(encoding)) {
    return notImplemented(`Payload mode ${contentSha} (aws-chunked bodies)`)
  }
  if (contentSha !== "UNSIGNED-PAYLOAD" && !/^[0-9a-f]{64}$/.test(contentSha)) {
    return s3Error("InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest")
  }
  const canonical = SigV4.canonicalRequest({
    method: req.method,
    rawPath: req.rawPath,
    rawQuery: req.rawQuery,
    headers: req.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash: contentSha
  })
  const toSign = SigV4.stringToSign(amzDate, SigV4.credentialScope(auth), sha256Hex(canonical))
  const expected = createHmac("sha256", signingKey(secret, auth.date, auth.region, auth.service)).update(toSign).digest()
  const given = Buffer.from(auth.signature, "hex")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return s3Error("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
  }
  return contentSha === "UNSIGNED-PAYLOAD" ? { _tag: "Unsigned" } : { _tag: "Signed", sha256: contentSha }
}
