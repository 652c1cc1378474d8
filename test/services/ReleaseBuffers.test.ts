import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import { gearFromSeed, makeChunker } from "../../src/domain/Chunker.ts"
import type { ChunkStrategy } from "../../src/domain/Chunker.ts"
import { holdAlone, isFreed, releaseBuffers, releaseCopiedPiece, soleView } from "../../src/services/ReleaseBuffers.ts"
import { OffThreadWrites } from "../../src/services/storage/LocalIoThreads.ts"
import { tempDir } from "../support/cli.ts"
import { SourceBlocks } from "../../src/services/SourceBlocks.ts"
import { newLocalProvider } from "../support/localProvider.ts"

const KiB = 1024

/** A deterministic generator, so a failing case can be replayed. */
const lcg = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed / 2 ** 32
}

/**
 * Streams `data` through a chunker in blocks of random size (each a fresh buffer, as the readers
 * make them), finishing chunks in random order, and checks each chunk's bytes at the moment it
 * is done: a buffer freed too early reads as empty there.
 */
const run = (strategy: ChunkStrategy, data: Uint8Array, seed: number) => {
  const random = lcg(seed)
  const sources = new SourceBlocks(makeChunker(strategy, gearFromSeed(Buffer.from(Array.from({ length: 1024 }, () => Math.floor(random() * 256))))))
  const blocks: Array<ArrayBufferLike> = []
  const outstanding: Array<{ chunk: Uint8Array; start: number; copy: boolean }> = []
  let emitted = 0
  let checked = 0
  let copiesFreed = 0
  const finishOne = () => {
    const [o] = outstanding.splice(Math.floor(random() * outstanding.length), 1)
    const length = o!.chunk.length
    assert.deepStrictEqual(Buffer.from(o!.chunk), Buffer.from(data.subarray(o!.start, o!.start + o!.chunk.length)), `chunk at ${o!.start}`)
    checked += o!.chunk.length
    sources.done(o!.chunk)
    // releaseBuffers leaves buffers under 64 KiB to the collector.
    if (o!.copy && length >= 64 * KiB) assert.strictEqual(o!.chunk.length, 0, "a copy is freed once done")
    if (o!.copy && length >= 64 * KiB) copiesFreed++
  }
  const take = (chunks: Array<Uint8Array>) => {
    for (const chunk of chunks) {
      outstanding.push({ chunk, start: emitted, copy: !blocks.includes(chunk.buffer) })
      emitted += chunk.length
    }
  }
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, 1 + Math.floor(random() * 100 * KiB) + (random() < 0.3 ? 300 * KiB : 0))
    const block = Buffer.allocUnsafeSlow(n)
    block.set(data.subarray(at, at + n))
    at += n
    blocks.push(block.buffer)
    take(sources.push(block, true))
    while (outstanding.length > 0 && random() < 0.6) finishOne()
  }
  take(sources.finish())
  while (outstanding.length > 0) finishOne()
  assert.strictEqual(checked, data.length)
  assert.isAbove(copiesFreed, 5)
  return blocks
}

/** SourceBlocks over a fixed-size chunker. */
const fixedChunking = (size: number) => ({ sources: new SourceBlocks(makeChunker({ _tag: "Fixed", size }, gearFromSeed(randomBytes(1024)))) })

describe("SourceBlocks: read buffers freed once nothing needs their bytes", () => {
  for (const [name, strategy] of [
    ["CDC", { _tag: "Cdc", targetSize: 64 * KiB }],
    ["fixed-size", { _tag: "Fixed", size: 80 * KiB }]
  ] as const) {
    it(`${name} chunks: every chunk intact until done, then every block and copy freed`, () => {
      const data = randomBytes(8 * 1024 * KiB)
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const blocks = run(strategy, data, seed)
        // Blocks of 64 KiB and more are freed; smaller ones are left to the collector.
        const large = blocks.filter((b) => b.byteLength >= 64 * KiB || (b as ArrayBuffer).detached)
        assert.isAbove(large.length, 5)
        for (const b of large) assert.isTrue((b as ArrayBuffer).detached, "every large block is freed")
      }
    })
  }

  it("keeps a block that is not retired (an arena still filling), and frees it once retired", () => {
    const { sources } = fixedChunking(100 * KiB)
    const arena = Buffer.allocUnsafeSlow(400 * KiB)
    const first = arena.subarray(0, 100 * KiB)
    const [chunk] = sources.push(first, true, false)
    sources.done(chunk!)
    assert.strictEqual(arena.length, 400 * KiB, "not retired: more files will be read into it")
    sources.retire(arena.buffer)
    assert.strictEqual(arena.length, 0)
  })

  it("keeps a block while the chunker holds a piece of it", () => {
    const { sources } = fixedChunking(100 * KiB)
    const block = Buffer.allocUnsafeSlow(150 * KiB)
    const [chunk] = sources.push(block, true)
    sources.done(chunk!)
    assert.strictEqual(block.length, 150 * KiB, "its last 50 KiB wait in the chunker")
    const rest = sources.finish()
    assert.strictEqual(rest[0]!.length, 50 * KiB)
    sources.done(rest[0]!)
    assert.strictEqual(block.length, 0)
  })

  it("keeps a block whose held tail comes back from finish as a chunk of its own, until that chunk is done", () => {
    const { sources } = fixedChunking(100 * KiB)
    const first = Buffer.allocUnsafeSlow(100 * KiB)
    const last = Buffer.allocUnsafeSlow(150 * KiB)
    last.fill(7)
    const chunks: Array<Uint8Array> = []
    for (const block of [first, last]) chunks.push(...sources.push(block, true))
    for (const c of chunks) sources.done(c) // `last`: retired, no views, its tail held: waiting
    const [tail] = sources.finish()
    assert.strictEqual(tail!.buffer, last.buffer, "the lone held piece comes back as is")
    sources.done(new Uint8Array(0)) // another chunk done (not one of these blocks): the chunker holds nothing now
    assert.strictEqual(tail!.length, 50 * KiB, "still viewed: not freed")
    assert.isTrue(tail!.every((x) => x === 7))
    sources.done(tail!)
    assert.strictEqual(last.length, 0)
  })

  it("leaves alone chunks of buffers it was not given (a script's own blocks), even whole ones", () => {
    const { sources } = fixedChunking(128 * KiB)
    const shared = Buffer.allocUnsafeSlow(256 * KiB)
    const whole = Buffer.allocUnsafeSlow(100 * KiB)
    const chunks = [...sources.push(shared.subarray(0, 128 * KiB), false), ...sources.push(whole, false), ...sources.finish()]
    assert.strictEqual(chunks[1]!.buffer, whole.buffer, "the tail comes back as the caller's own buffer")
    for (const c of chunks) sources.done(c)
    assert.strictEqual(shared.length, 256 * KiB)
    assert.strictEqual(whole.length, 100 * KiB)
  })
})

describe("releaseBuffers", () => {
  it("frees a large buffer (every view of it reads as empty) and leaves small or pooled ones", () => {
    const large = Buffer.allocUnsafeSlow(64 * KiB)
    const view = large.subarray(10, 20)
    const small = Buffer.allocUnsafeSlow(64 * KiB - 1)
    const pooled = Buffer.from("pooled")
    releaseBuffers([large, small, pooled])
    assert.strictEqual(large.length, 0)
    assert.strictEqual(view.length, 0)
    assert.strictEqual(small.length, 64 * KiB - 1)
    assert.strictEqual(pooled.toString(), "pooled")
    releaseBuffers([large]) // twice: nothing happens
  })
})

describe("soleView", () => {
  it("is a view spanning its buffer, or one marked by holdAlone; a view of part of a buffer is not, nor its siblings after a marking elsewhere", () => {
    assert.isTrue(soleView(new Uint8Array(256 * KiB)))
    const envelope = new Uint8Array(256 * KiB)
    const plain = envelope.subarray(18, envelope.length - 16)
    assert.isFalse(soleView(plain))
    assert.strictEqual(holdAlone(plain), plain)
    assert.isTrue(soleView(plain))
    // Another buffer's part-views are untouched by that marking.
    assert.isFalse(soleView(new Uint8Array(256 * KiB).subarray(1)))
  })
})

describe("releaseCopiedPiece", () => {
  it("frees a piece that is a buffer of its own above the pool's slab, and leaves views, small and pooled ones", () => {
    const piece = new Uint8Array(new ArrayBuffer(16 * KiB)) // a socket read's piece
    releaseCopiedPiece(piece)
    assert.isTrue(isFreed(piece))
    const whole = new Uint8Array(new ArrayBuffer(64 * KiB))
    const view = whole.subarray(0, 32 * KiB) // a view: its buffer holds more
    releaseCopiedPiece(view)
    assert.isFalse(isFreed(whole))
    const small = new Uint8Array(new ArrayBuffer(8 * KiB)) // could be a pool slab
    releaseCopiedPiece(small)
    assert.isFalse(isFreed(small))
    const pooled = Buffer.from("pooled") // a slice of Node's pool
    releaseCopiedPiece(pooled)
    assert.strictEqual(pooled.toString(), "pooled")
    const shared = new Uint8Array(new SharedArrayBuffer(16 * KiB))
    releaseCopiedPiece(shared) // cannot be detached
    assert.strictEqual(shared.length, 16 * KiB)
  })
})

describe("a freed buffer is never written", () => {
  it.effect("LocalProvider.put refuses one and leaves the object it would have replaced intact", () =>
    Effect.gen(function*() {
      const local = newLocalProvider("local", path.join(tempDir(), "local"))
      const good = randomBytes(100 * KiB)
      yield* local.put("chunks/ab/abcd", [good.subarray(0, 50 * KiB), good.subarray(50 * KiB)])
      const freed = Buffer.from(randomBytes(100 * KiB))
      releaseBuffers([freed])
      assert.isTrue(isFreed(freed))
      const e = yield* Effect.flip(local.put("chunks/ab/abcd", [freed]))
      assert.match(e.detail, /freed while still in use/)
      // The same through the write workers (backups and gateway PUTs).
      const viaWorker = yield* Effect.flip(local.put("chunks/ab/abcd", [freed]).pipe(Effect.provideService(OffThreadWrites, 16)))
      assert.match(viaWorker.detail, /freed while still in use/)
      assert.deepStrictEqual(Buffer.from(yield* local.get("chunks/ab/abcd")), good)
    }))
})
