/**
 * Frees large buffers the moment their owner is done with them, instead of when V8 collects them.
 *
 * Why: a chunk's bytes live in buffers outside V8's heap ("external memory"). V8 frees them only
 * when it collects their JS wrappers, and those outlive a young-generation collection (a chunk
 * takes tens of milliseconds through hashing, sealing and writing), so only a full collection
 * frees them. V8 starts one for every 64 MB of external growth: ~90 full collections per GiB
 * backed up, which cost more CPU than the encryption. Detaching an ArrayBuffer (transfer to length
 * 0) frees its memory at once and tells V8 that external memory shrank.
 *
 * Only for buffers the caller owns outright: every view of a released buffer reads as empty.
 */
const minRelease = 64 * 1024

/**
 * Whether `b` spans its whole ArrayBuffer: a chunker's copy, or a read block taken whole. For a
 * producer that never hands out two views of one buffer, such a view has no sibling to spoil.
 */
export const spansWholeBuffer = (b: Uint8Array): boolean => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength

/** Buffers that one view holds alone (see holdAlone). Weak: the collector still frees them. */
const heldAlone = new WeakSet<ArrayBufferLike>()

/**
 * Marks `view` as the only view in use of its buffer, whose bytes outside it nobody reads (an
 * envelope opened in place: its header and tag around the plaintext). Such a view may travel to a
 * worker with its whole buffer, as one spanning it does, instead of as a copy.
 */
export const holdAlone = (view: Uint8Array): Uint8Array => {
  heldAlone.add(view.buffer)
  return view
}

/** Whether `b` is the only view of its buffer in use: one spanning it, or one marked by holdAlone. */
export const soleView = (b: Uint8Array): boolean => spansWholeBuffer(b) || heldAlone.has(b.buffer)

/** Buffers never to free here (see pinBuffers). Weak: the collector still frees them. */
const pinned = new WeakSet<ArrayBufferLike>()

/**
 * Marks buffers that an abandoned operation may still read: a provider call given up on after its
 * timeout goes on in the background (a local write cannot be cancelled, and would rename its file
 * into place when done). `releaseBuffers` leaves them to the collector from then on.
 */
export const pinBuffers = (buffers: ReadonlyArray<Uint8Array>): void => {
  for (const b of buffers) pinned.add(b.buffer)
}

/** Frees `ab` now, unless it cannot be or must not be (then the collector frees it as before). */
const detach = (ab: ArrayBufferLike): void => {
  // SharedArrayBuffers cannot be detached.
  if (!(ab instanceof ArrayBuffer) || ab.detached || pinned.has(ab)) return
  try {
    ab.transfer(0)
  } catch {
    // Not detachable (a buffer V8 or Node pinned).
  }
}

export const releaseBuffers = (buffers: ReadonlyArray<Uint8Array>): void => {
  for (const b of buffers) {
    // Small ones may share Node's pooled slab.
    if (b.buffer.byteLength >= minRelease) detach(b.buffer)
  }
}

/**
 * Node's Buffer pool slab (`Buffer.poolSize`): a view spanning a buffer larger than this cannot be
 * a slice of the shared pool.
 */
const poolSlab = 8 * 1024

/**
 * Frees a piece a stream handed over as a buffer of its own (an HTTP response body's pieces, one
 * per socket read, up to 64 KiB) once its bytes have been copied out: each would otherwise wait
 * for a full collection, and a 1 GiB download leaves ~16,000 of them. Smaller than `releaseBuffers`
 * frees, so only a view spanning its whole buffer and larger than the pool's slab is freed; others
 * are left to the collector.
 */
export const releaseCopiedPiece = (b: Uint8Array): void => {
  if (spansWholeBuffer(b) && b.buffer.byteLength > poolSlab) detach(b.buffer)
}

/**
 * Whether `b` was freed. Writers check it before writing: a freed buffer reads as empty, so a
 * chunk freed too early would otherwise be stored or written as nothing, silently.
 */
export const isFreed = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached === true

/** A defect, not a user error: the buffer-ownership rules above were broken. */
export const freedTooEarly = (what: string) => new Error(`internal: ${what} was freed while still in use`)
