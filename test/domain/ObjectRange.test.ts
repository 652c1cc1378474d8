import { assert, describe, it } from "@effect/vitest"
import { parseRange, partRange, selectRange } from "../../src/domain/s3/ObjectRange.ts"
import { S3Error } from "../../src/domain/s3/S3Error.ts"

const codeOf = (r: unknown) => (r instanceof S3Error ? `${r.status} ${r.code}` : r)

describe("ObjectRange", () => {
  it("parses Range headers as S3 does", () => {
    assert.deepStrictEqual(parseRange("bytes=0-9", 100), [0, 9])
    assert.deepStrictEqual(parseRange("bytes=90-", 100), [90, 99])
    assert.deepStrictEqual(parseRange("bytes=-10", 100), [90, 99])
    assert.deepStrictEqual(parseRange("bytes=50-500", 100), [50, 99])
    assert.strictEqual(parseRange("bytes=100-", 100), "invalid")
    assert.strictEqual(parseRange("bytes=9-3", 100), "invalid")
    assert.strictEqual(parseRange("bytes=-", 100), undefined)
    assert.strictEqual(parseRange("items=0-3", 100), undefined)
  })

  it("selects part N of a multipart object by the part sizes, with the part count", () => {
    const sizes = [5, 7, 2]
    assert.deepStrictEqual(partRange("1", 14, sizes), { start: 0, last: 4, partsCount: 3 })
    assert.deepStrictEqual(partRange("2", 14, sizes), { start: 5, last: 11, partsCount: 3 })
    assert.deepStrictEqual(partRange("3", 14, sizes), { start: 12, last: 13, partsCount: 3 })
    assert.strictEqual(codeOf(partRange("4", 14, sizes)), "416 InvalidPartNumber")
  })

  it("treats a single PUT as one part and refuses numbers outside 1–10000", () => {
    assert.deepStrictEqual(partRange("1", 14, undefined), { start: 0, last: 13 })
    assert.strictEqual(codeOf(partRange("2", 14, undefined)), "416 InvalidPartNumber")
    for (const bad of ["0", "10001", "-1", "1.5", "", "x", "000001"]) {
      assert.strictEqual(codeOf(partRange(bad, 14, undefined)), "400 InvalidArgument", bad)
    }
    assert.deepStrictEqual(partRange("10000", 14, undefined) instanceof S3Error, true)
  })

  it("refuses a Range header together with partNumber; no selector means the whole object", () => {
    assert.strictEqual(codeOf(selectRange("1", "bytes=0-1", 14, undefined)), "400 InvalidRequest")
    assert.strictEqual(codeOf(selectRange(undefined, "bytes=20-", 14, undefined)), "416 InvalidRange")
    assert.deepStrictEqual(selectRange(undefined, "bytes=2-3", 14, undefined), { start: 2, last: 3 })
    assert.strictEqual(selectRange(undefined, undefined, 14, undefined), undefined)
  })
})
