import { assert, describe, it } from "@effect/vitest"
import { S3RequestPresigner } from "@aws-sdk/s3-request-presigner"
import { SignatureV4 } from "@smithy/signature-v4"
import { verifyRequest } from "../../src/services/gateway/Auth.ts"
import { NodeSha256 } from "../support/nodeSha256.ts"

const keys = new Map([["AK", "secret/with+chars"]])
const signedAt = Date.UTC(2026, 0, 15, 12, 0, 0)
const presigner = new S3RequestPresigner({ region: "us-east-1", credentials: { accessKeyId: "AK", secretAccessKey: "secret/with+chars" }, sha256: NodeSha256 })
/** The bare signer, to presign with a payload mode the S3 presigner would not choose. */
const signer = new SignatureV4({ service: "s3", region: "us-east-1", credentials: { accessKeyId: "AK", secretAccessKey: "secret/with+chars" }, sha256: NodeSha256, uriEscapePath: false })

/** A URL presigned by @aws-sdk/s3-request-presigner (or the bare signer, `raw`), as the gateway sees it. */
const presign = async (method: string, path: string, expiresIn: number, headers: Record<string, string> = {}, query: Record<string, string> = {}, raw = false) => {
  const signed = await (raw ? signer : presigner).presign(
    { method, protocol: "http:", hostname: "127.0.0.1", port: 8333, path, query, headers: { host: "127.0.0.1:8333", ...headers } },
    { expiresIn, signingDate: new Date(signedAt) }
  )
  const rawQuery = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&")
  return { method, rawPath: path, rawQuery, headers: { host: "127.0.0.1:8333" } as Record<string, string> }
}
const code = (r: unknown) => (r as { code?: string }).code ?? (r as { _tag: string })._tag
const detail = (r: unknown) => (r as { detail?: string }).detail

describe("presigned URLs", () => {
  it("accept a valid URL until it expires, and not before it is valid", async () => {
    const req = await presign("GET", "/bucket/some%20key", 300, {}, { "x-id": "GetObject" })
    assert.include(req.rawQuery, "X-Amz-Expires=300")
    assert.deepStrictEqual(verifyRequest(req, keys, signedAt), { _tag: "Unsigned" })
    assert.deepStrictEqual(verifyRequest(req, keys, signedAt + 300_000), { _tag: "Unsigned" })
    const late = verifyRequest(req, keys, signedAt + 300_001)
    assert.strictEqual(code(late), "AccessDenied")
    assert.strictEqual(detail(late), "Request has expired")
    assert.deepStrictEqual(verifyRequest(req, keys, signedAt - 14 * 60_000), { _tag: "Unsigned" })
    assert.strictEqual(detail(verifyRequest(req, keys, signedAt - 16 * 60_000)), "Request is not valid yet")
  })

  it("refuse tampering, unknown keys and malformed parameters", async () => {
    const req = await presign("PUT", "/bucket/key", 600)
    assert.strictEqual(code(verifyRequest({ ...req, method: "GET" }, keys, signedAt)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest({ ...req, rawPath: "/bucket/key2" }, keys, signedAt)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest({ ...req, rawQuery: `${req.rawQuery}&extra=1` }, keys, signedAt)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest({ ...req, headers: { host: "elsewhere:8333" } }, keys, signedAt)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest(req, new Map([["AK", "other"]]), signedAt)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest(req, new Map([["BK", "secret/with+chars"]]), signedAt)), "InvalidAccessKeyId")
    for (const [from, to] of [
      ["X-Amz-Expires=600", "X-Amz-Expires=604801"],
      ["X-Amz-Expires=600", "X-Amz-Expires=0"],
      ["X-Amz-Expires=600", "X-Amz-Expires=-5"],
      ["X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"],
      ["X-Amz-Date=", "X-Amz-Datum="],
      ["aws4_request", "aws5_request"]
    ] as const) {
      assert.strictEqual(code(verifyRequest({ ...req, rawQuery: req.rawQuery.replace(from, to) }, keys, signedAt)), "AuthorizationQueryParametersError", to)
    }
    // Seven days is the longest lifetime S3 allows, and is accepted.
    const week = await presign("GET", "/bucket/key", 604800)
    assert.deepStrictEqual(verifyRequest(week, keys, signedAt + 604800_000), { _tag: "Unsigned" })
  })

  it("use UNSIGNED-PAYLOAD unless the URL signed a payload hash, and never carry aws-chunked bodies", async () => {
    const hash = "a".repeat(64)
    const unsigned = await presign("PUT", "/bucket/key", 60)
    assert.include(unsigned.rawQuery, "X-Amz-Content-Sha256=UNSIGNED-PAYLOAD")
    assert.deepStrictEqual(verifyRequest(unsigned, keys, signedAt), { _tag: "Unsigned" })
    const withHash = await presign("PUT", "/bucket/key", 60, { "x-amz-content-sha256": hash }, {}, true)
    assert.include(withHash.rawQuery, "x-amz-content-sha256=")
    assert.deepStrictEqual(verifyRequest(withHash, keys, signedAt), { _tag: "Signed", sha256: hash })
    const chunked = await presign("PUT", "/bucket/key", 60, { "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" }, {}, true)
    assert.strictEqual(code(verifyRequest(chunked, keys, signedAt)), "InvalidRequest")
  })
})
