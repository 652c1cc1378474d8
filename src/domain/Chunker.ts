/**
 * Content-defined chunking (FastCDC with normalized chunking, level 2) and fixed-size chunking.
 *
 * Pure code: no I/O, no platform imports. The chunker is streaming: blocks of any size are
 * pushed in order and the boundaries found are identical however the input was split, because
 * the rolling hash and the current chunk length are carried across pushes (the gear hash window
 * is implicit in the 32-bit shift: bit k of the hash depends on the last k + 1 bytes only).
 *
 * CDC boundaries, for a chunk whose bytes are numbered 1, 2, ... (`len` = bytes so far):
 *   - bytes 1..min are skipped without hashing; the hash restarts at 0 for every chunk;
 *   - bytes min+1..avg are hashed and the chunk is cut after a byte whose hash has all the bits
 *     of `maskS` clear (log2(avg) + 2 one-bits: stricter, so fewer small chunks);
 *   - bytes avg+1..max use `maskL` (log2(avg) - 2 one-bits: looser, so fewer large chunks);
 *   - the chunk is cut unconditionally at `max` bytes.
 * The masks' one-bits sit in the high bits of the 32-bit hash: the low bits depend only on the
 * last few bytes, the high bits on up to the last 32.
 */

export type ChunkStrategy =
  | { readonly _tag: "Cdc"; readonly targetSize: number }
  | { readonly _tag: "Fixed"; readonly size: number }

export interface CdcParams {
  readonly min: number
  readonly avg: number
  readonly max: number
}

const minTargetSize = 256
const maxTargetSize = 256 * 1024 * 1024

/** The gear table is read from this many seed bytes (256 entries × 4 bytes). */
const gearSeedLength = 1024

/**
 * min = avg/4, max = avg*4 (FastCDC paper ratios), avg = targetSize (not rounded to a power of
 * two). Throws RangeError unless targetSize is an integer in [256, 256 MiB].
 */
export const cdcParams = (targetSize: number): CdcParams => {
  if (!Number.isInteger(targetSize) || targetSize < minTargetSize || targetSize > maxTargetSize) {
    throw new RangeError(
      `CDC target size must be an integer in [${minTargetSize}, ${maxTargetSize}], got ${targetSize}`
    )
  }
  return { min: Math.floor(targetSize / 4), avg: targetSize, max: targetSize * 4 }
}

/**
 * 256-entry gear table read from the first 1024 bytes of a secret seed (4 bytes per entry, little
 * endian). The caller derives the seed from the repository secret with HKDF, so that chunk
 * boundaries do not fingerprint known files. Throws RangeError if the seed is shorter than 1024
 * bytes; bytes past the first 1024 are not used.
 */
export const gearFromSeed = (seed: Uint8Array): Uint32Array => {
  if (seed.length < gearSeedLength) {
    throw new RangeError(`gear seed must be at least ${gearSeedLength} bytes, got ${seed.length}`)
  }
  const gear = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    const o = i * 4
    gear[i] = (seed[o]! | (seed[o + 1]! << 8) | (seed[o + 2]! << 16) | (seed[o + 3]! << 24)) >>> 0
  }
  return gear
}

/**
 * Streaming chunker: push byte blocks of any size in order; `push` returns the chunks completed
 * by this push, in order. `finish` returns the remaining tail (0 or 1 chunk; never an empty
 * chunk) and resets the chunker. The concatenation of all returned chunks equals the
 * concatenation of all pushed blocks, and boundaries are identical however the input is split.
 * Chunks lying inside one block are subarray views of it (zero copy); chunks spanning blocks are
 * fresh buffers. Callers must not mutate blocks after pushing them.
 */
export interface Chunker {
  push(block: Uint8Array): Array<Uint8Array>
  /**
   * CDC only: like `push`, with the cuts of `block` already found by `cdcCuts` elsewhere (a worker
   * thread), continuing this chunker's stream, and where that search stood after `block`.
   */
  readonly pushCut?: (block: Uint8Array, cuts: ArrayLike<number>, after: { readonly h: number; readonly len: number }) => Array<Uint8Array>
  finish(): Array<Uint8Array>
  /** Whether the chunk in the making keeps a view of `buffer` (so it must stay intact). */
  holds(buffer: ArrayBufferLike): boolean
}

/** Number of one-bits for an average chunk size: round(log2(avg)). */
const log2Round = (n: number): number => Math.round(Math.log2(n))

/** A 32-bit mask (as int32) with `bits` one-bits in the high end of the word. */
const highMask = (bits: number): number => (bits >= 32 ? -1 : bits <= 0 ? 0 : (-1 << (32 - bits)) | 0)

/** Buffers `concat` made: the chunks that are copies, not views of a pushed block. */
const copies = new WeakSet<ArrayBufferLike>()

/** Whether `chunk` is a copy the chunker made (spanning blocks), owned by whoever received it. */
export const isChunkerCopy = (chunk: Uint8Array): boolean => copies.has(chunk.buffer)

const holdsView = (pieces: ReadonlyArray<Uint8Array>, buffer: ArrayBufferLike) => pieces.some((p) => p.buffer === buffer)

const concat = (pieces: Array<Uint8Array>, total: number): Uint8Array => {
  if (pieces.length === 1 && pieces[0]!.length === total) return pieces[0]!
  // Uninitialised (every byte is written below) and not pooled: a zero-filled array is fresh,
  // page-faulting memory every chunk, 3.5x slower here than malloc'd memory the allocator recycles.
  const out: Uint8Array = Buffer.allocUnsafeSlow(total)
  copies.add(out.buffer)
  let o = 0
  for (const p of pieces) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/**
 * Where a CDC cut search stands: the parameters, the rolling hash `h` (int32) of the chunk in the
 * making (0 until its byte min+1) and `len`, the bytes of it seen so far.
 */
export interface CdcSearch {
  readonly min: number
  readonly avg: number
  readonly max: number
  /** log2(avg) + 2 high one-bits, as int32: the strict mask for bytes min+1..avg. */
  readonly maskS: number
  /** log2(avg) - 2 high one-bits: the loose mask for bytes avg+1..max. */
  readonly maskL: number
  /** The gear table as int32, so the hot loop stays in int32 arithmetic. */
  readonly gear: Int32Array
  h: number
  len: number
}

/** A search at the start of a stream. */
export const cdcSearch = (params: CdcParams, gear: Uint32Array): CdcSearch => {
  const bits = log2Round(params.avg)
  const table = new Int32Array(256)
  table.set(gear) // ToInt32: same bits
  return { min: params.min, avg: params.avg, max: params.max, maskS: highMask(bits + 2), maskL: highMask(bits - 2), gear: table, h: 0, len: 0 }
}

/**
 * Appends to `cuts` the offsets in `block` just past each chunk that ends in it, and advances `s`
 * past `block`. The hot loop of CDC chunking.
 *
 * Self-contained (it refers to nothing outside its body) so that a worker thread can run it from
 * its source text: see CutOffThread.
 */
export function cdcCuts(s: CdcSearch, block: Uint8Array, cuts: Array<number>): void {
  const n = block.length
  const min = s.min
  const avg = s.avg
  const max = s.max
  const maskS = s.maskS
  const maskL = s.maskL
  const gear = s.gear
  let h = s.h
  let len = s.len
  let pos = 0 // next byte of `block` to consume
  while (pos < n) {
    // Skip the first `min` bytes of the chunk without hashing.
    if (len < min) {
      const k = min - len < n - pos ? min - len : n - pos
      pos += k
      len += k
      if (len < min) break
    }
    // Bytes min+1..avg use the strict mask, bytes avg+1..max the loose one; a chunk reaching
    // `avg` in mid-block comes back round the outer loop to switch masks.
    const mask = len < avg ? maskS : maskL
    const limit = len < avg ? avg : max
    const end = limit - len < n - pos ? pos + (limit - len) : n
    let cut = -1
    let i = pos
    // Hot loop, unrolled by 4 (measurably faster in V8 than the plain loop).
    const end4 = end - 3
    for (; i < end4; i += 4) {
      h = ((h << 1) + gear[block[i]!]!) | 0
      if ((h & mask) === 0) {
        cut = i + 1
        break
      }
      h = ((h << 1) + gear[block[i + 1]!]!) | 0
      if ((h & mask) === 0) {
        cut = i + 2
        break
      }
      h = ((h << 1) + gear[block[i + 2]!]!) | 0
      if ((h & mask) === 0) {
        cut = i + 3
        break
      }
      h = ((h << 1) + gear[block[i + 3]!]!) | 0
      if ((h & mask) === 0) {
        cut = i + 4
        break
      }
    }
    if (cut < 0) {
      for (; i < end; i++) {
        h = ((h << 1) + gear[block[i]!]!) | 0
        if ((h & mask) === 0) {
          cut = i + 1
          break
        }
      }
    }
    const stop = cut >= 0 ? cut : end
    len += stop - pos
    pos = stop
    if (cut < 0 && len === max) cut = pos
    if (cut >= 0) {
      cuts.push(cut)
      len = 0
      h = 0
    }
  }
  s.h = h
  s.len = len
}

class CdcChunker implements Chunker {
  readonly search: CdcSearch
  /** Pieces of the current chunk from earlier blocks, and their total length. */
  pending: Array<Uint8Array> = []
  pendingBytes = 0

  constructor(params: CdcParams, gear: Uint32Array) {
    this.search = cdcSearch(params, gear)
  }

  push(block: Uint8Array): Array<Uint8Array> {
    const cuts: Array<number> = []
    cdcCuts(this.search, block, cuts)
    return this.assemble(block, cuts)
  }

  pushCut(block: Uint8Array, cuts: ArrayLike<number>, after: { readonly h: number; readonly len: number }): Array<Uint8Array> {
    this.search.h = after.h
    this.search.len = after.len
    return this.assemble(block, cuts)
  }

  /** The chunks `cuts` complete, as views of `block` or, spanning blocks, copies. */
  private assemble(block: Uint8Array, cuts: ArrayLike<number>): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    let start = 0
    for (let i = 0; i < cuts.length; i++) {
      const cut = cuts[i]!
      if (this.pending.length === 0) {
        out.push(block.subarray(start, cut))
      } else {
        this.pending.push(block.subarray(start, cut))
        out.push(concat(this.pending, this.pendingBytes + cut - start))
        this.pending = []
        this.pendingBytes = 0
      }
      start = cut
    }
    if (start < block.length) {
      this.pending.push(block.subarray(start))
      this.pendingBytes += block.length - start
    }
    return out
  }

  finish(): Array<Uint8Array> {
    const pending = this.pending
    const len = this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
    this.search.len = 0
    this.search.h = 0
    return len === 0 ? [] : [concat(pending, len)]
  }

  holds(buffer: ArrayBufferLike): boolean {
    return holdsView(this.pending, buffer)
  }
}

class FixedChunker implements Chunker {
  readonly size: number
  len = 0
  pending: Array<Uint8Array> = []

  constructor(size: number) {
    this.size = size
  }

  push(block: Uint8Array): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    const n = block.length
    const size = this.size
    let pos = 0
    // Complete the chunk started by earlier blocks.
    if (this.len > 0) {
      const k = size - this.len < n ? size - this.len : n
      if (k > 0) this.pending.push(block.subarray(0, k))
      this.len += k
      pos = k
      if (this.len < size) return out
      out.push(concat(this.pending, size))
      this.pending = []
      this.len = 0
    }
    while (n - pos >= size) {
      out.push(block.subarray(pos, pos + size))
      pos += size
    }
    if (pos < n) {
      this.pending.push(block.subarray(pos, n))
      this.len = n - pos
    }
    return out
  }

  finish(): Array<Uint8Array> {
    const pending = this.pending
    const len = this.len
    this.pending = []
    this.len = 0
    return len === 0 ? [] : [concat(pending, len)]
  }

  holds(buffer: ArrayBufferLike): boolean {
    return holdsView(this.pending, buffer)
  }
}

/**
 * Throws RangeError for an invalid strategy (CDC target outside [256, 256 MiB], fixed size not a
 * positive integer) or a gear table that does not have 256 entries.
 */
export const makeChunker = (strategy: ChunkStrategy, gear: Uint32Array): Chunker => {
  switch (strategy._tag) {
    case "Cdc": {
      const params = cdcParams(strategy.targetSize)
      if (gear.length !== 256) throw new RangeError(`gear table must have 256 entries, got ${gear.length}`)
      return new CdcChunker(params, gear)
    }
    case "Fixed": {
      if (!Number.isInteger(strategy.size) || strategy.size < 1) {
        throw new RangeError(`fixed chunk size must be a positive integer, got ${strategy.size}`)
      }
      return new FixedChunker(strategy.size)
    }
  }
}

/** One-shot helper for tests and small inputs: all chunk lengths of `data`. */
export const chunkLengths = (strategy: ChunkStrategy, gear: Uint32Array, data: Uint8Array): Array<number> => {
  const chunker = makeChunker(strategy, gear)
  const lengths: Array<number> = []
  for (const c of chunker.push(data)) lengths.push(c.length)
  for (const c of chunker.finish()) lengths.push(c.length)
  return lengths
}
