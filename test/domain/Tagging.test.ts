import { assert, describe, it } from "@effect/vitest"
import { parseTaggingHeader, parseTaggingXml, taggingXml } from "../../src/domain/s3/Tagging.ts"

describe("object tags", () => {
  it("reads x-amz-tagging as URL-encoded query parameters, in order", () => {
    assert.deepStrictEqual(parseTaggingHeader("a=1&b=two%20words&c=&d=x+y&e"), [["a", "1"], ["b", "two words"], ["c", ""], ["d", "x y"], ["e", ""]])
    assert.deepStrictEqual(parseTaggingHeader(""), [])
    assert.deepStrictEqual(parseTaggingHeader("%C3%A9t%C3%A9=chaud"), [["été", "chaud"]])
  })

  it("refuses what S3 refuses, saying why", () => {
    const problem = (v: string) => {
      const r = parseTaggingHeader(v)
      return "problem" in r ? r.problem : assert.fail(`accepted ${v}`)
    }
    assert.match(problem(Array.from({ length: 11 }, (_, i) => `k${i}=v`).join("&")), /cannot be greater than 10: 11 given/)
    assert.match(problem("a=1&a=2"), /same key \(a\)/)
    assert.match(problem("AWS:x=1"), /cannot be prefixed with aws:/)
    assert.match(problem("=v"), /TagKey .* 1 to 128/)
    assert.match(problem(`${"é".repeat(129)}=v`), /TagKey/)
    assert.deepStrictEqual(parseTaggingHeader(`${"é".repeat(128)}=${"ü".repeat(256)}`), [["é".repeat(128), "ü".repeat(256)]])
    assert.match(problem(`k=${"v".repeat(257)}`), /TagValue .* at most 256/)
    assert.match(problem("k=%E0%A4%A"), /bad escape/)
  })

  it("round-trips the <Tagging> body, keys and values verbatim; a body of the wrong shape is malformed", () => {
    const tags = [["a b", " x "], ["<&>", ""]] as const
    assert.deepStrictEqual(parseTaggingXml(taggingXml(tags)), tags)
    assert.deepStrictEqual(parseTaggingXml("<Tagging><TagSet/></Tagging>"), [])
    for (const body of ["<Tagging/>", "<Nope><TagSet/></Nope>", "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", "<Tagging"]) {
      const r = parseTaggingXml(body)
      assert.isTrue(!Array.isArray(r) && (r as { malformed: boolean }).malformed, body)
    }
    const dup = parseTaggingXml("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>")
    assert.deepStrictEqual(dup, { malformed: false, problem: "Cannot provide multiple Tags with the same key (a)" })
  })
})
