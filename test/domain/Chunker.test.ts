import { assert, describe, it } from "@effect/vitest"
import { cdcCuts, cdcParams, cdcSearch, chunkLengths, gearFromSeed, makeChunker } from "../../src/domain/Chunker.ts"
import type { ChunkStrategy } from "../../src/domain/Chunker.ts"

const KiB = 1024
const MiB = 1024 * KiB

// --- deterministic test data (never Math.random, so failures reproduce) -----------------------

/** mulberry32: a small seeded PRNG returning uint32s. */
const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

const randomBytes = (seed: number, length: number): Uint8Array => {
  const next = mulberry32(seed)
  const out = new Uint8Array(length)
  const words = new Uint32Array(out.buffer, 0, length >>> 2)
  for (let i = 0; i < words.length; i++) words[i] = next()
  for (let i = words.length * 4; i < length; i++) out[i] = next() & 0xff
  return out
}

const gearA = gearFromSeed(randomBytes(1, 1024))
const gearB = gearFromSeed(randomBytes(2, 1024))

const cdc = (targetSize: number): ChunkStrategy => ({ _tag: "Cdc", targetSize })
const fixed = (size: number): ChunkStrategy => ({ _tag: "Fixed", size })

/** Pushes `data` in blocks of the given sizes (cycled), then finishes; returns all chunks. */
const chunkInBlocks = (
  strategy: ChunkStrategy,
  gear: Uint32Array,
  data: Uint8Array,
  blockSizes: ReadonlyArray<number>
): Array<Uint8Array> => {
  const chunker = makeChunker(strategy, gear)
  const chunks: Array<Uint8Array> = []
  let offset = 0
  let k = 0
  while (offset < data.length) {
    const size = blockSizes[k++ % blockSizes.length]!
    // Copy each block so nothing can depend on the blocks sharing one buffer.
    const block = data.slice(offset, offset + size)
    offset += block.length
    for (const c of chunker.push(block)) chunks.push(c)
  }
  for (const c of chunker.finish()) chunks.push(c)
  return chunks
}

const concatAll = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  let total = 0
  for (const c of chunks) total += c.length
  const out = new Uint8Array(total)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A content key for a chunk: its length and FNV-1a 32 hash. */
const contentKey = (chunk: Uint8Array): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < chunk.length; i++) h = Math.imul(h ^ chunk[i]!, 0x01000193)
  return `${chunk.length}:${(h >>> 0).toString(16)}`
}

/** Fraction of the chunks of `original` whose content also occurs among the chunks of `edited`. */
const sharedFraction = (original: ReadonlyArray<Uint8Array>, edited: ReadonlyArray<Uint8Array>): number => {
  const keys = new Set(edited.map(contentKey))
  let shared = 0
  for (const c of original) if (keys.has(contentKey(c))) shared++
  return shared / original.length
}

const lengthsOf = (chunks: ReadonlyArray<Uint8Array>): Array<number> => chunks.map((c) => c.length)

const sum = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0)

// Shared inputs (generated once).
const random8M = randomBytes(42, 8 * MiB)
const random4M = random8M.subarray(0, 4 * MiB)
const random1M = random8M.subarray(0, 1 * MiB)

// --- tests ------------------------------------------------------------------------------------

describe("cdcParams", () => {
  it("uses min = avg/4 and max = avg*4, keeping avg = targetSize", () => {
    assert.deepStrictEqual(cdcParams(4 * MiB), { min: 1 * MiB, avg: 4 * MiB, max: 16 * MiB })
    assert.deepStrictEqual(cdcParams(16 * KiB), { min: 4 * KiB, avg: 16 * KiB, max: 64 * KiB })
    // Not rounded to a power of two.
    assert.deepStrictEqual(cdcParams(10_000), { min: 2_500, avg: 10_000, max: 40_000 })
  })

  it("accepts the bounds 256 and 256 MiB", () => {
    assert.deepStrictEqual(cdcParams(256), { min: 64, avg: 256, max: 1024 })
    assert.deepStrictEqual(cdcParams(256 * MiB), { min: 64 * MiB, avg: 256 * MiB, max: 1024 * MiB })
  })

  it("throws RangeError outside [256, 256 MiB] and for non-integers", () => {
    for (const bad of [255, 256 * MiB + 1, 0, -4096, 1000.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => cdcParams(bad), RangeError, /CDC target size/)
    }
  })

  it("makeChunker validates the strategy and the gear table", () => {
    assert.throws(() => makeChunker(cdc(255), gearA), RangeError)
    assert.throws(() => makeChunker(cdc(512 * MiB), gearA), RangeError)
    assert.throws(() => makeChunker(fixed(0), gearA), RangeError)
    assert.throws(() => makeChunker(fixed(1.5), gearA), RangeError)
    assert.throws(() => makeChunker(cdc(4 * KiB), new Uint32Array(255)), RangeError)
  })
})

describe("gearFromSeed", () => {
  it("throws RangeError for seeds shorter than 1024 bytes", () => {
    assert.throws(() => gearFromSeed(new Uint8Array(0)), RangeError)
    assert.throws(() => gearFromSeed(new Uint8Array(1023)), RangeError)
  })

  it("reads 256 little-endian uint32 entries from the seed", () => {
    const seed = randomBytes(7, 1024)
    seed.set([0x01, 0x02, 0x03, 0x04, 0xff, 0xfe, 0xfd, 0xfc], 0)
    seed.set([0x78, 0x56, 0x34, 0x12], 1020)
    const gear = gearFromSeed(seed)
    assert.strictEqual(gear.length, 256)
    assert.strictEqual(gear[0], 0x04030201)
    assert.strictEqual(gear[1], 0xfcfdfeff)
    assert.strictEqual(gear[255], 0x12345678)
    const view = new DataView(seed.buffer)
    for (let i = 0; i < 256; i++) assert.strictEqual(gear[i], view.getUint32(i * 4, true))
  })

  it("is deterministic", () => {
    assert.deepStrictEqual(gearFromSeed(randomBytes(1, 1024)), gearA)
    assert.notDeepEqual(gearA, gearB)
  })
})

describe("CDC chunker", () => {
  it("returns no chunks for empty input", () => {
    assert.deepStrictEqual(chunkLengths(cdc(4 * KiB), gearA, new Uint8Array(0)), [])
    const chunker = makeChunker(cdc(4 * KiB), gearA)
    assert.deepStrictEqual(chunker.push(new Uint8Array(0)), [])
    assert.deepStrictEqual(chunker.finish(), [])
  })

  it("returns a short input as one chunk, from finish", () => {
    const data = randomBytes(3, 1000)
    const chunker = makeChunker(cdc(4 * KiB), gearA)
    assert.deepStrictEqual(chunker.push(data), [])
    const tail = chunker.finish()
    assert.strictEqual(tail.length, 1)
    assert.isTrue(bytesEqual(tail[0]!, data))
  })

  it("gives the same boundaries for the same bytes", () => {
    const a = chunkLengths(cdc(16 * KiB), gearA, random1M)
    const b = chunkLengths(cdc(16 * KiB), gearA, random1M.slice())
    assert.isAbove(a.length, 10)
    assert.deepStrictEqual(a, b)
    assert.strictEqual(sum(a), random1M.length)
  })

  it("gives the same boundaries however the input is split into blocks", () => {
    const strategy = cdc(4 * KiB)
    const data = random1M.subarray(0, 256 * KiB)
    const oneShot = chunkLengths(strategy, gearA, data)
    assert.isAbove(oneShot.length, 20)
    const next = mulberry32(99)
    const randomSizes = Array.from({ length: 500 }, () => 1 + (next() % 20_000))
    const splits: Array<ReadonlyArray<number>> = [
      [1], // byte by byte
      [3, 7, 4093],
      [1023, 1024, 1025], // around min
      [4096], // exactly avg
      [16 * KiB, 1], // exactly max, then 1
      randomSizes,
      [data.length] // huge
    ]
    for (const sizes of splits) {
      const chunks = chunkInBlocks(strategy, gearA, data, sizes)
      assert.deepStrictEqual(lengthsOf(chunks), oneShot, `blocks ${sizes.slice(0, 3).join(",")}`)
      assert.isTrue(bytesEqual(concatAll(chunks), data), `content, blocks ${sizes.slice(0, 3).join(",")}`)
    }
  })

  it("gives the same boundaries at the 4 MiB default target with 1 MiB blocks", () => {
    const data = new Uint8Array(32 * MiB)
    for (let i = 0; i < 4; i++) data.set(random8M, i * 8 * MiB)
    data[12 * MiB] ^= 0x5a // not an exact repetition
    const strategy = cdc(4 * MiB)
    const oneShot = chunkLengths(strategy, gearA, data)
    const { max, min } = cdcParams(4 * MiB)
    assert.isAbove(oneShot.length, 3)
    for (const len of oneShot.slice(0, -1)) assert.isTrue(len >= min && len <= max, `chunk length ${len}`)
    const chunks = chunkInBlocks(strategy, gearA, data, [MiB])
    assert.deepStrictEqual(lengthsOf(chunks), oneShot)
    assert.isTrue(bytesEqual(concatAll(chunks), data))
  })

  it("keeps every chunk but the last within [min, max], and the last non-empty and <= max", () => {
    const zeros = new Uint8Array(1 * MiB)
    const pattern = new Uint8Array(1 * MiB)
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7) & 0x3f
    const cases: Array<[string, number, Uint8Array]> = [
      ["random 16 KiB", 16 * KiB, random8M],
      ["random 4 KiB", 4 * KiB, random1M],
      ["random 256", 256, random1M.subarray(0, 64 * KiB)],
      ["zeros", 4 * KiB, zeros],
      ["pattern", 4 * KiB, pattern]
    ]
    for (const [label, target, data] of cases) {
      for (const gear of [gearA, gearB]) {
        const { min, max } = cdcParams(target)
        const lengths = chunkLengths(cdc(target), gear, data)
        assert.strictEqual(sum(lengths), data.length, label)
        for (const len of lengths.slice(0, -1)) {
          assert.isTrue(len >= min && len <= max, `${label}: chunk length ${len} outside [${min}, ${max}]`)
        }
        const last = lengths[lengths.length - 1]!
        assert.isTrue(last >= 1 && last <= max, `${label}: last chunk length ${last}`)
      }
    }
  })

  it("cuts by content on random data (boundaries are not pinned to min or max)", () => {
    const { min, max } = cdcParams(16 * KiB)
    const lengths = chunkLengths(cdc(16 * KiB), gearA, random8M).slice(0, -1)
    const atBounds = lengths.filter((len) => len === min || len === max).length
    assert.isBelow(atBounds / lengths.length, 0.05)
    assert.isAbove(new Set(lengths).size, lengths.length * 0.9)
  })

  it("has a mean chunk size near the target on random data", () => {
    const target = 16 * KiB
    const lengths = chunkLengths(cdc(target), gearA, random8M)
    const mean = random8M.length / lengths.length
    assert.isTrue(mean >= target * 0.75 && mean <= target * 1.5, `mean ${mean}`)
  })

  it("normalizes chunk sizes: few chunks below avg/2 or above 2×avg", () => {
    // Level-2 normalized chunking: the strict mask up to avg makes P(len < avg/2) ≈ 1 - e^(-1/16)
    // ≈ 6%, the loose mask after avg makes P(len > 2·avg) ≈ e^(-3/16 - 4) ≈ 1.5%. Without
    // normalization (one mask of log2(avg) bits) these would be ≈ 22% and ≈ 35%.
    const avg = 16 * KiB
    const lengths = chunkLengths(cdc(avg), gearA, random8M).slice(0, -1)
    const small = lengths.filter((len) => len < avg / 2).length / lengths.length
    const large = lengths.filter((len) => len > 2 * avg).length / lengths.length
    assert.isBelow(small, 0.12, `fraction below avg/2: ${small}`)
    assert.isBelow(large, 0.05, `fraction above 2×avg: ${large}`)
  })

  it("decides a boundary on the last 32 bytes, using the high hash bits", () => {
    // Bit k of the gear hash depends on the last k + 1 bytes. The masks use high bits, so a byte
    // 27 positions before a boundary decides it (with low-bit masks it would not matter), and a
    // byte 40 positions before is outside the window (it can only add a cut in between).
    const strategy = cdc(4 * KiB)
    const data = random1M.subarray(0, 256 * KiB)
    const { max } = cdcParams(4 * KiB)
    const cutsOf = (bytes: Uint8Array): Set<number> => {
      const out = new Set<number>()
      let o = 0
      for (const len of chunkLengths(strategy, gearA, bytes)) out.add((o += len))
      return out
    }
    const lengths = chunkLengths(strategy, gearA, data)
    let offset = 0
    let trials = 0
    let movedNear = 0
    let keptFar = 0
    for (const len of lengths.slice(0, 30)) {
      offset += len
      if (len === max) continue // cut by the size limit, not by content
      trials++
      const near = data.slice()
      near[offset - 1 - 26] ^= 0x01
      if (!cutsOf(near).has(offset)) movedNear++
      const far = data.slice()
      far[offset - 1 - 40] ^= 0x01
      if (cutsOf(far).has(offset)) keptFar++
    }
    assert.isAbove(trials, 20)
    assert.isAtLeast(movedNear / trials, 0.8, `moved by a change 27 bytes before: ${movedNear}/${trials}`)
    assert.isAtLeast(keptFar / trials, 0.8, `kept after a change 41 bytes before: ${keptFar}/${trials}`)
  })

  it("changes only the chunks around a one-byte insertion", () => {
    const strategy = cdc(16 * KiB)
    const edited = new Uint8Array(random4M.length + 1)
    edited.set(random4M.subarray(0, 100), 0)
    edited[100] = 0xa5
    edited.set(random4M.subarray(100), 101)
    const before = chunkInBlocks(strategy, gearA, random4M, [random4M.length])
    const after = chunkInBlocks(strategy, gearA, edited, [edited.length])
    assert.isAbove(before.length, 100)
    const shared = sharedFraction(before, after)
    assert.isAtLeast(shared, 0.9)
    // Only chunks near the edit differ: everything from the third chunk on is shared.
    const afterKeys = new Set(after.map(contentKey))
    for (const c of before.slice(2)) assert.isTrue(afterKeys.has(contentKey(c)))
  })

  it("changes only the chunks around a one-byte deletion in the middle", () => {
    const strategy = cdc(16 * KiB)
    const at = 2 * MiB + 12_345
    const edited = new Uint8Array(random4M.length - 1)
    edited.set(random4M.subarray(0, at), 0)
    edited.set(random4M.subarray(at + 1), at)
    const before = chunkInBlocks(strategy, gearA, random4M, [64 * KiB])
    const after = chunkInBlocks(strategy, gearA, edited, [64 * KiB])
    assert.isAtLeast(sharedFraction(before, after), 0.9)
  })

  it("gives different boundaries with a different gear seed", () => {
    const a = chunkLengths(cdc(16 * KiB), gearA, random1M)
    const b = chunkLengths(cdc(16 * KiB), gearB, random1M)
    assert.notDeepEqual(a, b)
    // Not just a shifted tail: most boundary positions differ.
    const cuts = (lengths: Array<number>) => {
      const out = new Set<number>()
      let o = 0
      for (const len of lengths) out.add((o += len))
      return out
    }
    const cutsA = cuts(a)
    const cutsB = cuts(b)
    let common = 0
    for (const c of cutsA) if (cutsB.has(c)) common++
    assert.isBelow(common, cutsA.size / 2)
  })

  it("returns views of the pushed block for chunks inside it, fresh buffers for spanning chunks", () => {
    const data = random1M.slice(0, 256 * KiB)
    const chunker = makeChunker(cdc(4 * KiB), gearA)
    const first = chunker.push(data.subarray(0, 128 * KiB))
    assert.isAbove(first.length, 2)
    for (const c of first) assert.strictEqual(c.buffer, data.buffer)
    const second = chunker.push(data.slice(128 * KiB))
    // The first chunk of the second push began in the first block.
    assert.notStrictEqual(second[0]!.buffer, data.buffer)
    const all = [...first, ...second, ...chunker.finish()]
    assert.isTrue(bytesEqual(concatAll(all), data))
    for (const c of all) assert.isAbove(c.length, 0)
  })
})

describe("Fixed chunker", () => {
  it("cuts exact multiples into equal chunks", () => {
    const lengths = chunkLengths(fixed(1000), gearA, random1M.subarray(0, 5000))
    assert.deepStrictEqual(lengths, [1000, 1000, 1000, 1000, 1000])
  })

  it("ends with a shorter remainder", () => {
    const lengths = chunkLengths(fixed(1000), gearA, random1M.subarray(0, 5003))
    assert.deepStrictEqual(lengths, [1000, 1000, 1000, 1000, 1000, 3])
    assert.deepStrictEqual(chunkLengths(fixed(1000), gearA, random1M.subarray(0, 999)), [999])
    assert.deepStrictEqual(chunkLengths(fixed(1), gearA, random1M.subarray(0, 3)), [1, 1, 1])
  })

  it("returns each chunk from the push that completes it", () => {
    const chunker = makeChunker(fixed(4096), gearA)
    const data = random1M.subarray(0, 3 * 4096)
    const first = chunker.push(data.subarray(0, 2 * 4096))
    assert.deepStrictEqual(lengthsOf(first), [4096, 4096])
    for (const c of first) assert.strictEqual(c.buffer, data.buffer) // views, no copy
    assert.deepStrictEqual(chunker.push(data.subarray(2 * 4096, 2 * 4096 + 100)), [])
    assert.deepStrictEqual(lengthsOf(chunker.push(data.subarray(2 * 4096 + 100))), [4096])
    assert.deepStrictEqual(chunker.finish(), [])
  })

  it("returns no chunks for empty input", () => {
    assert.deepStrictEqual(chunkLengths(fixed(1000), gearA, new Uint8Array(0)), [])
  })

  it("does not depend on how the input is split into blocks", () => {
    const data = random1M.subarray(0, 100_003)
    const expected = [...Array.from({ length: 24 }, () => 4096), 100_003 - 24 * 4096]
    const next = mulberry32(5)
    const randomSizes = Array.from({ length: 200 }, () => 1 + (next() % 9000))
    for (const sizes of [[1], [4095], [4096], [4097], [3, 8191, 1], randomSizes, [data.length]]) {
      const chunks = chunkInBlocks(fixed(4096), gearA, data, sizes)
      assert.deepStrictEqual(lengthsOf(chunks), expected, `blocks ${sizes.slice(0, 3).join(",")}`)
      assert.isTrue(bytesEqual(concatAll(chunks), data))
    }
  })
})

describe("CDC cuts found elsewhere (cdcCuts, then pushCut)", () => {
  const params = cdcParams(64 * KiB)

  /** Cuts each block with a search of its own, as a worker does, then has the chunker assemble them. */
  const chunkWithCutsFoundElsewhere = (data: Uint8Array, blockSizes: ReadonlyArray<number>, cuts: typeof cdcCuts) => {
    const chunker = makeChunker(cdc(64 * KiB), gearA)
    const search = cdcSearch(params, gearA)
    const chunks: Array<Uint8Array> = []
    let offset = 0
    let k = 0
    while (offset < data.length) {
      const block = data.slice(offset, offset + blockSizes[k++ % blockSizes.length]!)
      offset += block.length
      const found: Array<number> = []
      cuts(search, block, found)
      chunks.push(...chunker.pushCut!(block, found, search))
    }
    chunks.push(...chunker.finish())
    return chunks
  }

  it("gives exactly the chunks `push` gives, however the input is split", () => {
    const data = randomBytes(11, 3 * MiB + 777)
    const expected = chunkInBlocks(cdc(64 * KiB), gearA, data, [data.length]).map((c) => c.length)
    for (const sizes of [[data.length], [1, 4096, 100_000], [64 * KiB], [params.max + 1, 3]]) {
      const got = chunkWithCutsFoundElsewhere(data, sizes, cdcCuts)
      assert.deepStrictEqual(got.map((c) => c.length), expected, `blocks of ${sizes.join("/")}`)
      assert.deepStrictEqual(concatAll(got), data)
    }
  })

  it("runs from its source text alone, as a worker runs it", () => {
    // The worker evaluates `cdcCuts.toString()`: it must refer to nothing outside its own body.
    const standalone = new Function(`return (${cdcCuts.toString()})`)() as typeof cdcCuts
    const data = randomBytes(12, 2 * MiB + 5)
    const expected = chunkInBlocks(cdc(64 * KiB), gearA, data, [data.length]).map((c) => c.length)
    assert.deepStrictEqual(chunkWithCutsFoundElsewhere(data, [300_000, 7], standalone).map((c) => c.length), expected)
  })

  it("a chunk within one block is a view of it; one spanning blocks is a copy", () => {
    const chunker = makeChunker(cdc(64 * KiB), gearA)
    const search = cdcSearch(params, gearA)
    const block = randomBytes(13, MiB)
    const found: Array<number> = []
    cdcCuts(search, block, found)
    const chunks = chunker.pushCut!(block, found, search)
    assert.isAbove(chunks.length, 2)
    for (const c of chunks) assert.strictEqual(c.buffer, block.buffer)
    assert.isTrue(chunker.holds(block.buffer), "the tail waits for the next block")
    const next = randomBytes(14, MiB)
    const more: Array<number> = []
    cdcCuts(search, next, more)
    const spanning = chunker.pushCut!(next, more, search)[0]!
    assert.notStrictEqual(spanning.buffer, next.buffer)
    assert.notStrictEqual(spanning.buffer, block.buffer)
  })
})
