import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { StorageProvider } from "../../src/services/storage/StorageProvider.ts"

/**
 * The provider contract (StorageProvider.ts), as one suite every provider runs — restic's
 * backend test suite in miniature. `make` gives a fresh, empty provider.
 */
export const providerSuite = (
  name: string,
  make: () => Effect.Effect<StorageProvider>,
  /** False for test servers that write objects in place (s3rver): real S3 and Local are atomic. */
  options: { readonly atomicConcurrentPuts: boolean } = { atomicConcurrentPuts: true }
) =>
  describe(`StorageProvider contract: ${name}`, () => {
    it.effect("put then get returns the bytes; put replaces; parts are stored concatenated", () =>
      Effect.gen(function*() {
        const p = yield* make()
        yield* p.put("a/b/c", new Uint8Array([1, 2, 3]))
        assert.deepStrictEqual([...(yield* p.get("a/b/c"))], [1, 2, 3])
        yield* p.put("a/b/c", [new Uint8Array([9]), new Uint8Array([]), new Uint8Array([8, 7])])
        assert.deepStrictEqual([...(yield* p.get("a/b/c"))], [9, 8, 7])
        assert.strictEqual(yield* p.head("a/b/c"), 3)
      }))

    it.effect("a missing key: get fails NotFound, head is undefined, delete succeeds", () =>
      Effect.gen(function*() {
        const p = yield* make()
        const e = yield* Effect.flip(p.get("nope/x"))
        assert.strictEqual(e.reason, "NotFound")
        assert.include(e.message, "nope/x")
        assert.strictEqual(yield* p.head("nope/x"), undefined)
        yield* p.delete("nope/x")
      }))

    it.effect("list streams exactly the keys under a prefix", () =>
      Effect.gen(function*() {
        const p = yield* make()
        for (const k of ["chunks/ab/ab01", "chunks/ab/ab02", "chunks/cd/cd01", "log/000001-000002", "locks/x"]) {
          yield* p.put(k, new Uint8Array([0]))
        }
        const chunks = [...(yield* Stream.runCollect(p.list("chunks/")))].sort()
        assert.deepStrictEqual(chunks, ["chunks/ab/ab01", "chunks/ab/ab02", "chunks/cd/cd01"])
        assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/ab/")))].sort(), ["chunks/ab/ab01", "chunks/ab/ab02"])
        assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("nothing/")))], [])
        yield* p.delete("chunks/ab/ab01")
        assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/ab/")))], ["chunks/ab/ab02"])
      }))

    it.effect.runIf(options.atomicConcurrentPuts)("concurrent puts of one key leave one complete value, never a mix", () =>
      Effect.gen(function*() {
        const p = yield* make()
        const a = new Uint8Array(1 << 20).fill(1)
        const b = new Uint8Array(1 << 20).fill(2)
        yield* Effect.all([p.put("k", a), p.put("k", b), p.put("k", a), p.put("k", b)], { concurrency: "unbounded" })
        const got = yield* p.get("k")
        assert.strictEqual(got.length, 1 << 20)
        assert.isTrue(got.every((x) => x === got[0]))
      }))

    it.effect("check succeeds on a usable provider", () => Effect.flatMap(make(), (p) => p.check))
  })
