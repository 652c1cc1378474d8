/**
 * The keystore file's constants and the fixed start of its header, with no dependencies: the
 * launcher reads a keyfile's Argon2id inputs through this before the rest of Enigma has loaded
 * (runtime/EarlyUnlock.ts). `Keystore.ts` holds the whole codec and describes the layout.
 */

export const KEYFILE_MAGIC: Uint8Array = new Uint8Array([0x45, 0x4e, 0x49, 0x47, 0x4d, 0x41, 0x4b, 0x53]) // "ENIGMAKS"
/** Version 1: one passphrase (Keystore.ts). */
export const KEYFILE_VERSION = 1
/** Version 2: passphrase slots (KeystoreSlots.ts). */
export const KEYFILE_SLOTS_VERSION = 2
export const SALT_LENGTH = 32
export const NONCE_LENGTH = 12
export const TAG_LENGTH = 16
export const FINGERPRINT_LENGTH = 16
/** AAD of the embedded decapsulation key's seal. */
export const DK_AAD = "enigma-dk-v1"

/** Bounds on Argon2id parameters accepted from a header (and at create). */
export const ARGON_LIMITS = {
  minMemoryKiB: 8 * 1024,
  maxMemoryKiB: 4 * 1024 * 1024,
  minPasses: 1,
  maxPasses: 64,
  minParallelism: 1,
  maxParallelism: 64
} as const

export interface ArgonParams {
  /** KiB */
  readonly memory: number
  readonly passes: number
  readonly parallelism: number
}

export const DEFAULT_ARGON: ArgonParams = { memory: 65536, passes: 3, parallelism: 4 }

/** Returns a description of what is wrong with the parameters, or undefined when they are in range. */
export const checkArgonParams = (p: ArgonParams): string | undefined => {
  const L = ARGON_LIMITS
  const intIn = (n: number, lo: number, hi: number) => Number.isInteger(n) && n >= lo && n <= hi
  if (!intIn(p.memory, L.minMemoryKiB, L.maxMemoryKiB)) {
    return `argon2 memory ${p.memory} KiB is outside ${L.minMemoryKiB}..${L.maxMemoryKiB} KiB`
  }
  if (!intIn(p.passes, L.minPasses, L.maxPasses)) return `argon2 passes ${p.passes} is outside ${L.minPasses}..${L.maxPasses}`
  if (!intIn(p.parallelism, L.minParallelism, L.maxParallelism)) {
    return `argon2 parallelism ${p.parallelism} is outside ${L.minParallelism}..${L.maxParallelism}`
  }
  if (p.memory < 8 * p.parallelism) return `argon2 memory must be at least 8 KiB per lane`
  return undefined
}

/**
 * The least work a new passphrase slot may cost, in MiB of memory times passes: OWASP's minimum
 * for Argon2id (19 MiB × 2, 12 MiB × 3, 9 MiB × 4 and 7 MiB × 5 are its equivalent settings).
 * Opening takes whatever a keyfile holds (checkArgonParams); only `init` asks this.
 */
export const MIN_ARGON_WORK_MIB_PASSES = 36

/** What is wrong with `p` as the cost of a new keyfile: out of range, or under the floor. */
export const checkNewArgonParams = (p: ArgonParams): string | undefined => {
  const bad = checkArgonParams(p)
  if (bad !== undefined) return bad
  const work = (p.memory / 1024) * p.passes
  if (work < MIN_ARGON_WORK_MIB_PASSES) {
    return `argon2 memory × passes is ${+work.toFixed(2)} MiB, under the floor of ${MIN_ARGON_WORK_MIB_PASSES} (OWASP's minimum: e.g. 19M with 2 passes, 12M with 3)`
  }
  return undefined
}

/**
 * The salt and Argon2id parameters at the fixed start of a keyfile's header (of its first
 * passphrase slot, in version 2), or undefined when `bytes` does not start as a keyfile of a known
 * version with parameters in range. The rest of the file is not looked at: `decodeAnyKeyfile`
 * checks it all when the keystore is opened.
 */
export const argonInputs = (bytes: Uint8Array): { readonly salt: Uint8Array; readonly argon: ArgonParams } | undefined => {
  // Version 1: magic, version, mode, then the parameters. Version 2: magic, version, mode, slot
  // count, then the first slot's id and its parameters.
  const argonAt = bytes[8] === KEYFILE_VERSION ? 10 : bytes[8] === KEYFILE_SLOTS_VERSION ? 13 : -1
  const saltAt = argonAt + 4 + 4 + 1
  if (argonAt < 0 || bytes.length < saltAt + SALT_LENGTH) return undefined
  for (let i = 0; i < KEYFILE_MAGIC.length; i++) if (bytes[i] !== KEYFILE_MAGIC[i]) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const argon: ArgonParams = { memory: view.getUint32(argonAt), passes: view.getUint32(argonAt + 4), parallelism: bytes[argonAt + 8]! }
  if (checkArgonParams(argon) !== undefined) return undefined
  return { salt: bytes.slice(saltAt, saltAt + SALT_LENGTH), argon }
}

/**
 * The salt and Argon2id parameters of passphrase slot `id` in a version 2 keyfile (`--key-hint`),
 * found by walking the slots' lengths (KeystoreSlots.ts has the layout); undefined when the file
 * has no such slot or is not shaped as one. Nothing is trusted: a wrong guess only derives a key
 * nobody takes.
 */
export const slotArgonInputs = (bytes: Uint8Array, id: number): { readonly salt: Uint8Array; readonly argon: ArgonParams } | undefined => {
  if (bytes.length < 11 || bytes[8] !== KEYFILE_SLOTS_VERSION) return undefined
  for (let i = 0; i < KEYFILE_MAGIC.length; i++) if (bytes[i] !== KEYFILE_MAGIC[i]) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const embedded = bytes[9] === 0
  let o = 11
  for (let slot = 0; slot < bytes[10]!; slot++) {
    if (o + 2 + 9 + SALT_LENGTH + 2 > bytes.length) return undefined
    const slotId = view.getUint16(o)
    const argon: ArgonParams = { memory: view.getUint32(o + 2), passes: view.getUint32(o + 6), parallelism: bytes[o + 10]! }
    const salt = bytes.slice(o + 11, o + 11 + SALT_LENGTH)
    o += 11 + SALT_LENGTH
    o += 2 + view.getUint16(o)
    if (embedded) {
      if (o + NONCE_LENGTH + 4 > bytes.length) return undefined
      o += NONCE_LENGTH
      o += 4 + view.getUint32(o)
    }
    o += NONCE_LENGTH + 32 + TAG_LENGTH
    if (slotId === id) return checkArgonParams(argon) === undefined ? { salt, argon } : undefined
  }
  return undefined
}

/** Enough of a keyfile's start for `argonInputs`, whatever its version. */
export const ARGON_INPUTS_PREFIX = 13 + 4 + 4 + 1 + SALT_LENGTH

/** A keyfile of either version: header || nonce || sealed (ciphertext || tag), checked against the header's length. */
export const assembleKeyfile = (head: Uint8Array, sealedLength: number, nonce: Uint8Array, sealed: Uint8Array): Uint8Array => {
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`nonce must be ${NONCE_LENGTH} bytes, got ${nonce.length}`)
  if (sealed.length !== sealedLength) throw new RangeError(`sealed payload is ${sealed.length} bytes but the header says ${sealedLength}`)
  const out = new Uint8Array(head.length + NONCE_LENGTH + sealed.length)
  out.set(head, 0)
  out.set(nonce, head.length)
  out.set(sealed, head.length + NONCE_LENGTH)
  return out
}
