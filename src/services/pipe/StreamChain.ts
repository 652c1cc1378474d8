import { createHmac } from "node:crypto"

/**
 * Integrity of a pipe stream, as s3duct defines it and stronger: every chunk carries SHA-256 and
 * SHA3-256 of its plaintext, and an HMAC-SHA256 chain links the chunks in order —
 *   chain[-1] = HMAC(stream key, "enigma-stream-genesis-v1" ‖ 0 ‖ stream id)
 *   chain[n]  = HMAC(chain[n-1], u64be(n) ‖ u64be(size) ‖ sha256 ‖ sha3-256)
 * The stream key is derived from the repository master secret, so nobody without the keys can
 * forge a chain; a deleted, altered or reordered chunk breaks every link from it on, and the
 * final link (kept in StreamCommitted) catches a truncated stream.
 */
export interface ChunkDigest {
  readonly size: number
  /** hex */
  readonly sha256: string
  /** hex */
  readonly sha3: string
}

export const genesisLink = (streamKey: Uint8Array, streamId: string): string =>
  createHmac("sha256", streamKey).update(`enigma-stream-genesis-v1\u0000${streamId}`).digest("hex")

export const nextLink = (previous: string, index: number, d: ChunkDigest): string => {
  const header = Buffer.alloc(16)
  header.writeBigUInt64BE(BigInt(index), 0)
  header.writeBigUInt64BE(BigInt(d.size), 8)
  return createHmac("sha256", Buffer.from(previous, "hex"))
    .update(header)
    .update(Buffer.from(d.sha256, "hex"))
    .update(Buffer.from(d.sha3, "hex"))
    .digest("hex")
}

/** The first way `actual` differs from `expected`, or undefined when they are the same chunk. */
export const digestMismatch = (expected: ChunkDigest, actual: ChunkDigest): string | undefined =>
  expected.size !== actual.size
    ? `size ${actual.size} instead of ${expected.size}`
    : expected.sha256 !== actual.sha256
    ? "SHA-256 differs"
    : expected.sha3 !== actual.sha3
    ? "SHA3-256 differs"
    : undefined
