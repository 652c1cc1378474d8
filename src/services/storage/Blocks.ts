import { Stream } from "effect"

/** One fixed-size piece of a streamed body; only the last one may be shorter (or empty, for an empty body). */
export interface Block {
  readonly bytes: Uint8Array
  readonly index: number
  readonly last: boolean
}

const end: unique symbol = Symbol("end of body")

/**
 * Re-frames a body of unknown length into blocks of exactly `size` bytes (the last one shorter),
 * each marked with its index and whether it is the last: a provider sees, at the first block,
 * whether the whole body fits in one request. Holds at most two blocks (the one filling and
 * the one held back to learn whether it is the last). An empty body gives one empty last block.
 */
export const blocksOf = (size: number) => <E, R>(body: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Block, E, R> =>
  // The end is an element of its own: mapAccum's onHalt also runs when the body *fails*, and a
  // failed body must never yield a "last" block (a provider would store the partial object).
  Stream.concat(body as Stream.Stream<Uint8Array | typeof end, E, R>, Stream.make(end)).pipe(
    Stream.mapAccum(
      () => ({ current: undefined as Uint8Array | undefined, filled: 0, held: undefined as Uint8Array | undefined, index: 0 }),
      (s, piece: Uint8Array | typeof end) => {
        const out: Array<Block> = []
        if (piece === end) {
          const rest = s.current?.subarray(0, s.filled)
          if (s.held !== undefined) out.push({ bytes: s.held, index: s.index++, last: rest === undefined || rest.length === 0 })
          if (rest !== undefined && rest.length > 0) out.push({ bytes: rest, index: s.index++, last: true })
          if (out.length === 0) out.push({ bytes: new Uint8Array(0), index: 0, last: true })
          return [s, out] as const
        }
        let at = 0
        while (at < piece.length) {
          s.current ??= new Uint8Array(size)
          const n = Math.min(size - s.filled, piece.length - at)
          s.current.set(piece.subarray(at, at + n), s.filled)
          s.filled += n
          at += n
          if (s.filled === size) {
            if (s.held !== undefined) out.push({ bytes: s.held, index: s.index++, last: false })
            s.held = s.current
            s.current = undefined
            s.filled = 0
          }
        }
        return [s, out] as const
      }
    )
  )

/** The checked form of a byte range: offset and length are non-negative integers (length absent: to the end). */
export const checkRange = (offset: number, length?: number): string | undefined =>
  !Number.isSafeInteger(offset) || offset < 0
    ? `invalid range offset ${offset}`
    : length !== undefined && (!Number.isSafeInteger(length) || length < 0)
    ? `invalid range length ${length}`
    : undefined

/** Concatenates a stream's blocks into one buffer (for ranges, which callers keep small). */
export const concatBytes = (blocks: ReadonlyArray<Uint8Array>): Uint8Array =>
  blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks as Array<Uint8Array>)
