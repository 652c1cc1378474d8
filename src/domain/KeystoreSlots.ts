import { Result } from "effect"
import { byteReader, byteWriter, Malformed, requireLength } from "./ByteCursor.ts"
import {
  type ArgonParams,
  assembleKeyfile,
  checkArgonParams,
  FINGERPRINT_LENGTH,
  KEYFILE_MAGIC,
  KEYFILE_SLOTS_VERSION,
  NONCE_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH
} from "./KeystoreLayout.ts"
import type { EmbeddedDk, KemMode } from "./Keystore.ts"

/**
 * The keystore file, version 2: several passphrases ("slots"), as restic's `key add` or LUKS's key
 * slots. Pure codec; the service (`services/keys/Keys.ts`) does the sealing.
 *
 * The payload (Keystore.ts) is sealed under a random 32-byte keystore key K, and each slot wraps K
 * under its own kek = HKDF-SHA256(Argon2id(its passphrase, its salt) || ML-KEM shared secret of its
 * own encapsulation, its salt, "enigma-hybrid-v1"). Adding, removing or re-sealing a slot, and
 * rotating a data key, need K only, so one passphrase can change the file without the others.
 *
 * Layout (integers big-endian):
 * ```
 * header  magic "ENIGMAKS" (8) | version u8 = 2 | mode u8 (0 embedded, 1 split) | slot count u8
 *         | per slot: id u16 | argon2 memory KiB u32 | passes u32 | parallelism u8 | salt (32)
 *                     | kemCiphertext length u16 | kemCiphertext
 *                     | mode 0 only: dkNonce (12) | dkSealed length u32 | dkSealed
 *                     | wrapNonce (12) | wrapped K (32 + tag 16)           AAD = SLOT_AAD
 *         | ekFingerprint (16) | sealedLength u32
 * body    nonce (12) | AES-256-GCM_K(payload JSON) ciphertext || tag (16)   AAD = header bytes
 * ```
 * The first slot's id, Argon2id parameters and salt sit at fixed offsets (`argonInputs`), so the
 * launcher can start that slot's derivation early. The header is the payload's AAD: once a slot
 * has given K, a change to any byte of any slot makes the payload fail authentication.
 * In embedded mode every slot carries the ML-KEM decapsulation key, sealed under its own
 * Argon2id key (AAD `DK_AAD`), so any one passphrase opens the file alone.
 */

/** AAD of a slot's wrap of the keystore key. */
export const SLOT_AAD = "enigma-slot-v1"
export const KEYSTORE_KEY_LENGTH = 32
export const WRAPPED_LENGTH = KEYSTORE_KEY_LENGTH + TAG_LENGTH
/** More passphrases than this is a mistake, and each one tried costs an Argon2id. */
export const MAX_SLOTS = 16

export interface Slot {
  /** 1, 2, … in the order slots were added; never reused within a file. */
  readonly id: number
  readonly argon: ArgonParams
  readonly salt: Uint8Array
  readonly kemCiphertext: Uint8Array
  /** Present iff the file's mode is "embedded". */
  readonly embedded: EmbeddedDk | undefined
  readonly wrapNonce: Uint8Array
  readonly wrapped: Uint8Array
}

export interface SlottedHeader {
  readonly version: 2
  readonly mode: KemMode
  readonly slots: ReadonlyArray<Slot>
  readonly ekFingerprint: Uint8Array
  /** Length of the sealed payload (ciphertext || tag) that follows the nonce. */
  readonly sealedLength: number
}

export interface DecodedSlotted {
  readonly header: SlottedHeader
  /** The exact header bytes as stored: the AAD of the payload seal. */
  readonly headerBytes: Uint8Array
  readonly nonce: Uint8Array
  /** ciphertext || tag */
  readonly sealed: Uint8Array
}

const slotLength = (s: Slot) =>
  2 + 4 + 4 + 1 + SALT_LENGTH + 2 + s.kemCiphertext.length +
  (s.embedded === undefined ? 0 : NONCE_LENGTH + 4 + s.embedded.dkSealed.length) + NONCE_LENGTH + WRAPPED_LENGTH

/**
 * Throws RangeError unless a passphrase's fields (in a version 1 header, or a slot) can be
 * encoded: salt, KEM ciphertext, Argon2id parameters, embedded key nonce.
 */
export const requirePassphraseFields = (p: {
  readonly salt: Uint8Array
  readonly kemCiphertext: Uint8Array
  readonly argon: ArgonParams
  readonly embedded: EmbeddedDk | undefined
}) => {
  requireLength("salt", p.salt, SALT_LENGTH)
  if (p.kemCiphertext.length === 0 || p.kemCiphertext.length > 0xffff) {
    throw new RangeError(`kemCiphertext length ${p.kemCiphertext.length} does not fit u16`)
  }
  const bad = checkArgonParams(p.argon)
  if (bad !== undefined) throw new RangeError(bad)
  if (p.embedded !== undefined) requireLength("dkNonce", p.embedded.dkNonce, NONCE_LENGTH)
}

/** What is wrong with a header's slots, or undefined: each a programming error when encoding. */
const slotsProblem = (h: SlottedHeader): string | undefined => {
  if (h.slots.length === 0) return "a keystore needs at least one passphrase slot"
  if (h.slots.length > MAX_SLOTS) return `a keystore holds at most ${MAX_SLOTS} passphrase slots`
  const ids = new Set(h.slots.map((s) => s.id))
  if (ids.size !== h.slots.length) return "duplicate slot id"
  for (const s of h.slots) {
    if (!Number.isInteger(s.id) || s.id < 1 || s.id > 0xffff) return `slot id ${s.id} is out of range`
    if ((s.embedded === undefined) !== (h.mode === "split")) return `slot ${s.id} does not match the file's mode`
  }
  return undefined
}

/**
 * Encodes the header (the AAD of the payload seal). Throws RangeError on a malformed header: our own
 * code builds headers, so that is a programming error, not a user-facing condition.
 */
export const encodeSlottedHeader = (h: SlottedHeader): Uint8Array => {
  const problem = slotsProblem(h)
  if (problem !== undefined) throw new RangeError(problem)
  requireLength("ekFingerprint", h.ekFingerprint, FINGERPRINT_LENGTH)
  if (!Number.isInteger(h.sealedLength) || h.sealedLength < TAG_LENGTH || h.sealedLength > 0xffffffff) {
    throw new RangeError(`sealedLength ${h.sealedLength} is out of range`)
  }
  for (const s of h.slots) {
    requirePassphraseFields(s)
    requireLength("wrapNonce", s.wrapNonce, NONCE_LENGTH)
    requireLength("wrapped", s.wrapped, WRAPPED_LENGTH)
  }
  const out = new Uint8Array(8 + 1 + 1 + 1 + h.slots.reduce((n, s) => n + slotLength(s), 0) + FINGERPRINT_LENGTH + 4)
  const { raw, u8, u16, u32 } = byteWriter(out)
  raw(KEYFILE_MAGIC)
  u8(KEYFILE_SLOTS_VERSION)
  u8(h.mode === "embedded" ? 0 : 1)
  u8(h.slots.length)
  for (const s of h.slots) {
    u16(s.id)
    u32(s.argon.memory)
    u32(s.argon.passes)
    u8(s.argon.parallelism)
    raw(s.salt)
    u16(s.kemCiphertext.length)
    raw(s.kemCiphertext)
    if (s.embedded !== undefined) {
      raw(s.embedded.dkNonce)
      u32(s.embedded.dkSealed.length)
      raw(s.embedded.dkSealed)
    }
    raw(s.wrapNonce)
    raw(s.wrapped)
  }
  raw(h.ekFingerprint)
  u32(h.sealedLength)
  return out
}

/** header || nonce || sealed (ciphertext || tag). */
export const encodeSlottedKeyfile = (header: SlottedHeader, nonce: Uint8Array, sealed: Uint8Array): Uint8Array =>
  assembleKeyfile(encodeSlottedHeader(header), header.sealedLength, nonce, sealed)

/**
 * Decodes a version 2 keyfile (the caller has checked magic and version). Fails with a one-line
 * description suitable for `KeystoreError.detail`. The returned byte arrays are views into `bytes`.
 */
export const decodeSlottedKeyfile = (bytes: Uint8Array): Result.Result<DecodedSlotted, string> => {
  const { take, u8, u16, u32, offset } = byteReader(bytes, 9)
  try {
    const modeByte = u8("mode")
    if (modeByte !== 0 && modeByte !== 1) throw new Malformed(`damaged header: unknown key mode ${modeByte}`)
    const count = u8("slot count")
    if (count === 0 || count > MAX_SLOTS) throw new Malformed(`damaged header: ${count} passphrase slots`)
    const slots: Array<Slot> = []
    for (let i = 0; i < count; i++) {
      const what = `passphrase slot ${i + 1}`
      const id = u16(what)
      const argon: ArgonParams = { memory: u32(what), passes: u32(what), parallelism: u8(what) }
      const badArgon = checkArgonParams(argon)
      if (badArgon !== undefined) throw new Malformed(`damaged header: slot ${id}: ${badArgon}`)
      const salt = take(SALT_LENGTH, what)
      const kemLen = u16(what)
      if (kemLen === 0) throw new Malformed(`damaged header: slot ${id} has an empty KEM ciphertext`)
      const kemCiphertext = take(kemLen, what)
      let embedded: EmbeddedDk | undefined
      if (modeByte === 0) {
        const dkNonce = take(NONCE_LENGTH, what)
        const dkLen = u32(what)
        if (dkLen < TAG_LENGTH) throw new Malformed(`damaged header: slot ${id}'s embedded decapsulation key is too short`)
        embedded = { dkNonce, dkSealed: take(dkLen, what) }
      }
      slots.push({ id, argon, salt, kemCiphertext, embedded, wrapNonce: take(NONCE_LENGTH, what), wrapped: take(WRAPPED_LENGTH, what) })
    }
    if (new Set(slots.map((s) => s.id)).size !== slots.length) throw new Malformed("damaged header: duplicate slot id")
    const ekFingerprint = take(FINGERPRINT_LENGTH, "key fingerprint")
    const sealedLength = u32("payload length")
    if (sealedLength < TAG_LENGTH) throw new Malformed("damaged header: sealed payload length is too small")
    const headerBytes = bytes.subarray(0, offset())
    const nonce = take(NONCE_LENGTH, "payload nonce")
    const sealed = take(sealedLength, "sealed payload")
    if (offset() !== bytes.length) {
      throw new Malformed(`damaged file: ${bytes.length - offset()} unexpected bytes after the sealed payload`)
    }
    const mode: KemMode = modeByte === 0 ? "embedded" : "split"
    return Result.succeed({ header: { version: 2, mode, slots, ekFingerprint, sealedLength }, headerBytes, nonce, sealed })
  } catch (e) {
    if (e instanceof Malformed) return Result.fail(e.message)
    throw e
  }
}
