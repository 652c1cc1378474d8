import { type Chunker, isChunkerCopy } from "../domain/Chunker.ts"
import type { CutBlock } from "./CutOffThread.ts"
import { releaseBuffers } from "./ReleaseBuffers.ts"

/**
 * A chunker together with the read buffers its stream is cut from (a backup's file blocks and
 * small-file arenas, a put's stdin blocks, a PUT's request body), each freed as soon as nothing
 * needs its bytes (see ReleaseBuffers).
 *
 * A chunk is a view of one block or, when it spans blocks, a copy the chunker made. A block is
 * free once no further view of it will be pushed (retired), the chunker keeps no piece of it,
 * and every chunk viewing it is done. A copy is free once its chunk is done.
 *
 * Use: `push` and `finish` instead of the chunker's own; `retire` a block pushed with
 * `last = false` (an arena still filling) once no more views of it come; `done(chunk)` once the
 * chunk's bytes are no longer needed (hashed, stored). A chunk that fails is never `done`: its
 * buffers are left to the garbage collector, as a write may still be reading them.
 */
export class SourceBlocks {
  /** Registered blocks: views handed out and not yet done, and whether more may be pushed. */
  private readonly blocks = new Map<ArrayBufferLike, { views: number; retired: boolean }>()
  /**
   * Retired blocks no chunk views any more, but the chunker still held a piece of: they are
   * freed once it lets go, which happens in push order (it holds the blocks of the chunk in the
   * making, the latest ones).
   */
  private readonly waiting = new Set<ArrayBufferLike>()
  private readonly chunker: Chunker

  constructor(chunker: Chunker) {
    this.chunker = chunker
  }

  /**
   * Pushes `block` into the chunker; returns the chunks it completed. `own`: the buffer under
   * `block` is the producer's alone (every view of it is pushed here), so it may be freed; other
   * blocks are left to the collector. `last`: no further view of that buffer will be pushed.
   */
  push(block: Uint8Array, own: boolean, last = true): Array<Uint8Array> {
    if (own && !this.blocks.has(block.buffer)) this.blocks.set(block.buffer, { views: 0, retired: false })
    const chunks = this.counted(this.chunker.push(block))
    if (own && last) this.retire(block.buffer)
    return chunks
  }

  /**
   * Like `push` for a block whose cuts were found elsewhere (see CutOffThread): `cut` is the block
   * back from there with its cuts. The block is taken whole (`own`, `last`).
   */
  pushCut(cut: CutBlock): Array<Uint8Array> {
    if (this.chunker.pushCut === undefined) throw new Error("internal: cuts given to a chunker that does not search for them")
    const block = cut.block
    this.blocks.set(block.buffer, { views: 0, retired: false })
    const chunks = this.counted(this.chunker.pushCut(block, cut.cuts, cut))
    this.retire(block.buffer)
    return chunks
  }

  /** The chunker's tail (0 or 1 chunk). */
  finish(): Array<Uint8Array> {
    return this.counted(this.chunker.finish())
  }

  /** No further view of `buffer` will be pushed (the chunker may have let go of earlier blocks too). */
  retire(buffer: ArrayBufferLike): void {
    this.drainWaiting()
    const b = this.blocks.get(buffer)
    if (!b) return
    b.retired = true
    this.settle(buffer, b)
  }

  done(chunk: Uint8Array): void {
    const buffer = chunk.buffer
    const b = this.blocks.get(buffer)
    if (b) {
      b.views--
      this.settle(buffer, b)
    } else if (isChunkerCopy(chunk)) {
      releaseBuffers([chunk])
    }
    // Otherwise a view of a block that was not registered (not the producer's alone): left alone.
    // The chunk may have been the one that made the chunker let go (its last, after the input ended).
    this.drainWaiting()
  }

  private counted(chunks: Array<Uint8Array>) {
    for (const c of chunks) {
      const b = this.blocks.get(c.buffer)
      if (b) b.views++
    }
    return chunks
  }

  private drainWaiting() {
    for (const w of this.waiting) {
      if (this.chunker.holds(w)) break
      // The piece the chunker held may have come back as a chunk of its own (`finish` returns a
      // lone piece as is): that chunk's `done` settles the block.
      if (this.blocks.get(w)!.views > 0) this.waiting.delete(w)
      else this.free(w)
    }
  }

  private settle(buffer: ArrayBufferLike, b: { views: number; retired: boolean }) {
    if (!b.retired || b.views > 0) return
    if (this.chunker.holds(buffer)) this.waiting.add(buffer)
    else this.free(buffer)
  }

  private free(buffer: ArrayBufferLike) {
    this.blocks.delete(buffer)
    this.waiting.delete(buffer)
    releaseBuffers([new Uint8Array(buffer)])
  }
}
