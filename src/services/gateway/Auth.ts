import { createHmac } from "node:crypto"
import * as SigV4 from "../../domain/s3/SigV4.ts"
import { streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer } from "../../domain/s3/AwsChunked.ts"
import { notImplemented, s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import type { ChunkSigning } from "./AwsChunked.ts"
import { verifyPresigned } from "./Presigned.ts"
import { sha256Hex, signatureDoesNotMatch, signatureMatches, signingKey } from "./Signing.ts"

export { sha256Hex, signingKey }

/** How far a request's x-amz-date may be from our clock (S3's limit). */
export const maxSkewMs = 15 * 60 * 1000

/**
 * A request signed with Signature Version 2 (an `AWS key:signature` header, or a URL with
 * AWSAccessKeyId and Signature, which is what aws-cli v1's `s3 presign` makes by default): S3's
 * answer where SigV2 is retired, and what to change in the client.
 */
const signatureV2Refused = s3Error("InvalidRequest", 400,
  "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256 " +
    "(aws-cli v1: `aws configure set default.s3.signature_version s3v4`; s3cmd: signature_v2 = False)")

export type Payload =
  | { readonly _tag: "Unsigned" }
  /** The body's SHA-256 must equal this (lower-case hex); the caller checks it as the body arrives. */
  | { readonly _tag: "Signed"; readonly sha256: string }
  /**
   * An aws-chunked body (services/gateway/AwsChunked.ts). `signing` is set when every chunk is
   * signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]); `trailer` when trailers follow the
   * final chunk (…-TRAILER modes, signed ones with an x-amz-trailer-signature).
   */
  | { readonly _tag: "Chunked"; readonly signing: ChunkSigning | undefined; readonly trailer: boolean }

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

/**
 * Verifies a request signed with SigV4 in the Authorization header against `credentials`
 * (access key → secret). Returns how the payload is to be checked, or the S3 error to answer.
 * Requests without an Authorization header may be presigned URLs (Presigned.ts).
 */
export const verifyRequest = (
  req: AuthRequest,
  credentials: ReadonlyMap<string, string>,
  now: number
): Payload | S3Error => {
  const authorization = header(req.headers, "authorization")
  if (authorization === undefined) {
    if (/(^|&)X-Amz-(Signature|Algorithm|Credential)=/i.test(req.rawQuery)) return verifyPresigned(req, credentials, now)
    if (/(^|&)(AWSAccessKeyId|Signature)=/.test(req.rawQuery)) return signatureV2Refused
    return s3Error("AccessDenied", 403, "Anonymous requests are not allowed: sign the request with AWS Signature Version 4")
  }
  if (/^AWS [^\s:]+:/.test(authorization)) return signatureV2Refused
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
  const streaming = contentSha === streamingSigned || contentSha === streamingSignedTrailer || contentSha === streamingUnsignedTrailer
  if (!streaming && contentSha.startsWith("STREAMING-")) {
    return notImplemented(`Payload mode ${contentSha} (use ${streamingSigned}, ${streamingSignedTrailer} or ${streamingUnsignedTrailer})`)
  }
  if (!streaming && contentSha !== "UNSIGNED-PAYLOAD" && !/^[0-9a-f]{64}$/.test(contentSha)) {
    return s3Error("InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a SHA-256 hex digest or a STREAMING-* aws-chunked mode")
  }
  const canonical = SigV4.canonicalRequest({
    method: req.method,
    rawPath: req.rawPath,
    rawQuery: req.rawQuery,
    headers: req.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash: contentSha
  })
  const scope = SigV4.credentialScope(auth)
  const toSign = SigV4.stringToSign(amzDate, scope, sha256Hex(canonical))
  const key = signingKey(secret, auth.date, auth.region, auth.service)
  if (!signatureMatches(auth.signature, createHmac("sha256", key).update(toSign).digest())) return signatureDoesNotMatch()
  if (streaming) {
    return {
      _tag: "Chunked",
      signing: contentSha === streamingUnsignedTrailer ? undefined : { key, amzDate, scope, seed: auth.signature },
      trailer: contentSha !== streamingSigned
    }
  }
  return contentSha === "UNSIGNED-PAYLOAD" ? { _tag: "Unsigned" } : { _tag: "Signed", sha256: contentSha }
}
