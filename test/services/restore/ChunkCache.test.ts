import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { ChunkCorrupt } from "../../../src/domain/Errors.ts"
import { isFreed } from "../../../src/services/ReleaseBuffers.ts"
import { ChunkCache } from "../../../src/services/restore/ChunkCache.ts"

/** A loader that counts its loads and hands out a fresh buffer per load (as ChunkStore.load does). */
const size = 128 * 1024
const counting = (failFirst = new Set<string>()) => {
  const loads = new Map<string, number>()
  const buffers: Array<Uint8Array> = []
  const load = (id: string) =>
    Effect.suspend(() => {
      const n = (loads.get(id) ?? 0) + 1
      loads.set(id, n)
      if (n === 1 && failFirst.has(id)) return Effect.fail(new ChunkCorrupt({ chunkId: id, provider: "test", detail: "missing" }))
      // Above releaseBuffers' 64 KiB floor (smaller ones may share a slab, and are left to the collector).
      const b = new Uint8Array(new ArrayBuffer(size)).fill(id.charCodeAt(0))
      buffers.push(b)
      return Effect.succeed(b)
    })
  return { load, loads, buffers }
}

describe("ChunkCache", () => {
  it.effect("loads a chunk once however many users want it at once", () =>
    Effect.gen(function*() {
      const { load, loads } = counting()
      const cache = new ChunkCache(load, 4)
      const sums = yield* Effect.forEach([1, 2, 3, 4, 5], () => cache.use("a", (p) => Effect.succeed(p[0]! + p.length)), { concurrency: "unbounded" })
      assert.deepStrictEqual(sums, Array(5).fill(97 + size))
      assert.strictEqual(loads.get("a"), 1)
    }))

  it.effect("an evicted chunk stays whole while a user holds it, and is freed when the last one is done", () =>
    Effect.gen(function*() {
      const { load, buffers } = counting()
      const cache = new ChunkCache(load, 1)
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(cache.use("a", (p) => Effect.as(Deferred.await(gate), [p.length, p[0], p[size - 1]])))
      yield* Effect.yieldNow
      // "b" pushes "a" out of the cache while the holder still reads it.
      yield* cache.use("b", () => Effect.void)
      assert.isFalse(cache.has("a"))
      assert.isFalse(isFreed(buffers[0]!), "freed under its user")
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.join(holder), [size, 97, 97])
      assert.isTrue(isFreed(buffers[0]!), "kept after its last user was done")
    }))

  it.effect("a chunk nobody holds is freed as soon as it leaves the cache; one still cached is not", () =>
    Effect.gen(function*() {
      const { load, buffers } = counting()
      const cache = new ChunkCache(load, 2)
      yield* cache.use("a", () => Effect.void)
      yield* cache.use("b", () => Effect.void)
      assert.isFalse(isFreed(buffers[0]!))
      yield* cache.use("a", () => Effect.void) // "a" is now the most recent: "b" goes next
      yield* cache.use("c", () => Effect.void)
      assert.isTrue(isFreed(buffers[1]!), "b")
      assert.isFalse(isFreed(buffers[0]!), "a")
    }))

  it.effect("a failed load leaves the cache, so the next user loads again", () =>
    Effect.gen(function*() {
      const { load, loads } = counting(new Set(["a"]))
      const cache = new ChunkCache(load, 4)
      const first = yield* Effect.flip(cache.use("a", () => Effect.void))
      assert.strictEqual(first._tag, "ChunkCorrupt")
      assert.strictEqual(yield* cache.use("a", (p) => Effect.succeed(p[0])), 97)
      assert.strictEqual(loads.get("a"), 2)
    }))
})
