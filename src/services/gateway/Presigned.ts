import { createHmac } from "node:crypto"
import { streamingSigned } from "../../domain/s3/AwsChunked.ts"
import * as SigV4 from "../../domain/s3/SigV4.ts"
import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import type { AuthRequest, Payload } from "./Auth.ts"
import { sha256Hex, signatureDoesNotMatch, signatureMatches, signingKey } from "./Signing.ts"

/** S3's longest presigned-URL lifetime: seven days. */
export const maxExpiresSeconds = 604800

/** How far in the future a presigned URL's X-Amz-Date may lie (the header-auth clock skew). */
const maxFutureMs = 15 * 60 * 1000

const queryError = (detail: string) => s3Error("AuthorizationQueryParametersError", 400, detail)

const required = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"] as const

/**
 * Verifies a presigned URL (SigV4 query-string authentication, "Authenticating Requests: Using
 * Query Parameters" in the S3 API reference). The canonical query is every parameter but
 * X-Amz-Signature; the payload is UNSIGNED-PAYLOAD unless the URL signed a hash.
 */
export const verifyPresigned = (req: AuthRequest, credentials: ReadonlyMap<string, string>, now: number): Payload | S3Error => {
  const params = new URLSearchParams(req.rawQuery)
  const get = (name: string) => params.get(name) ?? undefined
  if (required.some((name) => get(name) === undefined)) {
    return queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
  }
  if (get("X-Amz-Algorithm") !== SigV4.algorithm) return queryError(`X-Amz-Algorithm only supports "${SigV4.algorithm}"`)
  const scope = get("X-Amz-Credential")!.split("/")
  if (scope.length !== 5 || scope[4] !== "aws4_request" || scope[0] === "" || !/^\d{8}$/.test(scope[1]!)) {
    return queryError("Error parsing the X-Amz-Credential parameter: expected ACCESS-KEY/YYYYMMDD/REGION/s3/aws4_request")
  }
  const [accessKey, date, region, service] = scope as [string, string, string, string]
  const amzDate = get("X-Amz-Date")!
  const at = SigV4.parseAmzDate(amzDate)
  if (at === undefined) return queryError("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'")
  const expiresText = get("X-Amz-Expires")!
  const expires = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN
  if (!(expires >= 1 && expires <= maxExpiresSeconds)) {
    return queryError(`X-Amz-Expires must be a number of seconds from 1 to ${maxExpiresSeconds} (seven days)`)
  }
  const signature = get("X-Amz-Signature")!
  if (!/^[0-9a-f]{64}$/.test(signature)) return queryError("X-Amz-Signature must be 64 lower-case hex digits")
  const signedHeaders = get("X-Amz-SignedHeaders")!.split(";").filter((h) => h !== "")
  if (!signedHeaders.includes("host")) return queryError("The host header must be signed (X-Amz-SignedHeaders)")
  const secret = credentials.get(accessKey)
  if (secret === undefined) return s3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
  if (service !== "s3" || date !== amzDate.slice(0, 8)) {
    return queryError("The credential scope of X-Amz-Credential does not match X-Amz-Date or the s3 service")
  }
  if (at - now > maxFutureMs) return s3Error("AccessDenied", 403, "Request is not valid yet")
  if (now > at + expires * 1000) return s3Error("AccessDenied", 403, "Request has expired")

  const headerSha = req.headers["x-amz-content-sha256"]
  // Signers hoist the x-amz-content-sha256 header into the query in whatever case it was written.
  const querySha = [...params].find(([name]) => name.toLowerCase() === "x-amz-content-sha256")?.[1]
  const payloadHash = querySha ?? (typeof headerSha === "string" ? headerSha : headerSha?.[0]) ?? "UNSIGNED-PAYLOAD"
  if (payloadHash.startsWith("STREAMING-")) {
    return s3Error("InvalidRequest", 400, `A presigned URL cannot carry an aws-chunked body (${streamingSigned} and similar need the Authorization header)`)
  }
  if (payloadHash !== "UNSIGNED-PAYLOAD" && !/^[0-9a-f]{64}$/.test(payloadHash)) {
    return s3Error("InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest")
  }
  // X-Amz-Signature is the one parameter left out of what was signed.
  const signedQuery = req.rawQuery.split("&").filter((p) => !p.startsWith("X-Amz-Signature=")).join("&")
  const canonical = SigV4.canonicalRequest({
    method: req.method,
    rawPath: req.rawPath,
    rawQuery: signedQuery,
    headers: req.headers,
    signedHeaders,
    payloadHash
  })
  const toSign = SigV4.stringToSign(amzDate, SigV4.credentialScope({ date, region, service }), sha256Hex(canonical))
  const expected = createHmac("sha256", signingKey(secret, date, region, service)).update(toSign).digest()
  if (!signatureMatches(signature, expected)) return signatureDoesNotMatch()
  return payloadHash === "UNSIGNED-PAYLOAD" ? { _tag: "Unsigned" } : { _tag: "Signed", sha256: payloadHash }
}
