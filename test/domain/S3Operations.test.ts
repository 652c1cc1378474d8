import { describe, expect, it } from "vitest"
import { etagListMatches, evaluatePreconditions } from "../../src/domain/s3/Conditions.ts"
import { parseCopySource } from "../../src/domain/s3/CopySource.ts"
import { parseEncodingType, s3UrlEncode } from "../../src/domain/s3/EncodingType.ts"
import { deleteResultXml, locationConstraintXml, parseDeleteRequest } from "../../src/domain/s3/OperationsXml.ts"

const none = { ifMatch: undefined, ifNoneMatch: undefined, ifModifiedSince: undefined, ifUnmodifiedSince: undefined }
const at = Date.parse("2026-03-04T05:06:07.890Z")

describe("evaluatePreconditions", () => {
  it("compares ETags quoted, unquoted, weak, in lists and as *", () => {
    expect(etagListMatches("\"abc\"", "abc")).toBe(true)
    expect(etagListMatches("abc", "abc")).toBe(true)
    expect(etagListMatches("W/\"abc\"", "abc")).toBe(true)
    expect(etagListMatches("\"x\", \"abc\"", "abc")).toBe(true)
    expect(etagListMatches("*", "abc")).toBe(true)
    expect(etagListMatches("\"abcd\"", "abc")).toBe(false)
  })

  it("compares dates in whole seconds, since Last-Modified has no milliseconds", () => {
    const lastModified = new Date(at).toUTCString()
    expect(evaluatePreconditions({ ...none, ifModifiedSince: lastModified }, "e", at)).toBe("not-modified")
    expect(evaluatePreconditions({ ...none, ifUnmodifiedSince: lastModified }, "e", at)).toBe("proceed")
    expect(evaluatePreconditions({ ...none, ifModifiedSince: new Date(at - 1000).toUTCString() }, "e", at)).toBe("proceed")
    expect(evaluatePreconditions({ ...none, ifUnmodifiedSince: new Date(at - 1000).toUTCString() }, "e", at)).toBe("failed")
  })

  it("follows S3's precedence and ignores dates that do not parse", () => {
    const past = new Date(at - 60_000).toUTCString()
    const future = new Date(at + 60_000).toUTCString()
    expect(evaluatePreconditions({ ...none, ifMatch: "\"e\"", ifUnmodifiedSince: past }, "e", at)).toBe("proceed")
    expect(evaluatePreconditions({ ...none, ifMatch: "\"x\"", ifUnmodifiedSince: future }, "e", at)).toBe("failed")
    expect(evaluatePreconditions({ ...none, ifNoneMatch: "\"x\"", ifModifiedSince: future }, "e", at)).toBe("proceed")
    expect(evaluatePreconditions({ ...none, ifNoneMatch: "\"e\"", ifModifiedSince: past }, "e", at)).toBe("not-modified")
    expect(evaluatePreconditions({ ...none, ifMatch: "\"x\"", ifNoneMatch: "\"e\"" }, "e", at)).toBe("failed")
    expect(evaluatePreconditions({ ...none, ifModifiedSince: "yesterday-ish", ifUnmodifiedSince: "garbage" }, "e", at)).toBe("proceed")
  })
})

describe("parseCopySource", () => {
  it("decodes bucket and key, with or without a leading slash, and reads versionId", () => {
    expect(parseCopySource("/b/dir/a%20b%2Bc%C3%BC")).toEqual({ bucket: "b", key: "dir/a b+cü", versionId: undefined })
    expect(parseCopySource("b/k?versionId=null")).toEqual({ bucket: "b", key: "k", versionId: "null" })
    expect(parseCopySource("b%2Fk")).toEqual({ bucket: "b", key: "k", versionId: undefined })
  })

  it.each(["b", "/b/", "/k", "", "b/%E0%A4%A", "b/k?other=1"])("rejects %j", (header) => {
    expect(parseCopySource(header)).toHaveProperty("invalid")
  })
})

describe("encoding-type=url", () => {
  it("encodes as S3 does: space as +, + as %2B, UTF-8 percent-encoded, / kept", () => {
    expect(s3UrlEncode("a b+c/100%.csv")).toBe("a+b%2Bc/100%25.csv")
    expect(s3UrlEncode("한글/x~y")).toBe("%ED%95%9C%EA%B8%80/x%7Ey")
    expect(s3UrlEncode("A-z_0.9*")).toBe("A-z_0.9*")
  })

  it("accepts only url", () => {
    expect(parseEncodingType(null)).toBeUndefined()
    expect(parseEncodingType("url")).toBe("url")
    expect(parseEncodingType("URL")).toBe("url")
    expect(parseEncodingType("base64")).toBe("invalid")
  })
})

describe("DeleteObjects and GetBucketLocation XML", () => {
  it("reads keys verbatim (spaces kept), versions and Quiet", () => {
    expect(parseDeleteRequest(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
      <Object><Key> a &amp; b </Key></Object><Object><Key>c</Key><VersionId>null</VersionId></Object></Delete>`)).toEqual({
      quiet: true,
      objects: [{ key: " a & b ", versionId: undefined }, { key: "c", versionId: "null" }]
    })
  })

  it.each([
    ["not xml", "well-formed"],
    ["<Delete/>", "at least one"],
    ["<Delete><Object><VersionId>1</VersionId></Object></Delete>", "Key"],
    ["<Delete><Object><Key></Key></Object></Delete>", "Key"],
    [`<Delete>${"<Object><Key>k</Key></Object>".repeat(1001)}</Delete>`, "at most 1000"]
  ])("rejects %j", (body, why) => {
    const r = parseDeleteRequest(body)
    expect(typeof r).toBe("string")
    expect(r).toContain(why)
  })

  it("lists only errors in Quiet mode, and escapes keys", () => {
    const outcomes = [{ key: "a<b", versionId: undefined }, { key: "c", versionId: "v", error: { code: "NotImplemented", message: "m" } }]
    expect(deleteResultXml(outcomes, false)).toContain("<Deleted><Key>a&lt;b</Key></Deleted>")
    expect(deleteResultXml(outcomes, true)).not.toContain("<Deleted>")
    expect(deleteResultXml(outcomes, true)).toContain("<Error><Key>c</Key><VersionId>v</VersionId><Code>NotImplemented</Code>")
  })

  it("answers an empty LocationConstraint for us-east-1 and the region otherwise", () => {
    expect(locationConstraintXml("us-east-1")).toMatch(/<LocationConstraint xmlns="[^"]+"\/>$/)
    expect(locationConstraintXml("eu-central-2")).toMatch(/>eu-central-2<\/LocationConstraint>$/)
  })
})
