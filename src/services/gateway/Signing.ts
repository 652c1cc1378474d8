import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto"
import { s3Error } from "../../domain/s3/S3Error.ts"

/** SigV4's hashing and HMAC steps on node:crypto, shared by header auth, presigned URLs and chunk signatures. */

export const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex")

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
export const signingKey = (secret: string, date: string, region: string, service: string): KeyObject => {
  // The key changes once a day per key pair and region: four HMACs per request showed in profiles.
  // Kept as a KeyObject: an HMAC keyed by a Buffer makes one internally each time (12 µs vs 2 µs here).
  const id = `${date}\n${region}\n${service}\n${secret}`
  const cached = signingKeys.get(id)
  if (cached !== undefined) return cached
  const kDate = createHmac("sha256", `AWS4${secret}`).update(date).digest()
  const kRegion = createHmac("sha256", kDate).update(region).digest()
  const kService = createHmac("sha256", kRegion).update(service).digest()
  const key = createSecretKey(createHmac("sha256", kService).update("aws4_request").digest())
  if (signingKeys.size >= 256) signingKeys.clear()
  signingKeys.set(id, key)
  return key
}
/** Derived signing keys by date, region, service and secret; bounded (cleared when full). */
const signingKeys = new Map<string, KeyObject>()

/** Constant-time comparison of a client's hex signature with the one we computed. */
export const signatureMatches = (givenHex: string, expected: Uint8Array) => {
  const given = Buffer.from(givenHex, "hex")
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Constant-time comparison of a digest we computed with the client's encoding of it (hex or base64). */
export const digestEquals = (computed: Uint8Array, given: string, encoding: "hex" | "base64") => {
  const g = Buffer.from(given, encoding)
  return g.length === computed.length && timingSafeEqual(g, computed)
}

export const signatureDoesNotMatch = () =>
  s3Error("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
