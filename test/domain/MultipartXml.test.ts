import { describe, expect, it } from "vitest"
import { listMultipartUploadsXml, listPartsXml, parseCompleteMultipartUpload } from "../../src/domain/s3/MultipartXml.ts"
import { parseXml } from "../../src/domain/s3/XmlParse.ts"

describe("parseCompleteMultipartUpload", () => {
  it("reads parts in the order given, quotes (entity or literal) removed", () => {
    const parts = parseCompleteMultipartUpload(`<?xml version="1.0"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>&quot;aa&quot;</ETag><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
  <Part><PartNumber>1</PartNumber><ETag>"bb"</ETag></Part>
  <Part><PartNumber>3</PartNumber><ETag>cc</ETag></Part>
</CompleteMultipartUpload>`)
    expect(parts).toEqual([{ partNumber: 2, etag: "aa" }, { partNumber: 1, etag: "bb" }, { partNumber: 3, etag: "cc" }])
  })

  it.each([
    ["not XML", "<CompleteMultipartUpload><Part>"],
    ["another root", "<Delete><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Delete>"],
    ["no parts", "<CompleteMultipartUpload></CompleteMultipartUpload>"],
    ["a part without a number", "<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>"],
    ["a non-numeric part number", "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"],
    ["a part without an ETag", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"],
    ["a DTD", "<!DOCTYPE x [<!ENTITY e 'x'>]><CompleteMultipartUpload/>"]
  ])("says what is wrong with %s", (_, body) => {
    expect(typeof parseCompleteMultipartUpload(body)).toBe("string")
  })
})

describe("multipart listings", () => {
  it("renders ListParts with the markers S3 clients page by, escaping text", () => {
    const doc = parseXml(listPartsXml({
      bucket: "b",
      key: "a&b<c",
      uploadId: "u1",
      partNumberMarker: 2,
      maxParts: 2,
      nextPartNumberMarker: 5,
      parts: [{ partNumber: 3, modifiedAt: 0, etag: "e3", size: 10 }, { partNumber: 5, modifiedAt: 0, etag: "e5", size: 11 }]
    }))
    const text = (name: string) => doc.children.find((c) => c.name === name)?.text
    expect(text("Key")).toBe("a&b<c")
    expect(text("PartNumberMarker")).toBe("2")
    expect(text("NextPartNumberMarker")).toBe("5")
    expect(text("IsTruncated")).toBe("true")
    expect(doc.children.filter((c) => c.name === "Part").map((p) => p.children.find((c) => c.name === "ETag")?.text)).toEqual(["\"e3\"", "\"e5\""])
  })

  it("url-encodes keys and prefixes in ListMultipartUploads when asked, as the object listings do (space as +), and omits next markers on the last page", () => {
    const xml = listMultipartUploadsXml({
      bucket: "b",
      prefix: "dir one/",
      delimiter: "/",
      keyMarker: "",
      uploadIdMarker: "",
      maxUploads: 1000,
      urlEncoded: true,
      next: undefined,
      uploads: [{ key: "dir one/ä b(+)", uploadId: "u", initiatedAt: 0 }],
      commonPrefixes: ["dir one/sub dir/"]
    })
    const doc = parseXml(xml)
    expect(doc.children.find((c) => c.name === "Prefix")?.text).toBe("dir+one/")
    expect(doc.children.find((c) => c.name === "Upload")?.children.find((c) => c.name === "Key")?.text).toBe("dir+one/%C3%A4+b%28%2B%29")
    expect(doc.children.find((c) => c.name === "CommonPrefixes")?.children[0]?.text).toBe("dir+one/sub+dir/")
    expect(doc.children.some((c) => c.name === "NextKeyMarker")).toBe(false)
    expect(doc.children.find((c) => c.name === "IsTruncated")?.text).toBe("false")
  })
})
