import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHmac, randomBytes } from "node:crypto"
import { makeHmacSha256 } from "../../src/services/ThreadPoolHash.ts"

// Sizes on both sides of the inline threshold (64 KiB), and a view that starts inside its buffer.
const backing = randomBytes(4 * 1024 * 1024 + 3)
const inputs: ReadonlyArray<[string, Uint8Array]> = [
  ["empty", new Uint8Array(0)],
  ["3 B", Buffer.from("abc")],
  ["64 KiB - 1", backing.subarray(0, 64 * 1024 - 1)],
  ["64 KiB", backing.subarray(0, 64 * 1024)],
  ["4 MiB view at offset 3", backing.subarray(3)]
]

describe("ThreadPoolHash", () => {
  for (const [name, data] of inputs) {
    it.effect(`HMAC-SHA256 of ${name} equals node:crypto's`, () =>
      Effect.gen(function*() {
        const key = randomBytes(32)
        assert.strictEqual(yield* makeHmacSha256(key)(data), createHmac("sha256", key).update(data).digest("hex"))
      }))
  }

  it.effect("many at once give each input its own hash", () =>
    Effect.gen(function*() {
      const pieces = Array.from({ length: 12 }, (_, i) => backing.subarray(i * 300_000, (i + 1) * 300_000))
      const key = randomBytes(32)
      const got = yield* Effect.forEach(pieces, makeHmacSha256(key), { concurrency: "unbounded" })
      assert.deepStrictEqual(got, pieces.map((p) => createHmac("sha256", key).update(p).digest("hex")))
    }))
})
