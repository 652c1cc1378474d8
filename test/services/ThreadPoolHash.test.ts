import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash, createHmac, randomBytes } from "node:crypto"
import { digestHex, makeHmacSha256 } from "../../src/services/ThreadPoolHash.ts"

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
  // First: Node warns only once per process, so a later test would find nothing either way.
  it.effect("Web Crypto's experimental-SHA3 warning does not reach the user", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const onWarning = (w: Error) => warnings.push(w.message)
      process.on("warning", onWarning)
      yield* digestHex("sha3-256", backing)
      yield* digestHex("sha3-256", backing)
      // Warnings are delivered on a later tick.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      process.off("warning", onWarning)
      assert.deepStrictEqual(warnings.filter((w) => w.includes("SHA3")), [])
    }))

  for (const [name, data] of inputs) {
    it.effect(`SHA-256, SHA3-256 and HMAC-SHA256 of ${name} equal node:crypto's`, () =>
      Effect.gen(function*() {
        const key = randomBytes(32)
        assert.strictEqual(yield* digestHex("sha256", data), createHash("sha256").update(data).digest("hex"))
        assert.strictEqual(yield* digestHex("sha3-256", data), createHash("sha3-256").update(data).digest("hex"))
        assert.strictEqual(yield* makeHmacSha256(key)(data), createHmac("sha256", key).update(data).digest("hex"))
      }))
  }

  it.effect("many at once give each input its own hash", () =>
    Effect.gen(function*() {
      const pieces = Array.from({ length: 12 }, (_, i) => backing.subarray(i * 300_000, (i + 1) * 300_000))
      const got = yield* Effect.forEach(pieces, (p) => digestHex("sha3-256", p), { concurrency: "unbounded" })
      assert.deepStrictEqual(got, pieces.map((p) => createHash("sha3-256").update(p).digest("hex")))
    }))
})
