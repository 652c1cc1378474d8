import { createHash } from "node:crypto"
import { crc32 } from "node:zlib"
import { type ChecksumAlgorithm, crc32Bytes, crc32c, Crc64Nvme } from "../../domain/s3/Checksum.ts"
import { digestEquals } from "./Signing.ts"

/** A running `x-amz-checksum-*` computation; `digest()` is the raw big-endian digest. */
export interface ChecksumHasher {
  readonly update: (data: Uint8Array) => void
  readonly digest: () => Uint8Array
}

/** CRC32 from node:zlib, SHA-1/SHA-256 from node:crypto, CRC32C/CRC64NVME from domain/s3/Checksum.ts. */
export const makeHasher = (algorithm: ChecksumAlgorithm): ChecksumHasher => {
  switch (algorithm) {
    case "CRC32": {
      let c = 0
      return { update: (d) => void (c = crc32(d, c)), digest: () => crc32Bytes(c) }
    }
    case "CRC32C": {
      let c = 0
      return { update: (d) => void (c = crc32c(d, c)), digest: () => crc32Bytes(c) }
    }
    case "CRC64NVME": {
      const h = new Crc64Nvme()
      return { update: (d) => void h.update(d), digest: () => h.digest() }
    }
    case "SHA1":
    case "SHA256": {
      const h = createHash(algorithm === "SHA1" ? "sha1" : "sha256")
      return { update: (d) => void h.update(d), digest: () => h.digest() }
    }
  }
}

/** Compares a computed digest with a client's base64 value in constant time (for equal lengths). */
export const digestMatches = (computed: Uint8Array, base64: string): boolean => digestEquals(computed, base64, "base64")
