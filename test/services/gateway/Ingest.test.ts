import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as path from "node:path"
import { type ChunkStrategy, chunkLengths, gearFromSeed } from "../../../src/domain/Chunker.ts"
import type { Extent } from "../../../src/domain/Events.ts"
import { ChunkStore } from "../../../src/services/ChunkStore.ts"
import { makeIngest } from "../../../src/services/gateway/Ingest.ts"
import { EventLog } from "../../../src/services/manifest/EventLog.ts"
import { Repository } from "../../../src/services/Repository.ts"
import { makeLocalProvider } from "../../../src/services/storage/LocalProvider.ts"
import { tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { referenceId } from "../../support/referenceIds.ts"

/**
 * A gateway PUT's body → chunks (Ingest): the chunks and their ids must be exactly those of the
 * same bytes chunked in one piece (so an object, a backed-up file and a `put` stream with the same
 * bytes share their chunks), however the body arrives: in pieces of any size, as views into
 * larger buffers or as buffers of their own (which Ingest frees once stored).
 */
const noChecks = { expectedSha256: undefined, contentMd5: undefined }

/** `data` in pieces of the given sizes, round and round; `whole`: each in a buffer of its own. */
const inPieces = (data: Uint8Array, sizes: ReadonlyArray<number>, whole: boolean): Array<Uint8Array> => {
  const pieces: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at)
    // A view inside a larger buffer, as the HTTP parser hands over a read that also held headers.
    const view = () => {
      const host = new Uint8Array(n + 32)
      host.set(data.subarray(at, at + n), 16)
      return host.subarray(16, 16 + n)
    }
    pieces.push(whole ? Uint8Array.from(data.subarray(at, at + n)) : view())
    at += n
  }
  return pieces
}

const expectedExtents = (strategy: ChunkStrategy, gear: Uint32Array, idKey: Parameters<typeof referenceId>[0], data: Uint8Array) => {
  const extents: Array<Extent> = []
  let at = 0
  for (const n of chunkLengths(strategy, gear, data)) {
    extents.push([referenceId(idKey, data.subarray(at, at + n)), 0, n])
    at += n
  }
  return extents
}

describe("Gateway ingest: a body's chunks", () => {
  for (const [name, chunk_strategy, strategy] of [
    ["CDC", { Cdc: { target_size: 64 * 1024 } }, { _tag: "Cdc", targetSize: 64 * 1024 } as const],
    ["fixed-size", { Fixed: { size: 100_000 } }, { _tag: "Fixed", size: 100_000 } as const]
  ] as const) {
    it.live(`${name}: the same chunks and ids as the bytes chunked in one piece, whatever the body's pieces`, () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const layer = yield* testRepository(dir, [makeLocalProvider("a", path.join(dir, "a"))], { chunk_strategy })
        yield* Effect.gen(function*() {
          const { ring } = yield* Repository
          const store = yield* ChunkStore
          const ingest = yield* makeIngest
          const gear = gearFromSeed(ring.gearSeed)
          // Many chunks, and a length that is a multiple of nothing.
          const data = randomBytes(3 * 1024 * 1024 + 12_345)
          const expected = expectedExtents(strategy, gear, ring.chunkIdKey, data)
          assert.isAbove(expected.length, 10)
          const md5 = createHash("md5").update(data).digest()
          for (const [sizes, whole] of [[[65_536], true], [[1, 7_000, 300_000, 65_536, 2_000_000], false], [[4 * 1024 * 1024], true]] as const) {
            const r = yield* ingest(Stream.fromIterable(inPieces(data, sizes, whole)), noChecks, 0, whole)
            assert.deepStrictEqual(r.extents, expected, `pieces of ${sizes.join(", ")}`)
            assert.strictEqual(r.size, data.length)
            assert.isTrue(r.md5.equals(md5))
            assert.isUndefined(r.inline)
          }
          // What was stored reads back as the body (once the log has what was recorded).
          yield* (yield* EventLog).append([])
          const back = yield* Effect.forEach(expected, ([id]) => store.load(id))
          assert.isTrue(Buffer.concat(back).equals(data))
        }).pipe(Effect.provide(layer))
      }), 60_000)
  }

  it.live("a body up to the inline size comes back whole and stores nothing; one byte more is chunked", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const layer = yield* testRepository(dir, [makeLocalProvider("a", path.join(dir, "a"))], { chunk_strategy: { Cdc: { target_size: 64 * 1024 } } })
      yield* Effect.gen(function*() {
        const { ring } = yield* Repository
        const ingest = yield* makeIngest
        const gear = gearFromSeed(ring.gearSeed)
        const inlineUpTo = 200_000
        const small = randomBytes(inlineUpTo)
        const kept = yield* ingest(Stream.fromIterable(inPieces(small, [65_536], true)), noChecks, inlineUpTo, true)
        assert.deepStrictEqual(kept.extents, [])
        assert.isTrue(Buffer.from(kept.inline!).equals(small))
        const larger = randomBytes(inlineUpTo + 1)
        const chunked = yield* ingest(Stream.fromIterable(inPieces(larger, [65_536], true)), noChecks, inlineUpTo, true)
        assert.isUndefined(chunked.inline)
        assert.deepStrictEqual(chunked.extents, expectedExtents({ _tag: "Cdc", targetSize: 64 * 1024 }, gear, ring.chunkIdKey, larger))
      }).pipe(Effect.provide(layer))
    }), 60_000)

  it.live("a body that fails midway fails the ingest, and the next body is chunked as if it had not been", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const layer = yield* testRepository(dir, [makeLocalProvider("a", path.join(dir, "a"))], { chunk_strategy: { Cdc: { target_size: 64 * 1024 } } })
      yield* Effect.gen(function*() {
        const { ring } = yield* Repository
        const ingest = yield* makeIngest
        const gear = gearFromSeed(ring.gearSeed)
        const data = randomBytes(2 * 1024 * 1024 + 99)
        const broken = Stream.fromIterable(inPieces(data.subarray(0, 1_500_000), [65_536], true)).pipe(
          Stream.concat(Stream.fail(new Error("connection reset")))
        )
        const failed = yield* Effect.flip(ingest(broken, noChecks, 0, true))
        assert.strictEqual((failed as Error).message, "connection reset")
        const r = yield* ingest(Stream.fromIterable(inPieces(data, [65_536], true)), noChecks, 0, true)
        assert.deepStrictEqual(r.extents, expectedExtents({ _tag: "Cdc", targetSize: 64 * 1024 }, gear, ring.chunkIdKey, data))
      }).pipe(Effect.provide(layer))
    }), 60_000)
})
