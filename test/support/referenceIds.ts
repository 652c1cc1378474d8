import { createHmac } from "node:crypto"
import { blake3 } from "@noble/hashes/blake3.js"
import type { IdKey } from "../../src/domain/ChunkIdHash.ts"

/**
 * A chunk id computed by implementations other than the ones under test: @noble/hashes' BLAKE3
 * (pure JS, audited) and node:crypto's HMAC-SHA256.
 */
export const referenceId = (idKey: IdKey, data: Uint8Array): string =>
  idKey.hash === "blake3"
    ? Buffer.from(blake3(data, { key: idKey.key })).toString("hex")
    : createHmac("sha256", idKey.key).update(data).digest("hex")

/** Id keys of both hashes, with fresh random bytes. */
export const idKeysOfBothHashes = (random: (n: number) => Uint8Array): ReadonlyArray<IdKey> => [
  { hash: "blake3", key: random(32) },
  { hash: "hmac-sha256", key: random(32) }
]
