import { assert, describe, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import type { IdKey } from "../../src/domain/ChunkIdHash.ts"
import { idNow, makeIdOf, namespacedIdKey, nativeBlake3, wasmIdHasher } from "../../src/services/ChunkIdHashing.ts"
import { idKeysOfBothHashes, referenceId } from "../support/referenceIds.ts"

const sizes = [0, 1, 63, 64, 1023, 1024, 1025, 2048, 64 * 1024 + 3, 4 * 1024 * 1024 + 7]

describe("ChunkIdHashing", () => {
  it("BLAKE3 runs natively here (the fallback would be ~10× slower)", () => {
    assert.isTrue(nativeBlake3(), "@napi-rs/blake-hash's binary did not load")
  })

  for (const idKey of idKeysOfBothHashes(randomBytes)) {
    it.effect(`${idKey.hash}: ids here, by makeIdOf and by the WebAssembly fallback match a reference implementation`, () =>
      Effect.gen(function*() {
        const idOf = makeIdOf(idKey)
        const fallback = yield* Effect.promise(() => wasmIdHasher(idKey))
        for (const n of sizes) {
          const data = randomBytes(n)
          const want = referenceId(idKey, data)
          assert.strictEqual(yield* idNow(idKey, data), want, `idNow, ${n} bytes`)
          assert.strictEqual(yield* idOf(data), want, `makeIdOf, ${n} bytes`)
          // In pieces, as the cut worker feeds a chunk that spans blocks.
          fallback.update(data.subarray(0, n >> 1))
          fallback.update(data.subarray(n >> 1))
          assert.strictEqual(fallback.digest(), want, `fallback, ${n} bytes`)
        }
      }))
  }

  it.effect("a hasher keeps its key from one id to the next, and different keys give different ids", () =>
    Effect.gen(function*() {
      const a: IdKey = { hash: "blake3", key: randomBytes(32) }
      const b: IdKey = { hash: "blake3", key: randomBytes(32) }
      const data = randomBytes(5000)
      const first = yield* idNow(a, data)
      assert.strictEqual(yield* idNow(a, data), first)
      assert.notStrictEqual(yield* idNow(b, data), first)
      assert.notStrictEqual(yield* idNow({ hash: "hmac-sha256", key: a.key }, data), first)
    }))

  it.effect("a namespaced key keeps its parent's hash and names chunks apart from it", () =>
    Effect.gen(function*() {
      const parent: IdKey = { hash: "blake3", key: randomBytes(32) }
      const child = namespacedIdKey(parent, "enigma-plain-chunk-id-v1")
      assert.strictEqual(child.hash, "blake3")
      const data = randomBytes(100)
      assert.notStrictEqual(yield* idNow(child, data), yield* idNow(parent, data))
      assert.strictEqual(yield* idNow(child, data), referenceId(child, data))
    }))
})
