import { assert, describe, it } from "@effect/vitest"
import { formatBytes, formatDuration } from "../../src/runtime/Output.ts"

describe("formatBytes", () => {
  it("gives whole bytes below 1 KiB, rates included (2 B in 63 ms was printed as 31.746031746031747 B/s)", () => {
    assert.strictEqual(formatBytes(0), "0 B")
    assert.strictEqual(formatBytes(1023), "1023 B")
    assert.strictEqual(formatBytes(2 / 0.063), "32 B")
    assert.strictEqual(formatBytes(0.4), "0 B")
  })

  it("uses binary units with 3 significant digits above", () => {
    assert.strictEqual(formatBytes(1024), "1.00 KiB")
    assert.strictEqual(formatBytes(1536.7), "1.50 KiB")
    assert.strictEqual(formatBytes(10.5 * 1024 * 1024), "10.5 MiB")
    assert.strictEqual(formatBytes(475 * 1024 * 1024), "475 MiB")
    assert.strictEqual(formatBytes(3 * 1024 ** 4), "3.00 TiB")
    // Never "1024 B" or "1024 KiB": that rounds up to the next unit.
    assert.strictEqual(formatBytes(1023.7), "1.00 KiB")
    assert.strictEqual(formatBytes(1024 * 1024 - 100), "1.00 MiB")
  })
})

describe("formatDuration", () => {
  it("ms below a second, seconds below a minute, then minutes and seconds", () => {
    assert.strictEqual(formatDuration(63.4), "63 ms")
    assert.strictEqual(formatDuration(2160), "2.16 s")
    assert.strictEqual(formatDuration(125_000), "2m5s")
  })

  it("never shows 1000 ms, 60.00 s or 60 seconds of a minute (rounding carries over)", () => {
    assert.strictEqual(formatDuration(999.4), "999 ms")
    assert.strictEqual(formatDuration(999.7), "1.00 s")
    assert.strictEqual(formatDuration(59_994), "59.99 s")
    assert.strictEqual(formatDuration(59_996), "1m0s")
    assert.strictEqual(formatDuration(119_700), "2m0s")
    assert.strictEqual(formatDuration(3_599_600), "60m0s")
  })
})
