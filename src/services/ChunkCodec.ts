import { Effect } from "effect"
import type { IdKey } from "../domain/ChunkIdHash.ts"
import { makeIdOf, namespacedIdKey } from "./ChunkIdHashing.ts"

/**
 * How a chunk other than a repository-encrypted one becomes an object and back (the default —
 * envelope, zstd, AES-256-GCM under the repository's data keys — is built into ChunkStore).
 * ChunkStore keeps doing dedup, placement, copies, retries and the log; a codec only names the
 * chunk (`idOf`, a keyed hash of the plaintext) and seals / opens its bytes. Objects are recorded
 * with the codec's `format`, and reading one needs a codec of that format.
 */
export interface ChunkCodec {
  readonly format: "age" | "plain"
  readonly idOf: (plain: Uint8Array) => Effect.Effect<string>
  /** The key `idOf` hashes under, for callers that compute ids elsewhere. */
  readonly idKey: IdKey
  readonly seal: (plain: Uint8Array) => Effect.Effect<Uint8Array>
  /** Absent when the codec can only write (encrypting to recipients whose keys it lacks). */
  readonly open: ((bytes: Uint8Array) => Effect.Effect<Uint8Array, string>) | undefined
}

/**
 * `put --no-encrypt` (s3duct parity): the chunk object is the plaintext. Ids stay keyed, in their
 * own namespace, so such chunks never stand in for encrypted ones.
 */
export const makePlainCodec = (chunkIdKey: IdKey): ChunkCodec => {
  const idKey = namespacedIdKey(chunkIdKey, "enigma-plain-chunk-id-v1")
  return {
    format: "plain",
    idOf: makeIdOf(idKey),
    idKey,
    seal: (plain) => Effect.succeed(plain),
    open: (bytes) => Effect.succeed(bytes)
  }
}
