import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as path from "node:path"
import { type ChunkStrategy, chunkLengths, gearFromSeed } from "../../../src/domain/Chunker.ts"
import { chunkStrategyOf, type EnigmaSettings } from "../../../src/domain/Settings.ts"
import type { Extent } from "../../../src/domain/Events.ts"
import { ChunkStore } from "../../../src/services/ChunkStore.ts"
import { makeIngest } from "../../../src/services/gateway/Ingest.ts"
import { EventLog } from "../../../src/services/manifest/EventLog.ts"
import { Repository } from "../../../src/services/Repository.ts"
import { tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { referenceId } from "../../support/referenceIds.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

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

type Ingest = Effect.Success<typeof makeIngest>

/**
 * Runs `test` in a fresh repository chunking with `chunk_strategy`, with its Ingest and the
 * extents the same bytes chunked in one piece have.
 */
const withIngest = (
  chunk_strategy: EnigmaSettings["enigma"]["chunk_strategy"],
  test: (t: { readonly ingest: Ingest; readonly expected: (data: Uint8Array) => Array<Extent> }) => Effect.Effect<void, unknown, ChunkStore | EventLog>
) =>
  Effect.gen(function*() {
    const dir = tempDir()
    const layer = yield* testRepository(dir, [newLocalProvider("a", path.join(dir, "a"))], { chunk_strategy })
    yield* Effect.gen(function*() {
      const { ring, settings } = yield* Repository
      const gear = gearFromSeed(ring.gearSeed)
      const strategy = chunkStrategyOf(settings)
      yield* test({ ingest: yield* makeIngest, expected: (data) => expectedExtents(strategy, gear, ring.chunkIdKey, data) })
    }).pipe(Effect.provide(layer))
  })

const cdc64k = { Cdc: { target_size: 64 * 1024 } }

describe("Gateway ingest: a body's chunks", () => {
  for (const [name, chunkStrategy] of [["CDC", cdc64k], ["fixed-size", { Fixed: { size: 100_000 } }]] as const) {
    it.live(`${name}: the same chunks and ids as the bytes chunked in one piece, whatever the body's pieces`, () =>
      withIngest(chunkStrategy, ({ ingest, expected }) =>
        Effect.gen(function*() {
          // Many chunks, and a length that is a multiple of nothing.
          const data = randomBytes(3 * 1024 * 1024 + 12_345)
          const extents = expected(data)
          assert.isAbove(extents.length, 10)
          const md5 = createHash("md5").update(data).digest()
          for (const [sizes, whole] of [[[65_536], true], [[1, 7_000, 300_000, 65_536, 2_000_000], false], [[4 * 1024 * 1024], true]] as const) {
            const r = yield* ingest(Stream.fromIterable(inPieces(data, sizes, whole)), noChecks, 0, whole)
            assert.deepStrictEqual(r.extents, extents, `pieces of ${sizes.join(", ")}`)
            assert.strictEqual(r.size, data.length)
            assert.isTrue(r.md5.equals(md5))
            assert.isUndefined(r.inline)
          }
          // What was stored reads back as the body (once the log has what was recorded).
          yield* (yield* EventLog).append([])
          const store = yield* ChunkStore
          const back = yield* Effect.forEach(extents, ([id]) => store.load(id))
          assert.isTrue(Buffer.concat(back).equals(data))
        })), 60_000)
  }

  it.live("a body up to the inline size comes back whole and stores nothing; one byte more is chunked", () =>
    withIngest(cdc64k, ({ ingest, expected }) =>
      Effect.gen(function*() {
        const inlineUpTo = 200_000
        const small = randomBytes(inlineUpTo)
        const kept = yield* ingest(Stream.fromIterable(inPieces(small, [65_536], true)), noChecks, inlineUpTo, true)
        assert.deepStrictEqual(kept.extents, [])
        assert.isTrue(Buffer.from(kept.inline!).equals(small))
        const larger = randomBytes(inlineUpTo + 1)
        const chunked = yield* ingest(Stream.fromIterable(inPieces(larger, [65_536], true)), noChecks, inlineUpTo, true)
        assert.isUndefined(chunked.inline)
        assert.deepStrictEqual(chunked.extents, expected(larger))
      })), 60_000)

  it.live("a body that fails midway fails the ingest, and the next body is chunked as if it had not been", () =>
    withIngest(cdc64k, ({ ingest, expected }) =>
      Effect.gen(function*() {
        const data = randomBytes(2 * 1024 * 1024 + 99)
        const broken = Stream.fromIterable(inPieces(data.subarray(0, 1_500_000), [65_536], true)).pipe(
          Stream.concat(Stream.fail(new Error("connection reset")))
        )
        const failed = yield* Effect.flip(ingest(broken, noChecks, 0, true))
        assert.strictEqual((failed as Error).message, "connection reset")
        const r = yield* ingest(Stream.fromIterable(inPieces(data, [65_536], true)), noChecks, 0, true)
        assert.deepStrictEqual(r.extents, expected(data))
      })), 60_000)
})
