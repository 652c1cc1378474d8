import { Effect } from "effect"
import type { ChunkCorrupt } from "../../domain/Errors.ts"
import type { Extent } from "../../domain/Events.ts"
import type { ChunkCache } from "../restore/ChunkCache.ts"

/**
 * Whether two lists of extents hold the same bytes, read through `cache`. Why it is needed: small
 * files share chunks, so a file read again (its ctime changed, say) is stored at other offsets, or
 * in another chunk, with the same content; comparing extents alone would call it modified.
 */
export const sameBytes = (
  cache: ChunkCache,
  a: ReadonlyArray<Extent>,
  b: ReadonlyArray<Extent>
): Effect.Effect<boolean, ChunkCorrupt> =>
  Effect.gen(function*() {
    let i = 0
    let j = 0
    // Bytes of a[i] and b[j] already compared.
    let doneA = 0
    let doneB = 0
    while (i < a.length && j < b.length) {
      const [idA, offA, lenA] = a[i]!
      const [idB, offB, lenB] = b[j]!
      const n = Math.min(lenA - doneA, lenB - doneB)
      const equal = yield* cache.use(idA, (plainA) =>
        cache.use(idB, (plainB) =>
          Effect.succeed(
            // An extent past its chunk's end (a damaged manifest) holds no such bytes: not the same.
            offA + doneA + n <= plainA.length && offB + doneB + n <= plainB.length &&
              Buffer.from(plainA.buffer, plainA.byteOffset + offA + doneA, n).equals(Buffer.from(plainB.buffer, plainB.byteOffset + offB + doneB, n))
          )))
      if (!equal) return false
      doneA += n
      doneB += n
      if (doneA === lenA) {
        i++
        doneA = 0
      }
      if (doneB === lenB) {
        j++
        doneB = 0
      }
    }
    // Zero-length extents aside, both ran out together (the callers compare sizes first).
    return a.slice(i).every((e) => e[2] === 0) && b.slice(j).every((e) => e[2] === 0)
  })
