/**
 * S3's additional checksums (`x-amz-checksum-*`): which algorithms exist, how their values are
 * written (base64 of the big-endian digest), and the two CRCs node:zlib and node:crypto lack,
 * CRC32C (Castagnoli) and CRC64NVME. The CRCs sit on the PUT data path, so they are table-driven
 * slice-by-8: eight bytes per step, one table lookup per byte, no BigInt.
 *
 * CRC32, SHA-1 and SHA-256 come from node:zlib / node:crypto (services/gateway/Checksums.ts);
 * this file stays pure.
 */
import { type S3Error, s3Error } from "./S3Error.ts"

export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256"

export const checksumAlgorithms: ReadonlyArray<ChecksumAlgorithm> = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]

/** Digest length in bytes. */
export const digestLength: Readonly<Record<ChecksumAlgorithm, number>> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 }

/** `CRC32C` → `x-amz-checksum-crc32c` */
export const checksumHeader = (algorithm: ChecksumAlgorithm) => `x-amz-checksum-${algorithm.toLowerCase()}`

/** `x-amz-checksum-crc32c` (any case) → `CRC32C`; undefined for other names (x-amz-checksum-mode, -type, …). */
export const algorithmOfHeader = (name: string): ChecksumAlgorithm | undefined => {
  const lower = name.toLowerCase()
  return checksumAlgorithms.find((a) => checksumHeader(a) === lower)
}

/** `crc64nvme`/`CRC64NVME` (x-amz-sdk-checksum-algorithm, x-amz-checksum-algorithm) → `CRC64NVME`. */
export const parseAlgorithm = (value: string): ChecksumAlgorithm | undefined => {
  const upper = value.trim().toUpperCase()
  return checksumAlgorithms.find((a) => a === upper)
}

/** Strict base64 (padding required, as S3 writes it) decoding to exactly the digest length. */
export const isWellFormed = (algorithm: ChecksumAlgorithm, value: string): boolean => {
  const n = digestLength[algorithm]
  const chars = 4 * Math.ceil(n / 3)
  if (value.length !== chars || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false
  const pad = n % 3 === 0 ? 0 : 3 - (n % 3)
  return value.endsWith("=".repeat(pad)) && !value.slice(0, chars - pad).includes("=")
}

/**
 * A Content-MD5 that is not the base64 of a 16-byte digest (a hex digest, an empty value): S3's
 * InvalidDigest, answered before the body is read, apart from BadDigest (the body differs).
 */
export const contentMd5Problem = (value: string | undefined): S3Error | undefined =>
  value === undefined || /^[A-Za-z0-9+/]{22}==$/.test(value.trim())
    ? undefined
    : s3Error("InvalidDigest", 400, "The Content-MD5 you specified is not valid: give the base64 of the body's 16-byte MD5 digest")

export const mismatchMessage = (algorithm: ChecksumAlgorithm) =>
  `The ${checksumHeader(algorithm)} you specified did not match the calculated checksum.`

// --- CRC32C: reflected polynomial 0x82F63B78 ---

const crc32cTables = (() => {
  const t = new Int32Array(8 * 256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const prev = t[(s - 1) * 256 + i]!
      t[s * 256 + i] = (prev >>> 8) ^ t[prev & 0xff]!
    }
  }
  return t
})()

/**
 * Continues a CRC32C over `data`. `crc` is the running value in its finalized form (0 to start),
 * so `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`, like node:zlib's `crc32(data, value)`.
 */
export const crc32c = (data: Uint8Array, crc = 0): number => {
  const t = crc32cTables
  let c = ~crc
  let i = 0
  const n = data.length
  const end8 = n - (n % 8)
  for (; i < end8; i += 8) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
    const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)
    c = t[1792 + (lo & 0xff)]! ^ t[1536 + ((lo >>> 8) & 0xff)]! ^ t[1280 + ((lo >>> 16) & 0xff)]! ^ t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^ t[512 + ((hi >>> 8) & 0xff)]! ^ t[256 + ((hi >>> 16) & 0xff)]! ^ t[hi >>> 24]!
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

// --- CRC64NVME: reflected polynomial 0x9A6C9329AC4BC9B5, kept as two 32-bit halves ---

const crc64Tables = (() => {
  const lo = new Int32Array(8 * 256)
  const hi = new Int32Array(8 * 256)
  const polyLo = 0xac4bc9b5 | 0
  const polyHi = 0x9a6c9329 | 0
  for (let i = 0; i < 256; i++) {
    let l = i
    let h = 0
    for (let k = 0; k < 8; k++) {
      const bit = l & 1
      l = (l >>> 1) | (h << 31)
      h = h >>> 1
      if (bit) {
        l ^= polyLo
        h ^= polyHi
      }
    }
    lo[i] = l
    hi[i] = h
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const pl = lo[(s - 1) * 256 + i]!
      const ph = hi[(s - 1) * 256 + i]!
      const idx = pl & 0xff
      lo[s * 256 + i] = ((pl >>> 8) | (ph << 24)) ^ lo[idx]!
      hi[s * 256 + i] = (ph >>> 8) ^ hi[idx]!
    }
  }
  return { lo, hi }
})()

/** A running CRC64NVME; `digest()` is the 8-byte big-endian value S3 base64-encodes. */
export class Crc64Nvme {
  // The register (already inverted), low and high 32 bits.
  private l = -1
  private h = -1

  update(data: Uint8Array): this {
    const TL = crc64Tables.lo
    const TH = crc64Tables.hi
    let l = this.l
    let h = this.h
    let i = 0
    const n = data.length
    const end8 = n - (n % 8)
    for (; i < end8; i += 8) {
      const a = l ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
      const b = h ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24))
      const i7 = 1792 + (a & 0xff), i6 = 1536 + ((a >>> 8) & 0xff), i5 = 1280 + ((a >>> 16) & 0xff), i4 = 1024 + (a >>> 24)
      const i3 = 768 + (b & 0xff), i2 = 512 + ((b >>> 8) & 0xff), i1 = 256 + ((b >>> 16) & 0xff), i0 = b >>> 24
      l = TL[i7]! ^ TL[i6]! ^ TL[i5]! ^ TL[i4]! ^ TL[i3]! ^ TL[i2]! ^ TL[i1]! ^ TL[i0]!
      h = TH[i7]! ^ TH[i6]! ^ TH[i5]! ^ TH[i4]! ^ TH[i3]! ^ TH[i2]! ^ TH[i1]! ^ TH[i0]!
    }
    for (; i < n; i++) {
      const idx = (l ^ data[i]!) & 0xff
      l = ((l >>> 8) | (h << 24)) ^ TL[idx]!
      h = (h >>> 8) ^ TH[idx]!
    }
    this.l = l
    this.h = h
    return this
  }

  digest(): Uint8Array {
    const out = new Uint8Array(8)
    const view = new DataView(out.buffer)
    view.setUint32(0, ~this.h >>> 0)
    view.setUint32(4, ~this.l >>> 0)
    return out
  }
}

/** 4-byte big-endian encoding of a 32-bit CRC, as S3 base64-encodes it. */
export const crc32Bytes = (crc: number): Uint8Array => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, crc >>> 0)
  return out
}
