import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { SignatureV4 } from "@smithy/signature-v4"
import * as SigV4 from "../../src/domain/s3/SigV4.ts"
import { verifyRequest } from "../../src/services/gateway/Auth.ts"
import { NodeSha256 } from "../support/nodeSha256.ts"

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex")


// "Example: GET Object" from the S3 API reference (Signature Version 4, Authorization header).
const awsExample = {
  method: "GET",
  rawPath: "/test.txt",
  rawQuery: "",
  headers: {
    host: "examplebucket.s3.amazonaws.com",
    range: "bytes=0-9",
    "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "x-amz-date": "20130524T000000Z",
    authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
  }
}
const exampleKeys = new Map([["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]])
const exampleNow = Date.UTC(2013, 4, 24, 0, 5, 0)

describe("SigV4", () => {
  it("builds the canonical request of the AWS documentation example", () => {
    const auth = SigV4.parseAuthorization(awsExample.headers.authorization)!
    assert.deepStrictEqual(auth.signedHeaders, ["host", "range", "x-amz-content-sha256", "x-amz-date"])
    const canonical = SigV4.canonicalRequest({ ...awsExample, signedHeaders: auth.signedHeaders, payloadHash: awsExample.headers["x-amz-content-sha256"] })
    assert.strictEqual(canonical, [
      "GET",
      "/test.txt",
      "",
      "host:examplebucket.s3.amazonaws.com",
      "range:bytes=0-9",
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "x-amz-date:20130524T000000Z",
      "",
      "host;range;x-amz-content-sha256;x-amz-date",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ].join("\n"))
    assert.strictEqual(
      SigV4.stringToSign("20130524T000000Z", SigV4.credentialScope(auth), sha256(canonical)),
      "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )
  })

  it("verifies the documented signature, and rejects a wrong secret, an unknown key and a skewed clock", () => {
    assert.deepStrictEqual(verifyRequest(awsExample, exampleKeys, exampleNow), { _tag: "Signed", sha256: awsExample.headers["x-amz-content-sha256"] })
    const code = (r: unknown) => (r as { code?: string }).code
    assert.strictEqual(code(verifyRequest(awsExample, new Map([["AKIAIOSFODNN7EXAMPLE", "wrong"]]), exampleNow)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest(awsExample, new Map([["OTHER", "x"]]), exampleNow)), "InvalidAccessKeyId")
    assert.strictEqual(code(verifyRequest(awsExample, exampleKeys, exampleNow + 16 * 60_000)), "RequestTimeTooSkewed")
    assert.strictEqual(code(verifyRequest({ ...awsExample, headers: { ...awsExample.headers, range: "bytes=0-10" } }, exampleKeys, exampleNow)), "SignatureDoesNotMatch")
    // x-amz-content-sha256 is signed: another payload mode is another request.
    assert.strictEqual(code(verifyRequest({ ...awsExample, headers: { ...awsExample.headers, "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" } }, exampleKeys, exampleNow)), "SignatureDoesNotMatch")
    assert.strictEqual(code(verifyRequest({ ...awsExample, headers: { ...awsExample.headers, "x-amz-content-sha256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" } }, exampleKeys, exampleNow)), "NotImplemented")
  })

  it("agrees with @smithy/signature-v4 on keys and queries that need encoding", async () => {
    const signer = new SignatureV4({
      service: "s3",
      region: "eu-west-3",
      credentials: { accessKeyId: "AK", secretAccessKey: "secret/with+chars" },
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false
    })
    const path = "/my-bucket/dir with space/ä+ö=(1)~*'!.txt"
    const rawPath = path.split("/").map((s) => SigV4.uriEncode(s, false)).join("/")
    const signed = await signer.sign({
      method: "GET",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 8333,
      path: rawPath,
      query: { "list-type": "2", prefix: "a b/ü", "continuation-token": "x=y+z" },
      headers: { host: "127.0.0.1:8333", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }
    }, { signingDate: new Date(exampleNow) })
    const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), v]))
    const rawQuery = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&")
    const req = { method: "GET", rawPath, rawQuery, headers }
    assert.deepStrictEqual(verifyRequest(req, new Map([["AK", "secret/with+chars"]]), exampleNow), { _tag: "Unsigned" })
    assert.strictEqual((verifyRequest({ ...req, rawQuery: rawQuery.replace("a%20b", "a%20c") }, new Map([["AK", "secret/with+chars"]]), exampleNow) as { code?: string }).code, "SignatureDoesNotMatch")
  })

  it("encodes like S3's UriEncode", () => {
    assert.strictEqual(SigV4.uriEncode("a b/c~d*e", false), "a%20b%2Fc~d%2Ae")
    assert.strictEqual(SigV4.uriEncode("a b/c", true), "a%20b/c")
    assert.strictEqual(SigV4.canonicalQuery("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=")
    assert.strictEqual(SigV4.parseAmzDate("20130524T000000Z"), Date.UTC(2013, 4, 24))
    assert.strictEqual(SigV4.parseAuthorization("AWS4-HMAC-SHA256 Credential=x"), undefined)
  })
})
