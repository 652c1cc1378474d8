import { assert, describe, it } from "@effect/vitest"
import { parseBytes, parseSize } from "../../src/domain/Size.ts"

describe("sizes", () => {
  it("parses binary multiples, with or without B / iB", () => {
    assert.strictEqual(parseBytes("512M"), 512 * 1024 ** 2)
    assert.strictEqual(parseBytes("1.5G"), 1.5 * 1024 ** 3)
    assert.strictEqual(parseBytes("64KiB"), 64 * 1024)
    assert.strictEqual(parseBytes("4096"), 4096)
    assert.strictEqual(parseBytes("2MB/s"), undefined, "a rate is not a size")
    assert.strictEqual(parseBytes("2MB/s", true), 2 * 1024 ** 2)
    assert.strictEqual(parseBytes("lots"), undefined)
  })

  it("range-checks with a message that says what to do", () => {
    assert.strictEqual(parseSize("64M", "--chunk-size", 4096, 1024 ** 3), 64 * 1024 ** 2)
    assert.strictEqual(parseSize("2G", "--chunk-size", 4096, 1024 ** 3), "--chunk-size 2G is out of range; use between 4K and 1G")
    assert.match(parseSize("x", "--chunk-size", 4096, 1024 ** 3) as string, /is not a size; use bytes like 64M/)
  })
})
