import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { blocksOf } from "../../../src/services/storage/Blocks.ts"

const framed = (pieces: ReadonlyArray<ReadonlyArray<number>>, size: number) =>
  Stream.fromIterable(pieces.map((p) => new Uint8Array(p))).pipe(
    blocksOf(size),
    Stream.map((b) => ({ bytes: [...b.bytes], index: b.index, last: b.last })),
    Stream.runCollect
  )

describe("blocksOf", () => {
  it.effect("re-frames pieces into blocks of the size, the last one marked (and shorter)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* framed([[1, 2, 3], [], [4], [5, 6, 7, 8, 9]], 4), [
        { bytes: [1, 2, 3, 4], index: 0, last: false },
        { bytes: [5, 6, 7, 8], index: 1, last: false },
        { bytes: [9], index: 2, last: true }
      ])
      assert.deepStrictEqual(yield* framed([[1, 2], [3, 4]], 2), [
        { bytes: [1, 2], index: 0, last: false },
        { bytes: [3, 4], index: 1, last: true }
      ])
      assert.deepStrictEqual(yield* framed([], 4), [{ bytes: [], index: 0, last: true }])
    }))

  it.effect("a failing body never yields a last block (nothing a provider could store as complete)", () =>
    Effect.gen(function*() {
      const seen: Array<boolean> = []
      const exit = yield* Stream.concat(Stream.make(new Uint8Array([1, 2, 3])), Stream.fail("broke")).pipe(
        blocksOf(2),
        Stream.runForEach((b) => Effect.sync(() => seen.push(b.last))),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(seen, [])
      const empty = yield* Stream.fail("broke").pipe(blocksOf(2), Stream.runCollect, Effect.exit)
      assert.isTrue(Exit.isFailure(empty))
    }))
})
