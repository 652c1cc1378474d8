import { isChunkerCopy } from "../domain/Chunker.ts"
import { releaseBuffers } from "./ReleaseBuffers.ts"

/**
 * The read buffers a content stream is cut from (a backup's file blocks and small-file arenas,
 * a put's stdin blocks), each freed as soon as nothing needs its bytes (see ReleaseBuffers).
 *
 * A chunk is a view of one block or, when it spans blocks, a copy the chunker made. A block is
 * free once no further view of it will be pushed (`retire`), the chunker keeps no piece of it,
 * and every chunk viewing it is done. A copy is free once its chunk is done.
 *
 * Protocol: `pushed(view)` before pushing a view into the chunker, `retire(buffer)` after its
 * last push, `emitted(chunk)` for each chunk the chunker returns, `done(chunk)` once the chunk's
 * bytes are no longer needed (hashed, stored). A chunk that fails is never `done`: its buffers
 * are left to the garbage collector, as a write may still be reading them.
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
  private readonly chunkerHolds: (buffer: ArrayBufferLike) => boolean

  /** `chunkerHolds`: whether the chunker still keeps a piece of `buffer` (a chunk in the making). */
  constructor(chunkerHolds: (buffer: ArrayBufferLike) => boolean) {
    this.chunkerHolds = chunkerHolds
  }

  /** The buffer under `view` must be the producer's alone: every view of it goes through here. */
  pushed(view: Uint8Array): void {
    if (!this.blocks.has(view.buffer)) this.blocks.set(view.buffer, { views: 0, retired: false })
  }

  /** No further view of `buffer` will be pushed (called after its push: the chunker may have let go of earlier blocks too). */
  retire(buffer: ArrayBufferLike): void {
    this.drainWaiting()
    const b = this.blocks.get(buffer)
    if (!b) return
    b.retired = true
    this.settle(buffer, b)
  }

  emitted(chunk: Uint8Array): void {
    const b = this.blocks.get(chunk.buffer)
    if (b) b.views++
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

  private drainWaiting() {
    for (const w of this.waiting) {
      if (this.chunkerHolds(w)) break
      // The piece the chunker held may have come back as a chunk of its own (`finish` returns a
      // lone piece as is): that chunk's `done` settles the block.
      if (this.blocks.get(w)!.views > 0) this.waiting.delete(w)
      else this.free(w)
    }
  }

  private settle(buffer: ArrayBufferLike, b: { views: number; retired: boolean }) {
    if (!b.retired || b.views > 0) return
    if (this.chunkerHolds(buffer)) this.waiting.add(buffer)
    else this.free(buffer)
  }

  private free(buffer: ArrayBufferLike) {
    this.blocks.delete(buffer)
    this.waiting.delete(buffer)
    releaseBuffers([new Uint8Array(buffer)])
  }
}
