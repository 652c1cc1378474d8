import { describe, expect, it } from "vitest"
import { childrenNamed, childText, parseXml, XmlParseError } from "../../src/domain/s3/XmlParse.ts"

describe("parseXml", () => {
  it("reads a CompleteMultipartUpload body with a namespace, entities and CDATA", () => {
    const doc = parseXml(`<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part>
  <Part><PartNumber>2</PartNumber><ETag><![CDATA["d<e"]]></ETag></Part>
  <!-- a comment -->
  <Empty/>
</CompleteMultipartUpload>`)
    expect(doc.name).toBe("CompleteMultipartUpload")
    expect(doc.attributes.xmlns).toBe("http://s3.amazonaws.com/doc/2006-03-01/")
    const parts = childrenNamed(doc, "Part")
    expect(parts.map((p) => [childText(p, "PartNumber"), childText(p, "ETag")])).toEqual([["1", "\"abc\""], ["2", "\"d<e\""]])
    expect(childrenNamed(doc, "Empty")).toHaveLength(1)
  })

  it("drops namespace prefixes and decodes character references", () => {
    const doc = parseXml(`<s3:Delete xmlns:s3="x"><s3:Object><s3:Key>a&#x2F;b&#233;</s3:Key></s3:Object></s3:Delete>`)
    expect(childText(childrenNamed(doc, "Object")[0]!, "Key")).toBe("a/bé")
  })

  it.each([
    ["<a><b></a>", "unexpected"],
    ["<a>", "unclosed"],
    ["", "no root"],
    ["<a/><b/>", "more than one root"],
    [`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, "document type"],
    ["<a>&#xFFFFFFF;</a>", "character reference"]
  ])("refuses %j", (input, message) => {
    expect(() => parseXml(input)).toThrow(XmlParseError)
    expect(() => parseXml(input)).toThrow(message)
  })
})
