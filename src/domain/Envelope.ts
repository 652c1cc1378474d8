/**
 * The chunk envelope: the bytes a provider stores for one chunk. Self-describing, so a chunk
 * can be decrypted with the keystore alone, without the log.
 *
 *   version u8 (=1) | flags u8 | key id u32 BE | nonce (12) | AES-256-GCM ciphertext ‖ tag (16)
 *
 * flags bit 0: the plaintext was zstd-compressed before encryption.
 * AAD = chunk id (32 raw bytes) ‖ flags, so a ciphertext cannot be passed off as another
 * chunk, and the compressed flag cannot be flipped.
 *
 * Log segments and other sealed blobs use the same layout with a different AAD (see `sealAad`).
 */
export const envelopeVersion = 1
export const headerLength = 1 + 1 + 4 + 12
export const tagLength = 16
export const FLAG_COMPRESSED = 1

export interface EnvelopeHeader {
  readonly version: number
  readonly flags: number
  readonly keyId: number
  readonly nonce: Uint8Array
}

export const encodeHeader = (flags: number, keyId: number, nonce: Uint8Array): Uint8Array => {
  const out = new Uint8Array(headerLength)
  out[0] = envelopeVersion
  out[1] = flags
  new DataView(out.buffer).setUint32(2, keyId, false)
  out.set(nonce, 6)
  return out
}

/** Parses the header; returns a description of the problem for a damaged envelope. */
export const decodeHeader = (bytes: Uint8Array): EnvelopeHeader | string => {
  if (bytes.length < headerLength + tagLength) return `envelope too short (${bytes.length} bytes)`
  if (bytes[0] !== envelopeVersion) return `unsupported envelope version ${bytes[0]}`
  const flags = bytes[1]!
  if ((flags & ~FLAG_COMPRESSED) !== 0) return `unknown envelope flags ${flags}`
  const keyId = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2, false)
  return { version: bytes[0]!, flags, keyId, nonce: bytes.subarray(6, 18) }
}

/** AAD for a chunk: its raw 32-byte id followed by the flags byte. */
export const chunkAad = (idBytes: Uint8Array, flags: number): Uint8Array => {
  const aad = new Uint8Array(idBytes.length + 1)
  aad.set(idBytes, 0)
  aad[idBytes.length] = flags
  return aad
}

/** AAD for sealed non-chunk blobs (log segments): a purpose label, the object key and flags. */
export const sealAad = (purpose: string, name: string, flags: number): Uint8Array =>
  new TextEncoder().encode(`${purpose}\u0000${name}\u0000${flags}`)

export const hexToBytes = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length >>> 1)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16)
  return out
}

export const isChunkId = (s: string): boolean => /^[0-9a-f]{64}$/.test(s)
