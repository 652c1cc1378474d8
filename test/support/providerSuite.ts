import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { StorageProvider } from "../../src/services/storage/StorageProvider.ts"
import { prng } from "./cli.ts"

const MiB = 1024 * 1024

/** `count` blocks of `size` bytes, each stamped with its index (so a reordering shows), made as they are pulled. */
const stampedBlocks = (count: number, size: number) => {
  const base = prng(11)(size)
  const block = (i: number) => {
    const b = Buffer.from(base)
    b.writeUInt32BE(i, 0)
    b.writeUInt32BE(i, size - 4)
    return b as Uint8Array
  }
  return {
    // A fresh generator each time the stream runs.
    stream: Stream.suspend(() =>
      Stream.fromIterable((function*() {
        for (let i = 0; i < count; i++) yield block(i)
      })(), { chunkSize: 1 })
    ),
    whole: () => Buffer.concat(Array.from({ length: count }, (_, i) => block(i)))
  }
}

class BodyBroke extends Error {}

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

    it.effect("getRange: start, middle, end, past the end, empty, missing key", () =>
      Effect.gen(function*() {
        const p = yield* make()
        const body = prng(5)(1000)
        yield* p.put("r/k", body)
        assert.isTrue(Buffer.from(yield* p.getRange("r/k", 0, 10)).equals(body.subarray(0, 10)))
        assert.isTrue(Buffer.from(yield* p.getRange("r/k", 500, 123)).equals(body.subarray(500, 623)))
        assert.isTrue(Buffer.from(yield* p.getRange("r/k", 990, 100)).equals(body.subarray(990)), "shorter at the end")
        assert.isTrue(Buffer.from(yield* p.getRange("r/k", 0, 1000)).equals(body))
        assert.strictEqual((yield* p.getRange("r/k", 1000, 5)).length, 0)
        assert.strictEqual((yield* p.getRange("r/k", 5000, 5)).length, 0)
        assert.strictEqual((yield* p.getRange("r/k", 7, 0)).length, 0)
        const e = yield* Effect.flip(p.getRange("r/missing", 0, 10))
        assert.strictEqual(e.reason, "NotFound")
        assert.include(e.message, "r/missing")
        assert.strictEqual((yield* Effect.flip(p.getRange("r/missing", 0, 0))).reason, "NotFound")
      }))

    it.effect("getStream of a multi-MiB object reassembles exactly; ranges via getStream", () =>
      Effect.gen(function*() {
        const p = yield* make()
        const body = prng(6)(5 * MiB + 3)
        yield* p.put("s/big", body)
        const blocks = yield* Stream.runCollect(p.getStream("s/big"))
        assert.isTrue(Buffer.concat(blocks).equals(body))
        const mid = yield* Stream.runCollect(p.getStream("s/big", { offset: MiB + 7, length: 2 * MiB }))
        assert.isTrue(Buffer.concat(mid).equals(body.subarray(MiB + 7, 3 * MiB + 7)))
        const tail = yield* Stream.runCollect(p.getStream("s/big", { offset: 5 * MiB - 10 }))
        assert.isTrue(Buffer.concat(tail).equals(body.subarray(5 * MiB - 10)))
        const over = yield* Stream.runCollect(p.getStream("s/big", { offset: 5 * MiB, length: 100 }))
        assert.isTrue(Buffer.concat(over).equals(body.subarray(5 * MiB)), "shorter at the end")
        assert.strictEqual(Buffer.concat(yield* Stream.runCollect(p.getStream("s/big", { offset: 6 * MiB }))).length, 0)
        const e = yield* Effect.flip(Stream.runCollect(p.getStream("s/missing")))
        assert.strictEqual(e.reason, "NotFound")
        assert.include(e.message, "s/missing")
        // Taking the first bytes only need not read the rest. (Last: with the GCS SDK a request sent
        // at once after an abandoned download can meet "socket hang up", a Transient error.)
        const head = yield* p.getStream("s/big").pipe(Stream.take(1), Stream.runCollect)
        assert.isTrue(Buffer.from(head[0]!).equals(body.subarray(0, head[0]!.length)))
      }))

    it.effect("putStream stores a body of unknown length (20 MiB in small blocks; small and empty bodies)", () =>
      Effect.gen(function*() {
        const p = yield* make()
        const { stream, whole } = stampedBlocks(320, 65_549) // ~20 MiB, blocks straddle any part size
        yield* p.putStream("chunks/ps/big", stream)
        assert.strictEqual(yield* p.head("chunks/ps/big"), 320 * 65_549)
        assert.isTrue(Buffer.from(yield* p.get("chunks/ps/big")).equals(whole()))
        yield* p.putStream("small", Stream.make(new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])))
        assert.deepStrictEqual([...(yield* p.get("small"))], [1, 2, 3])
        yield* p.putStream("empty", Stream.empty)
        assert.strictEqual(yield* p.head("empty"), 0)
        assert.strictEqual((yield* p.get("empty")).length, 0)
      }))

    it.effect("putStream whose body fails midway leaves the previous object, or none", () =>
      Effect.gen(function*() {
        const p = yield* make()
        // 18 MiB before the failure: past S3's multipart threshold, several Azure blocks, GCS chunks.
        const { stream } = stampedBlocks(288, 65_536)
        const broken = Stream.concat(stream, Stream.fail(new BodyBroke("body broke")))
        yield* p.put("k/old", new Uint8Array([4, 5, 6]))
        const e1 = yield* Effect.flip(p.putStream("k/old", broken))
        assert.instanceOf(e1, BodyBroke)
        assert.deepStrictEqual([...(yield* p.get("k/old"))], [4, 5, 6])
        const e2 = yield* Effect.flip(p.putStream("k/new", broken))
        assert.instanceOf(e2, BodyBroke)
        assert.strictEqual(yield* p.head("k/new"), undefined)
        assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("k/")))], ["k/old"])
        // A small body that fails before its end stores nothing either.
        const e3 = yield* Effect.flip(p.putStream("k/small", Stream.concat(Stream.make(new Uint8Array([1])), Stream.fail(new BodyBroke("x")))))
        assert.instanceOf(e3, BodyBroke)
        assert.strictEqual(yield* p.head("k/small"), undefined)
      }))

    it.effect("check succeeds on a usable provider", () => Effect.flatMap(make(), (p) => p.check))
  })
