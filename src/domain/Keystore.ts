import { Result, Schema } from "effect"
import { ChunkIdHash, legacyChunkIdHash } from "./ChunkIdHash.ts"

/**
 * The keystore file ("keyfile"): a versioned binary codec plus the JSON payload it seals. Pure: no
 * node:*, no randomness, no crypto. The service (`services/keys/Keys.ts`) does the sealing.
 *
 * Layout (all integers big-endian):
 * ```
 * header  magic "ENIGMAKS" (8) | version u8 = 1 | mode u8 (0 embedded, 1 split)
 *         | argon2 memory KiB u32 | passes u32 | parallelism u8 | salt (32)
 *         | kemCiphertext length u16 | kemCiphertext | ekFingerprint (16) | sealedLength u32
 *         | mode 0 only: dkNonce (12) | dkSealed length u32 | dkSealed
 * body    nonce (12) | AES-256-GCM(payload JSON) ciphertext || tag (16)   AAD = header bytes
 * ```
 * Invariants:
 * - The header is authenticated as the AAD of the payload, so any change to it (params, salt, KEM
 *   ciphertext, mode) makes the payload fail authentication; nothing in it is trusted before that,
 *   except to bound work (argon2 parameters are range-checked here so a damaged header cannot ask
 *   for terabytes of memory or billions of passes).
 * - `sealedLength` (bytes of ciphertext || tag after the nonce) makes a truncated or padded file a
 *   format error ("truncated") instead of an authentication failure that would read as "wrong
 *   passphrase" — GCM alone cannot tell the two apart.
 * - `ekFingerprint` (first 16 bytes of SHA-256 of the ML-KEM public key, SPKI DER) lets a split-mode
 *   open tell "this ML-KEM key file belongs to another repository" apart from "wrong passphrase".
 * - Mode 0 ("embedded") carries the ML-KEM decapsulation key (PKCS#8 DER) sealed under the Argon2id
 *   key alone (AAD `DK_AAD`); mode 1 ("split") carries none: it lives in a separate key file.
 */

// The constants and the header's fixed start live in a module with no dependencies (see there).
export * from "./KeystoreLayout.ts"
import {
  type ArgonParams,
  assembleKeyfile,
  checkArgonParams,
  FINGERPRINT_LENGTH,
  KEYFILE_MAGIC,
  KEYFILE_SLOTS_VERSION,
  KEYFILE_VERSION,
  NONCE_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH
} from "./KeystoreLayout.ts"

import { byteReader, byteWriter, Malformed, requireLength } from "./ByteCursor.ts"
import { type DecodedSlotted, decodeSlottedKeyfile, requirePassphraseFields } from "./KeystoreSlots.ts"
export * from "./KeystoreSlots.ts"

export type KemMode = "embedded" | "split"

/** The embedded-mode sealed ML-KEM decapsulation key. */
export interface EmbeddedDk {
  readonly dkNonce: Uint8Array
  readonly dkSealed: Uint8Array
}

export interface KeyfileHeader {
  readonly version: 1
  readonly argon: ArgonParams
  readonly salt: Uint8Array
  readonly kemCiphertext: Uint8Array
  readonly ekFingerprint: Uint8Array
  /** Length of the sealed payload (ciphertext || tag) that follows the nonce. */
  readonly sealedLength: number
  /** Present iff the mode is "embedded". */
  readonly embedded: EmbeddedDk | undefined
}

export const keyfileMode = (header: KeyfileHeader): KemMode => (header.embedded === undefined ? "split" : "embedded")

export interface DecodedKeyfile {
  readonly header: KeyfileHeader
  /** The exact header bytes as stored: the AAD of the payload seal. */
  readonly headerBytes: Uint8Array
  readonly nonce: Uint8Array
  /** ciphertext || tag */
  readonly sealed: Uint8Array
}

const headerLength = (h: KeyfileHeader): number =>
  8 + 1 + 1 + 4 + 4 + 1 + SALT_LENGTH + 2 + h.kemCiphertext.length + FINGERPRINT_LENGTH + 4 +
  (h.embedded === undefined ? 0 : NONCE_LENGTH + 4 + h.embedded.dkSealed.length)


/**
 * Encodes the header (the AAD of the payload seal). Throws RangeError on a malformed header: headers
 * are built by our own code, so that is a programming error, not a user-facing condition.
 */
export const encodeHeader = (h: KeyfileHeader): Uint8Array => {
  requirePassphraseFields(h)
  requireLength("ekFingerprint", h.ekFingerprint, FINGERPRINT_LENGTH)
  if (!Number.isInteger(h.sealedLength) || h.sealedLength < TAG_LENGTH || h.sealedLength > 0xffffffff) {
    throw new RangeError(`sealedLength ${h.sealedLength} is out of range`)
  }

  const out = new Uint8Array(headerLength(h))
  const { raw, u8, u16, u32 } = byteWriter(out)
  raw(KEYFILE_MAGIC)
  u8(KEYFILE_VERSION)
  u8(h.embedded === undefined ? 1 : 0)
  u32(h.argon.memory)
  u32(h.argon.passes)
  u8(h.argon.parallelism)
  raw(h.salt)
  u16(h.kemCiphertext.length)
  raw(h.kemCiphertext)
  raw(h.ekFingerprint)
  u32(h.sealedLength)
  if (h.embedded !== undefined) {
    raw(h.embedded.dkNonce)
    u32(h.embedded.dkSealed.length)
    raw(h.embedded.dkSealed)
  }
  return out
}

/** header || nonce || sealed (ciphertext || tag). */
export const encodeKeyfile = (header: KeyfileHeader, nonce: Uint8Array, sealed: Uint8Array): Uint8Array =>
  assembleKeyfile(encodeHeader(header), header.sealedLength, nonce, sealed)

/** A keyfile of either version: one passphrase (1) or passphrase slots (2, KeystoreSlots.ts). */
export type AnyDecodedKeyfile =
  | { readonly version: 1; readonly decoded: DecodedKeyfile }
  | { readonly version: 2; readonly decoded: DecodedSlotted }

/** Decodes a keyfile of either version (see `decodeKeyfile` for the failures). */
export const decodeAnyKeyfile = (bytes: Uint8Array): Result.Result<AnyDecodedKeyfile, string> => {
  if (bytes.length > 8 && bytes[8] === KEYFILE_SLOTS_VERSION && startsWithMagic(bytes)) {
    return Result.map(decodeSlottedKeyfile(bytes), (decoded) => ({ version: 2 as const, decoded }))
  }
  return Result.map(decodeKeyfile(bytes), (decoded) => ({ version: 1 as const, decoded }))
}

const startsWithMagic = (bytes: Uint8Array) => KEYFILE_MAGIC.every((b, i) => bytes[i] === b)

/**
 * Decodes a version 1 keyfile. Fails with a one-line description (truncated, not a keyfile, unsupported version,
 * unknown mode, parameters out of range) suitable for `KeystoreError.detail`. The returned byte arrays
 * are views into `bytes`.
 */
export const decodeKeyfile = (bytes: Uint8Array): Result.Result<DecodedKeyfile, string> => {
  if (bytes.length === 0) return Result.fail("empty file")
  for (let i = 0; i < Math.min(8, bytes.length); i++) {
    if (bytes[i] !== KEYFILE_MAGIC[i]) return Result.fail("not an Enigma keyfile (bad magic)")
  }
  const { take, u8, u16, u32, offset } = byteReader(bytes, 0)

  try {
    take(8, "magic")
    const version = u8("version")
    if (version !== KEYFILE_VERSION) {
      throw new Malformed(`unsupported keyfile version ${version} (this Enigma reads versions ${KEYFILE_VERSION} and ${KEYFILE_SLOTS_VERSION})`)
    }
    const modeByte = u8("mode")
    if (modeByte !== 0 && modeByte !== 1) throw new Malformed(`damaged header: unknown key mode ${modeByte}`)
    const argon: ArgonParams = {
      memory: u32("argon2 parameters"),
      passes: u32("argon2 parameters"),
      parallelism: u8("argon2 parameters")
    }
    const badArgon = checkArgonParams(argon)
    if (badArgon !== undefined) throw new Malformed(`damaged header: ${badArgon}`)
    const salt = take(SALT_LENGTH, "salt")
    const kemLen = u16("KEM ciphertext length")
    if (kemLen === 0) throw new Malformed("damaged header: empty KEM ciphertext")
    const kemCiphertext = take(kemLen, "KEM ciphertext")
    const ekFingerprint = take(FINGERPRINT_LENGTH, "key fingerprint")
    const sealedLength = u32("payload length")
    if (sealedLength < TAG_LENGTH) throw new Malformed("damaged header: sealed payload length is too small")
    let embedded: EmbeddedDk | undefined
    if (modeByte === 0) {
      const dkNonce = take(NONCE_LENGTH, "embedded decapsulation key")
      const dkLen = u32("embedded decapsulation key")
      if (dkLen < TAG_LENGTH) throw new Malformed("damaged header: embedded decapsulation key is too short")
      embedded = { dkNonce, dkSealed: take(dkLen, "embedded decapsulation key") }
    }
    const headerBytes = bytes.subarray(0, offset())
    const nonce = take(NONCE_LENGTH, "payload nonce")
    const sealed = take(sealedLength, "sealed payload")
    if (offset() !== bytes.length) {
      throw new Malformed(`damaged file: ${bytes.length - offset()} unexpected bytes after the sealed payload`)
    }
    return Result.succeed({
      header: { version: 1, argon, salt, kemCiphertext, ekFingerprint, sealedLength, embedded },
      headerBytes,
      nonce,
      sealed
    })
  } catch (e) {
    if (e instanceof Malformed) return Result.fail(e.message)
    throw e
  }
}

// ---------------------------------------------------------------------------------------------
// Payload

const bytesOfLength = (n: number) =>
  Schema.Uint8ArrayFromBase64.check(
    Schema.makeFilter((u: Uint8Array) => u.length === n || `expected ${n} bytes, got ${u.length}`)
  )

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const IsoTimestamp = Schema.String.check(
  Schema.makeFilter((s: string) => !Number.isNaN(Date.parse(s)) || "expected an ISO 8601 timestamp")
)

/** One data key. Ids are 1, 2, … in rotation order and never reused. */
export const DataKeyEntry = Schema.Struct({
  id: PositiveInt,
  key: bytesOfLength(32),
  createdAt: IsoTimestamp
})
export type DataKeyEntry = typeof DataKeyEntry.Type

/**
 * What is known of a passphrase slot (KeystoreSlots.ts), kept in the sealed payload so that a
 * provider sees no names: when it was added and by whom (a label, by default user@host).
 */
export const PassphraseEntry = Schema.Struct({
  id: PositiveInt,
  createdAt: IsoTimestamp,
  label: Schema.String
})
export type PassphraseEntry = typeof PassphraseEntry.Type

/**
 * What the keyfile seals. Invariants (checked on decode): data key ids are unique and
 * `currentKeyId` is one of them. `master` is the repository master secret from which HKDF derives
 * the chunk-id key, gear seed and log key; it never changes across rotations.
 *
 * Version 2 names the repository's chunk-id hash (`chunkIdHash`); version 1, written before there
 * was a choice, has none and means HMAC-SHA256. A build that knows only version 1 refuses a
 * version 2 keystore rather than naming chunks with the wrong hash.
 */
export const KeystorePayload = Schema.Struct({
  version: Schema.Literals([1, 2]),
  repositoryId: Schema.String.check(Schema.isPattern(/^[0-9a-f]{32}$/)),
  master: bytesOfLength(32),
  dataKeys: Schema.NonEmptyArray(DataKeyEntry),
  currentKeyId: PositiveInt,
  chunkIdHash: Schema.optionalKey(ChunkIdHash),
  /** The passphrase slots' descriptions (a version 2 keyfile); absent in a version 1 keyfile. */
  passphrases: Schema.optionalKey(Schema.Array(PassphraseEntry)),
  /** The highest passphrase id ever given, so that a removed passphrase's id is not given again. */
  lastPassphraseId: Schema.optionalKey(PositiveInt)
}).check(
  Schema.makeFilter((p) => {
    if ((p.version === 2) !== (p.chunkIdHash !== undefined)) {
      return { path: ["chunkIdHash"], issue: "chunkIdHash is required in version 2 and absent in version 1" }
    }
    const ids = p.dataKeys.map((k) => k.id)
    if (new Set(ids).size !== ids.length) return { path: ["dataKeys"], issue: "duplicate data key id" }
    if (!ids.includes(p.currentKeyId)) {
      return { path: ["currentKeyId"], issue: `currentKeyId ${p.currentKeyId} is not among the data keys` }
    }
    return undefined
  })
)
export type KeystorePayload = typeof KeystorePayload.Type

/** The chunk-id hash a keystore's repository uses. */
export const chunkIdHashOf = (p: KeystorePayload): ChunkIdHash => p.chunkIdHash ?? legacyChunkIdHash

/** The payload as stored: a JSON string (UTF-8 bytes are produced by the service). */
export const KeystorePayloadJson = Schema.fromJsonString(KeystorePayload)
