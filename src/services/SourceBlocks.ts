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
  private readonly chunkerHolds: (buffer: ArrayBufferLike) => boolean

  /** `chunkerHolds`: whether the chunker still keeps a piece of `buffer` (a chunk in the making). */
  constructor(chunkerHolds: (buffer: ArrayBufferLike) => boolean) {
    this.chunkerHolds = chunkerHolds
  }

  /** The buffer under `view` must be the producer's alone: every view of it goes through here. */
  pushed(view: Uint8Array): void {
    if (!this.blocks.has(view.buffer)) this.blocks.set(view.buffer, { views: 0, retired: false })
  }

  /** No further view of `buffer` will be pushed. */
  retire(buffer: ArrayBufferLike): void {
    const b = this.blocks.get(buffer)
    if (b) b.retired = true
    this.sweep()
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
      this.sweep()
    } else if (isChunkerCopy(chunk)) {
      releaseBuffers([chunk])
    }
    // Otherwise a view of a block that was not registered (not the producer's alone): left alone.
  }

  /** Frees the retired blocks nothing holds any more. A chunk's blocks: at most ~17. */
  private sweep() {
    for (const [buffer, b] of this.blocks) {
      if (b.retired && b.views === 0 && !this.chunkerHolds(buffer)) {
        this.blocks.delete(buffer)
        releaseBuffers([new Uint8Array(buffer)])
      }
    }
  }
}
