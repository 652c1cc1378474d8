import { Schema } from "effect"

/**
 * The keyed hash that names a chunk (its id): fixed per repository when it is created, recorded in
 * its keystore (or raw-key marker), and used by every writer and reader of that repository, so
 * that equal plaintexts get equal ids (dedup) and every read can re-hash and compare.
 *
 * - "blake3": BLAKE3 in keyed mode. New repositories use it: ~9 GB/s per core here against
 *   ~1.9 GB/s for HMAC-SHA256 with SHA extensions, and the id hash is computed over every byte
 *   written and re-computed over every byte read.
 * - "hmac-sha256": repositories created before BLAKE3 ids; they keep it (changing it would
 *   rename every chunk).
 */
export const ChunkIdHash = Schema.Literals(["blake3", "hmac-sha256"])
export type ChunkIdHash = typeof ChunkIdHash.Type

/** What a repository without a recorded choice uses: the only hash there was before. */
export const legacyChunkIdHash: ChunkIdHash = "hmac-sha256"

/** What new repositories use. */
export const newChunkIdHash: ChunkIdHash = "blake3"

/**
 * A chunk-id key with the hash it keys. The bytes are shared, not copied: read-only. Keys derived
 * from it (a codec's own id namespace) keep its hash.
 */
export interface IdKey {
  readonly hash: ChunkIdHash
  readonly key: Uint8Array
}
