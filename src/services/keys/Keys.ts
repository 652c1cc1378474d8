import { Clock, Context, Effect, Layer, Option, Redacted, Result, Schema } from "effect"
import * as crypto from "node:crypto"
import type { KeyObject } from "node:crypto"
import * as os from "node:os"
import * as path from "node:path"
import { type ChunkIdHash, type IdKey, legacyChunkIdHash, newChunkIdHash } from "../../domain/ChunkIdHash.ts"
import { KeystoreError, WrongPassphrase } from "../../domain/Errors.ts"
import {
  chunkIdHashOf,
  type ArgonParams,
  checkArgonParams,
  decodeAnyKeyfile,
  type DecodedKeyfile,
  type DecodedSlotted,
  DEFAULT_ARGON,
  DK_AAD,
  type EmbeddedDk,
  encodeHeader,
  encodeKeyfile,
  encodeSlottedHeader,
  encodeSlottedKeyfile,
  type KemMode,
  type KeyfileHeader,
  keyfileMode,
  KEYSTORE_KEY_LENGTH,
  KeystorePayloadJson,
  type KeystorePayload,
  MAX_SLOTS,
  NONCE_LENGTH,
  type PassphraseEntry,
  SALT_LENGTH,
  type Slot,
  SLOT_AAD,
  type SlottedHeader,
  TAG_LENGTH
} from "../../domain/Keystore.ts"
import { argon2idKey } from "./Argon2id.ts"
import { exists, readOptional, write, writeKeyfile } from "./KeyFiles.ts"
import { type KemKeyLocation, type KemKeyStore, kemKeyStore } from "./KemKeyStore.ts"

export { writeKeyfile }

/** Where a split keystore's ML-KEM key is, for messages. */
const whereOf = (kemKey: KemKeyLocation | undefined) => {
  const store = kemKey === undefined ? undefined : kemKeyStore(kemKey)
  return store === undefined ? "(none given)" : store.file !== undefined ? `file ${store.file}` : `secret ${store.where}`
}

/**
 * The opened keystore: everything the data path needs, derived once at open.
 *
 * Invariants: `dataKey(id)` is defined for every id in `keyIds` (old ids stay readable after
 * rotation); `currentKeyId` is the id new chunks are sealed with; `chunkIdKey`, `gearSeed` and
 * `logKey` depend only on the repository master secret, so they never change across rotations or
 * passphrase re-seals. `sealed` is the exact keyfile these values came from — upload it to every
 * provider. The byte arrays are shared, not copied: treat them as read-only.
 */
export interface KeyRing {
  readonly repositoryId: string
  /** "raw-key": every secret derives from a key the user holds (`--key`); there is no keystore. */
  readonly kemMode: KemMode | "raw-key"
  readonly currentKeyId: number
  readonly currentKey: Uint8Array
  readonly dataKey: (id: number) => Uint8Array | undefined
  readonly keyIds: ReadonlyArray<{ readonly id: number; readonly createdAt: string }>
  /** HKDF(master, info "enigma-chunk-id-v1"), 32 B, with the repository's chunk-id hash. */
  readonly chunkIdKey: IdKey
  /** HKDF(master, info "enigma-gear-v1"), 1024 B: seeds the content-defined chunker's gear table. */
  readonly gearSeed: Uint8Array
  /** HKDF(master, info "enigma-log-v1"), 32 B: seals event-log segments. */
  readonly logKey: Uint8Array
  /** HKDF(master, info "enigma-stream-chain-v1"), 32 B: keys each pipe stream's genesis link. */
  readonly streamKey: Uint8Array
  readonly sealed: Uint8Array
  /**
   * The passphrases that open the keystore (`key add`), and which of them opened it; one, id 1,
   * for a keystore written before there were several (version 1); none for a raw-key repository.
   */
  readonly passphrases: ReadonlyArray<PassphraseEntry>
  readonly passphraseId: number | undefined
}

export interface CreateOptions {
  readonly keyfilePath: string
  readonly passphrase: Redacted.Redacted<string>
  readonly kemMode: KemMode
  /** Required for "split": where the ML-KEM decapsulation key is written (a file path: PEM, 0600; or a vault secret). */
  readonly kemKey?: KemKeyLocation | undefined
  /** Argon2id cost; defaults to `DEFAULT_ARGON` (64 MiB, 3 passes, 4 lanes). Stored in the header. */
  readonly argon?: ArgonParams | undefined
  /**
   * The repository's chunk-id hash; defaults to `newChunkIdHash`. "hmac-sha256" writes the payload
   * as builds before BLAKE3 ids did (version 1): such repositories exist and must keep working.
   */
  readonly chunkIdHash?: ChunkIdHash | undefined
  /** What to call the first passphrase in `key list`; defaults to user@host. */
  readonly label?: string | undefined
  /**
   * 1 writes the single-passphrase keyfile of builds before passphrase slots (tests: such
   * keyfiles exist and must keep opening); the default, 2, has slots.
   */
  readonly keyfileVersion?: 1 | 2 | undefined
}

export interface OpenOptions {
  readonly keyfilePath: string
  readonly passphrase: Redacted.Redacted<string>
  /** Required when the keyfile is in split mode (its key file's path, or a vault secret); ignored in embedded mode. */
  readonly kemKey?: KemKeyLocation | undefined
  /** The passphrase slot to try first (`--key-hint`); the others are tried after it. */
  readonly hint?: number | undefined
}

export interface Rotated {
  readonly ring: KeyRing
  /** The new keyfile bytes (also `ring.sealed`), to upload to every provider. */
  readonly sealed: Uint8Array
}

export const HYBRID_INFO = "enigma-hybrid-v1"
export const CREDENTIAL_PREFIX = "enc:"
const CREDENTIAL_AAD = "enigma-cred-v1"
const CREDENTIAL_SALT = 16
/** Credential tokens are cheap to open on every run; the passphrase is the same as the keystore's. */
const CREDENTIAL_ARGON: ArgonParams = { memory: 19456, passes: 2, parallelism: 1 }
const KEM_ALGORITHM = "ml-kem-768"

// ---------------------------------------------------------------------------------------------
// Primitives (node:crypto). Cheap and infallible for valid inputs, so they are plain functions;
// the only fallible steps (argon2, key import, decapsulation, GCM open) are surfaced explicitly.

const randomBytes = (n: number): Uint8Array => new Uint8Array(crypto.randomBytes(n))
const utf8 = new TextEncoder()
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b)

const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array =>
  new Uint8Array(crypto.hkdfSync("sha256", ikm, salt, info, length))

const gcmSeal = (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array => {
  const c = crypto.createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LENGTH })
  c.setAAD(aad)
  return copy(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]))
}

/** undefined when authentication fails (wrong key or tampered bytes). */
const gcmOpen = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < TAG_LENGTH) return undefined
  const d = crypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LENGTH })
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH))
  const body = d.update(sealed.subarray(0, sealed.length - TAG_LENGTH))
  const opened = Result.try(() => copy(Buffer.concat([body, d.final()])))
  body.fill(0) // unauthenticated (or already copied) plaintext
  return Result.getOrUndefined(opened)
}

/** Argon2id(passphrase, salt) → 32 B (see Argon2id.ts, which may have started it early). */
const argon2id = (passphrase: Redacted.Redacted<string>, salt: Uint8Array, p: ArgonParams) =>
  Effect.tryPromise({
    try: () => argon2idKey(Redacted.value(passphrase), salt, p),
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })

/** First 16 bytes of SHA-256 over the ML-KEM public key's SPKI DER. */
const fingerprintOf = (publicKey: KeyObject): Uint8Array =>
  new Uint8Array(crypto.createHash("sha256").update(publicKey.export({ format: "der", type: "spki" })).digest())
    .subarray(0, 16)

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && crypto.timingSafeEqual(a, b)

/** kek = HKDF-SHA256(argonKey || kemSecret, salt, "enigma-hybrid-v1"); wipes the inputs. */
const hybridKek = (argonKey: Uint8Array, kemSecret: Uint8Array, salt: Uint8Array): Uint8Array => {
  const ikm = new Uint8Array(argonKey.length + kemSecret.length)
  ikm.set(argonKey, 0)
  ikm.set(kemSecret, argonKey.length)
  const kek = hkdf(ikm, salt, HYBRID_INFO, 32)
  ikm.fill(0)
  argonKey.fill(0)
  kemSecret.fill(0)
  return kek
}

/** The one place the master secret turns into working keys. */
export const deriveKeys = (master: Uint8Array, chunkIdHash: ChunkIdHash) => {
  const none = new Uint8Array(0)
  return {
    chunkIdKey: { hash: chunkIdHash, key: hkdf(master, none, "enigma-chunk-id-v1", 32) },
    gearSeed: hkdf(master, none, "enigma-gear-v1", 1024),
    logKey: hkdf(master, none, "enigma-log-v1", 32),
    streamKey: hkdf(master, none, "enigma-stream-chain-v1", 32)
  }
}

/** What `key list` calls a passphrase added without a label: user@host. */
export const defaultPassphraseLabel = (): string => {
  const user = Result.getOrElse(Result.try(() => os.userInfo().username), () => process.env.USER ?? "unknown")
  return `${user}@${os.hostname()}`
}

/** Raw-key repositories (`--key`) store this beside the data so a wrong key is named as such. */
export const RAW_KEY_MARKER = "keys/raw-key"

/**
 * A key ring for a repository whose secrets all derive from one 32-byte key the user keeps
 * (s3duct's `--key`): master = HKDF(key, "enigma-raw-key-v1"), one data key. `check` is a
 * one-way value stored in the repository to tell a wrong key from a damaged chunk. The chunk-id
 * hash is the repository's, as its marker records it.
 */
export const rawKeyRing = (key: Uint8Array, chunkIdHash: ChunkIdHash): { readonly ring: KeyRing; readonly check: string } => {
  const none = new Uint8Array(0)
  const master = hkdf(key, none, "enigma-raw-key-v1", 32)
  const dataKey = hkdf(master, none, "enigma-raw-data-key-v1", 32)
  const ring: KeyRing = {
    repositoryId: Buffer.from(hkdf(master, none, "enigma-repository-id-v1", 8)).toString("hex"),
    kemMode: "raw-key",
    currentKeyId: 1,
    currentKey: dataKey,
    dataKey: (id) => (id === 1 ? dataKey : undefined),
    keyIds: [{ id: 1, createdAt: "" }],
    ...deriveKeys(master, chunkIdHash),
    sealed: new Uint8Array(0),
    passphrases: [],
    passphraseId: undefined
  }
  return { ring, check: Buffer.from(hkdf(master, none, "enigma-key-check-v1", 16)).toString("hex") }
}

/** A version 1 keyfile's one passphrase, as `key list` shows it. */
const onlyPassphrase = (payload: KeystorePayload): ReadonlyArray<PassphraseEntry> => [
  { id: 1, createdAt: payload.dataKeys[0].createdAt, label: "" }
]

const makeRing = (payload: KeystorePayload, sealed: Uint8Array, kemMode: KemMode, passphraseId: number): KeyRing => {
  const keys = new Map(payload.dataKeys.map((k) => [k.id, k.key] as const))
  return {
    passphrases: payload.passphrases ?? onlyPassphrase(payload),
    passphraseId,
    repositoryId: payload.repositoryId,
    kemMode,
    currentKeyId: payload.currentKeyId,
    currentKey: keys.get(payload.currentKeyId)!, // the payload schema guarantees it exists
    dataKey: (id) => keys.get(id),
    keyIds: payload.dataKeys.map((k) => ({ id: k.id, createdAt: k.createdAt })),
    ...deriveKeys(payload.master, chunkIdHashOf(payload)),
    sealed
  }
}

const readKemKey = Effect.fnUntraced(function*(store: KemKeyStore) {
  const file = store.where
  const bytes = yield* store.read.pipe(Effect.withSpan("KemKeyStore.read", { attributes: { where: store.where } }))
  if (bytes === undefined) {
    return yield* new KeystoreError({ file, detail: store.missing })
  }
  const text = new TextDecoder().decode(bytes.subarray(0, 64))
  const key = Result.try(() =>
    text.trimStart().startsWith("-----BEGIN")
      ? crypto.createPrivateKey(new TextDecoder().decode(bytes))
      : crypto.createPrivateKey({ key: Buffer.from(bytes), format: "der", type: "pkcs8" })
  )
  if (Result.isFailure(key) || key.success.asymmetricKeyType !== KEM_ALGORITHM) {
    return yield* new KeystoreError({
      file,
      detail: `not an ML-KEM-768 private key ${store.file !== undefined ? "file " : ""}(PKCS#8, PEM or DER)`
    })
  }
  return key.success
})

// ---------------------------------------------------------------------------------------------
// Seal / open

interface KemPair {
  readonly publicKey: KeyObject
  readonly privateKey: KeyObject
}

/** An opened keystore, with what it takes to write it again. */
interface Opened {
  readonly ring: KeyRing
  readonly payload: KeystorePayload
  readonly mode: KemMode
  readonly kem: KemPair
  /** The slots as stored; empty for a version 1 keyfile (it is rewritten with slots). */
  readonly slots: ReadonlyArray<Slot>
  /** K, which seals the payload (version 2); undefined for a version 1 keyfile. */
  readonly keystoreKey: Uint8Array | undefined
  /** The passphrase that opened it: its slot id and Argon2id cost. */
  readonly slotId: number
  readonly argon: ArgonParams
}

const argonFailed = (file: string) => (e: Error) => new KeystoreError({ file, detail: `argon2id failed: ${e.message}` })

/** The ML-KEM key sealed under this passphrase's Argon2id key (DK_AAD). */
const sealEmbeddedDk = (argonKey: Uint8Array, privateKey: KeyObject): EmbeddedDk => {
  const dkNonce = randomBytes(NONCE_LENGTH)
  const der = privateKey.export({ format: "der", type: "pkcs8" })
  const dkSealed = gcmSeal(argonKey, dkNonce, der, utf8.encode(DK_AAD))
  der.fill(0)
  return { dkNonce, dkSealed }
}

/**
 * The ML-KEM key an embedded seal holds; undefined when `argonKey` does not open it (another
 * passphrase's). Fails when it opens but is not this keystore's key.
 */
const openEmbeddedDk = Effect.fnUntraced(function*(argonKey: Uint8Array, embedded: EmbeddedDk, ekFingerprint: Uint8Array, file: string) {
  const der = gcmOpen(argonKey, embedded.dkNonce, embedded.dkSealed, utf8.encode(DK_AAD))
  if (der === undefined) return undefined
  const imported = Result.try(() => crypto.createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }))
  der.fill(0)
  if (
    Result.isFailure(imported) || imported.success.asymmetricKeyType !== KEM_ALGORITHM ||
    !sameBytes(fingerprintOf(crypto.createPublicKey(imported.success)), ekFingerprint)
  ) {
    return yield* new KeystoreError({ file, detail: "damaged keyfile: the embedded ML-KEM key is invalid" })
  }
  return imported.success
})

/** Split mode's ML-KEM key file, checked against the keystore before any Argon2id is paid for. */
const splitPrivateKey = Effect.fnUntraced(function*(kemKey: KemKeyLocation | undefined, ekFingerprint: Uint8Array, file: string) {
  if (kemKey === undefined) {
    return yield* new KeystoreError({
      file,
      detail: "this keystore keeps its ML-KEM decapsulation key in a separate key file (split mode); " +
        "pass the path of that file, written when the repository was created"
    })
  }
  const store = kemKeyStore(kemKey)
  const privateKey = yield* readKemKey(store)
  if (!sameBytes(fingerprintOf(crypto.createPublicKey(privateKey)), ekFingerprint)) {
    return yield* new KeystoreError({
      file: store.where,
      detail: `ML-KEM key ${store.file !== undefined ? "file " : ""}belongs to another repository (it does not match keystore ${file})`
    })
  }
  return privateKey
})

/** A passphrase's kek: its Argon2id key (wiped) with the secret its KEM ciphertext decapsulates to. */
const passphraseKek = (privateKey: KeyObject, kemCiphertext: Uint8Array, argonKey: Uint8Array, salt: Uint8Array, file: string) => {
  const shared = Result.try((): Uint8Array => crypto.decapsulate(privateKey, kemCiphertext))
  if (Result.isFailure(shared)) {
    argonKey.fill(0)
    return Effect.fail(new KeystoreError({ file, detail: "damaged header: the KEM ciphertext is invalid" }))
  }
  return Effect.succeed(hybridKek(argonKey, shared.success, salt))
}

const decodePayload = (plaintext: Uint8Array, file: string) =>
  Schema.decodeUnknownEffect(KeystorePayloadJson)(new TextDecoder().decode(plaintext)).pipe(
    Effect.mapError((e) => new KeystoreError({ file, detail: `damaged payload: ${e.message}` }))
  )

/** Version 1: one passphrase, whose kek seals the payload itself. Read, never written (see `create`). */
const openSingle = Effect.fnUntraced(function*(
  decoded: DecodedKeyfile,
  passphrase: Redacted.Redacted<string>,
  kemKey: KemKeyLocation | undefined,
  file: string
) {
  const { header, headerBytes, nonce, sealed } = decoded
  const mode = keyfileMode(header)
  let privateKey: KeyObject
  let argonKey: Uint8Array
  if (header.embedded === undefined) {
    privateKey = yield* splitPrivateKey(kemKey, header.ekFingerprint, file)
    argonKey = yield* argon2id(passphrase, header.salt, header.argon).pipe(Effect.mapError(argonFailed(file)))
  } else {
    argonKey = yield* argon2id(passphrase, header.salt, header.argon).pipe(Effect.mapError(argonFailed(file)))
    const embedded = yield* openEmbeddedDk(argonKey, header.embedded, header.ekFingerprint, file)
    if (embedded === undefined) return yield* new WrongPassphrase({ keyfile: file })
    privateKey = embedded
  }
  const kek = yield* passphraseKek(privateKey, header.kemCiphertext, argonKey, header.salt, file)
  const plaintext = gcmOpen(kek, nonce, sealed, headerBytes)
  kek.fill(0)
  if (plaintext === undefined) {
    if (mode === "embedded") {
      // The embedded key opened, so the passphrase is right: the header or payload is damaged.
      return yield* new KeystoreError({
        file,
        detail: "damaged keyfile: the passphrase is right but the sealed keystore fails authentication"
      })
    }
    return yield* new WrongPassphrase({ keyfile: `${file} (or wrong ML-KEM key ${whereOf(kemKey)})` })
  }
  const payload = yield* decodePayload(plaintext, file)
  plaintext.fill(0)
  const opened: Opened = {
    ring: makeRing(payload, new Uint8Array(0), mode, 1), // `sealed`: openSealed sets the whole file
    payload,
    mode,
    kem: { publicKey: crypto.createPublicKey(privateKey), privateKey },
    slots: [],
    keystoreKey: undefined,
    slotId: 1,
    argon: header.argon
  }
  return opened
})

/**
 * Version 2: tries each passphrase slot in turn (an Argon2id each) until one gives K. In embedded
 * mode a slot whose ML-KEM seal does not open is another passphrase's; in split mode, one whose
 * wrap does not open.
 */
const openSlotted = Effect.fnUntraced(function*(
  decoded: DecodedSlotted,
  passphrase: Redacted.Redacted<string>,
  kemKey: KemKeyLocation | undefined,
  file: string,
  hint: number | undefined
) {
  const { header, headerBytes, nonce, sealed } = decoded
  const split = header.mode === "split" ? yield* splitPrivateKey(kemKey, header.ekFingerprint, file) : undefined
  const hinted = header.slots.filter((s) => s.id === hint)
  for (const slot of [...hinted, ...header.slots.filter((s) => s.id !== hint)]) {
    const argonKey = yield* argon2id(passphrase, slot.salt, slot.argon).pipe(Effect.mapError(argonFailed(file)))
    const privateKey = slot.embedded === undefined
      ? split!
      : yield* openEmbeddedDk(argonKey, slot.embedded, header.ekFingerprint, file)
    if (privateKey === undefined) {
      argonKey.fill(0)
      continue
    }
    const kek = yield* passphraseKek(privateKey, slot.kemCiphertext, argonKey, slot.salt, file)
    const keystoreKey = gcmOpen(kek, slot.wrapNonce, slot.wrapped, utf8.encode(SLOT_AAD))
    kek.fill(0)
    if (keystoreKey === undefined) {
      if (slot.embedded === undefined) continue
      return yield* new KeystoreError({
        file,
        detail: `damaged keyfile: the passphrase opens slot ${slot.id}'s ML-KEM key but not its keystore key`
      })
    }
    const plaintext = gcmOpen(keystoreKey, nonce, sealed, headerBytes)
    if (plaintext === undefined) {
      return yield* new KeystoreError({
        file,
        detail: `damaged keyfile: the passphrase opens slot ${slot.id} but the sealed keystore fails authentication`
      })
    }
    const payload = yield* decodePayload(plaintext, file)
    plaintext.fill(0)
    const opened: Opened = {
      ring: makeRing(payload, new Uint8Array(0), header.mode, slot.id), // `sealed`: as above
      payload,
      mode: header.mode,
      kem: { publicKey: crypto.createPublicKey(privateKey), privateKey },
      slots: header.slots,
      keystoreKey,
      slotId: slot.id,
      argon: slot.argon
    }
    return opened
  }
  return yield* new WrongPassphrase({ keyfile: split === undefined ? file : `${file} (or wrong ML-KEM key ${whereOf(kemKey)})` })
})

const openSealed = Effect.fnUntraced(function*(
  bytes: Uint8Array,
  passphrase: Redacted.Redacted<string>,
  kemKey: KemKeyLocation | undefined,
  file: string,
  hint?: number
) {
  const decoded = decodeAnyKeyfile(bytes)
  if (Result.isFailure(decoded)) return yield* new KeystoreError({ file, detail: decoded.failure })
  const opened = decoded.success.version === 1
    ? yield* openSingle(decoded.success.decoded, passphrase, kemKey, file)
    : yield* openSlotted(decoded.success.decoded, passphrase, kemKey, file, hint)
  // The ring's `sealed` is the whole file, as read.
  return { ...opened, ring: { ...opened.ring, sealed: copy(bytes) } } satisfies Opened
})

/** What sealing under a passphrase starts with: a fresh salt, its Argon2id key, and a fresh KEM encapsulation. */
const freshPassphraseKeys = Effect.fnUntraced(function*(kem: KemPair, argon: ArgonParams, passphrase: Redacted.Redacted<string>, file: string) {
  const salt = randomBytes(SALT_LENGTH)
  const argonKey = yield* argon2id(passphrase, salt, argon).pipe(Effect.mapError(argonFailed(file)))
  const { sharedKey, ciphertext } = crypto.encapsulate(kem.publicKey)
  return { salt, argonKey, sharedKey: new Uint8Array(sharedKey.buffer, sharedKey.byteOffset, sharedKey.byteLength), kemCiphertext: new Uint8Array(ciphertext) }
})

/** A slot `id` that wraps `keystoreKey` under `passphrase` (fresh salt and KEM encapsulation). */
const sealSlot = Effect.fnUntraced(function*(
  id: number,
  keystoreKey: Uint8Array,
  kem: KemPair,
  mode: KemMode,
  argon: ArgonParams,
  passphrase: Redacted.Redacted<string>,
  file: string
) {
  const { salt, argonKey, sharedKey, kemCiphertext } = yield* freshPassphraseKeys(kem, argon, passphrase, file)
  const embedded = mode === "embedded" ? sealEmbeddedDk(argonKey, kem.privateKey) : undefined
  const kek = hybridKek(argonKey, sharedKey, salt)
  const wrapNonce = randomBytes(NONCE_LENGTH)
  const wrapped = gcmSeal(kek, wrapNonce, keystoreKey, utf8.encode(SLOT_AAD))
  kek.fill(0)
  const slot: Slot = { id, argon, salt, kemCiphertext, embedded, wrapNonce, wrapped }
  return slot
})

/** The version 2 keyfile: `payload` sealed under K, behind `slots`. */
const sealSlotted = Effect.fnUntraced(function*(
  payload: KeystorePayload,
  slots: ReadonlyArray<Slot>,
  mode: KemMode,
  kem: KemPair,
  keystoreKey: Uint8Array
) {
  const plaintext = utf8.encode(yield* Schema.encodeEffect(KeystorePayloadJson)(payload).pipe(Effect.orDie))
  const header: SlottedHeader = {
    version: 2,
    mode,
    slots,
    ekFingerprint: fingerprintOf(kem.publicKey),
    sealedLength: plaintext.length + TAG_LENGTH
  }
  const nonce = randomBytes(NONCE_LENGTH)
  const sealed = gcmSeal(keystoreKey, nonce, plaintext, encodeSlottedHeader(header))
  plaintext.fill(0)
  return encodeSlottedKeyfile(header, nonce, sealed)
})

/** Version 1, as builds before passphrase slots wrote it (`CreateOptions.keyfileVersion`). */
const sealSingle = Effect.fnUntraced(function*(
  payload: KeystorePayload,
  kem: KemPair,
  mode: KemMode,
  argon: ArgonParams,
  passphrase: Redacted.Redacted<string>,
  file: string
) {
  const { salt, argonKey, sharedKey, kemCiphertext } = yield* freshPassphraseKeys(kem, argon, passphrase, file)
  const plaintext = utf8.encode(yield* Schema.encodeEffect(KeystorePayloadJson)(payload).pipe(Effect.orDie))
  const header: KeyfileHeader = {
    version: 1,
    argon,
    salt,
    kemCiphertext,
    ekFingerprint: fingerprintOf(kem.publicKey),
    sealedLength: plaintext.length + TAG_LENGTH,
    embedded: mode === "embedded" ? sealEmbeddedDk(argonKey, kem.privateKey) : undefined
  }
  const kek = hybridKek(argonKey, sharedKey, salt)
  const nonce = randomBytes(NONCE_LENGTH)
  const sealed = gcmSeal(kek, nonce, plaintext, encodeHeader(header))
  plaintext.fill(0)
  kek.fill(0)
  return encodeKeyfile(header, nonce, sealed)
})

// ---------------------------------------------------------------------------------------------
// Service methods

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

const create = Effect.fn("Keys.create")(function*(opts: CreateOptions) {
  const file = opts.keyfilePath
  const argon = opts.argon ?? DEFAULT_ARGON
  const badArgon = checkArgonParams(argon)
  if (badArgon !== undefined) return yield* new KeystoreError({ file, detail: badArgon })
  if (Redacted.value(opts.passphrase).length === 0) {
    return yield* new KeystoreError({ file, detail: "refusing to create a keystore with an empty passphrase" })
  }
  const kemStore = opts.kemMode === "split" && opts.kemKey !== undefined ? kemKeyStore(opts.kemKey) : undefined
  if (opts.kemMode === "split") {
    if (kemStore === undefined) {
      return yield* new KeystoreError({ file, detail: "split mode needs a place for the ML-KEM key (a key file or a vault secret)" })
    }
    if (kemStore.file !== undefined && path.resolve(kemStore.file) === path.resolve(file)) {
      return yield* new KeystoreError({ file, detail: "the ML-KEM key file must be a different file" })
    }
    if (kemStore.file !== undefined && (yield* exists(kemStore.file))) {
      return yield* new KeystoreError({
        file: kemStore.file,
        detail: "ML-KEM key file already exists; refusing to overwrite it"
      })
    }
  }
  if (yield* exists(file)) {
    return yield* new KeystoreError({ file, detail: "keystore already exists; refusing to overwrite it" })
  }

  const kem = crypto.generateKeyPairSync(KEM_ALGORITHM)
  const chunkIdHash = opts.chunkIdHash ?? newChunkIdHash
  const createdAt = yield* nowIso
  const single = opts.keyfileVersion === 1
  const payload: KeystorePayload = {
    version: chunkIdHash === legacyChunkIdHash ? 1 : 2,
    repositoryId: crypto.randomBytes(16).toString("hex"),
    master: randomBytes(32),
    dataKeys: [{ id: 1, key: randomBytes(32), createdAt }],
    currentKeyId: 1,
    ...(chunkIdHash === legacyChunkIdHash ? {} : { chunkIdHash }),
    ...(single ? {} : { passphrases: [{ id: 1, createdAt, label: opts.label ?? defaultPassphraseLabel() }] })
  }
  let bytes: Uint8Array
  if (single) {
    bytes = yield* sealSingle(payload, kem, opts.kemMode, argon, opts.passphrase, file)
  } else {
    const keystoreKey = randomBytes(KEYSTORE_KEY_LENGTH)
    const slot = yield* sealSlot(1, keystoreKey, kem, opts.kemMode, argon, opts.passphrase, file)
    bytes = yield* sealSlotted(payload, [slot], opts.kemMode, kem, keystoreKey)
    keystoreKey.fill(0)
  }

  if (kemStore !== undefined) {
    const pem = kem.privateKey.export({ format: "pem", type: "pkcs8" }).toString()
    yield* kemStore.create(utf8.encode(pem)).pipe(
      Effect.withSpan("KemKeyStore.create", { attributes: { where: kemStore.where } })
    )
    // A keyfile that failed to appear must not leave an orphaned key behind.
    yield* write(file, bytes, true, "keystore").pipe(Effect.tapError(() => kemStore.discard))
  } else {
    yield* write(file, bytes, true, "keystore")
  }
  return makeRing(payload, bytes, opts.kemMode, 1)
})

const open = Effect.fn("Keys.open")(function*(opts: OpenOptions) {
  const bytes = yield* readOptional(opts.keyfilePath)
  if (bytes === undefined) {
    return yield* new KeystoreError({ file: opts.keyfilePath, detail: "keystore file does not exist" })
  }
  return (yield* openSealed(bytes, opts.passphrase, opts.kemKey, opts.keyfilePath, opts.hint)).ring
})

const openBytes = Effect.fn("Keys.openBytes")(function*(
  bytes: Uint8Array,
  passphrase: Redacted.Redacted<string>,
  kemKey?: KemKeyLocation,
  source: string = "(fetched from provider)"
) {
  return (yield* openSealed(bytes, passphrase, kemKey, source)).ring
})

/**
 * The keystore as it is now (the file on disk if there is one, else the ring's own bytes), opened
 * with `passphrase`; it must be the open repository's.
 */
const reopen = Effect.fnUntraced(function*(ring: KeyRing, keyfilePath: string, passphrase: Redacted.Redacted<string>, kemKey?: KemKeyLocation) {
  const base = (yield* readOptional(keyfilePath)) ?? ring.sealed
  const opened = yield* openSealed(base, passphrase, kemKey, keyfilePath)
  if (opened.payload.repositoryId !== ring.repositoryId) {
    return yield* new KeystoreError({
      file: keyfilePath,
      detail: `belongs to repository ${opened.payload.repositoryId}, not to the open repository ${ring.repositoryId}`
    })
  }
  return opened
})

/**
 * The opened keystore's slots and K, ready to be written as version 2: a version 1 keyfile becomes
 * slot 1 under a new K, sealed with the passphrase that opened it.
 */
const asSlotted = Effect.fnUntraced(function*(opened: Opened, passphrase: Redacted.Redacted<string>, file: string) {
  if (opened.keystoreKey !== undefined) {
    return { slots: opened.slots, keystoreKey: opened.keystoreKey, passphrases: opened.ring.passphrases }
  }
  const keystoreKey = randomBytes(KEYSTORE_KEY_LENGTH)
  const slot = yield* sealSlot(1, keystoreKey, opened.kem, opened.mode, opened.argon, passphrase, file)
  return { slots: [slot] as ReadonlyArray<Slot>, keystoreKey, passphrases: onlyPassphrase(opened.payload) }
})

/**
 * The keystore as it is now, opened with `passphrase` to be changed: its slots and K (a version 1
 * keyfile gets them), and `save`, which seals the payload with `changes` behind `slots` (by
 * default the same), replaces the keyfile atomically and returns the new ring.
 */
const reopenForChange = Effect.fnUntraced(function*(ring: KeyRing, keyfilePath: string, passphrase: Redacted.Redacted<string>, kemKey?: KemKeyLocation) {
  const opened = yield* reopen(ring, keyfilePath, passphrase, kemKey)
  const { keystoreKey, passphrases, slots } = yield* asSlotted(opened, passphrase, keyfilePath)
  const save = Effect.fnUntraced(function*(changes: Partial<KeystorePayload>, newSlots: ReadonlyArray<Slot> = slots) {
    const payload: KeystorePayload = { ...opened.payload, passphrases, ...changes }
    const bytes = yield* sealSlotted(payload, newSlots, opened.mode, opened.kem, keystoreKey)
    yield* write(keyfilePath, bytes, false, "keystore")
    const rewritten: Rotated = { ring: makeRing(payload, bytes, opened.mode, opened.slotId), sealed: bytes }
    return rewritten
  })
  return { opened, keystoreKey, passphrases, slots, save }
})

const rotate = Effect.fn("Keys.rotate")(function*(
  ring: KeyRing,
  keyfilePath: string,
  passphrase: Redacted.Redacted<string>,
  kemKey?: KemKeyLocation
) {
  // Re-open: this checks the passphrase (rotate must not silently change it) and never drops a
  // key someone else added.
  const { opened, save } = yield* reopenForChange(ring, keyfilePath, passphrase, kemKey)
  for (const { id } of ring.keyIds) {
    const onDisk = opened.ring.dataKey(id)
    if (onDisk === undefined || !sameBytes(onDisk, ring.dataKey(id)!)) {
      return yield* new KeystoreError({
        file: keyfilePath,
        detail: `data key ${id} differs from the open keystore; reopen the repository and retry`
      })
    }
  }
  const id = Math.max(...opened.payload.dataKeys.map((k) => k.id)) + 1
  return yield* save({
    dataKeys: [...opened.payload.dataKeys, { id, key: randomBytes(32), createdAt: yield* nowIso }],
    currentKeyId: id
  })
})

/**
 * The passphrase that opens the keystore replaced by `newPassphrase` (its slot sealed afresh: new
 * salt and KEM encapsulation, same Argon2 cost); the other passphrases, keys and ML-KEM key pair
 * stay. Replaces the keyfile atomically. Upload `sealed` everywhere.
 */
const changePassphrase = Effect.fn("Keys.changePassphrase")(function*(
  ring: KeyRing,
  keyfilePath: string,
  passphrase: Redacted.Redacted<string>,
  newPassphrase: Redacted.Redacted<string>,
  kemKey?: KemKeyLocation
) {
  const { opened, keystoreKey, slots, save } = yield* reopenForChange(ring, keyfilePath, passphrase, kemKey)
  yield* refuseKnownPassphrase(opened, newPassphrase, kemKey, keyfilePath)
  const fresh = yield* sealSlot(opened.slotId, keystoreKey, opened.kem, opened.mode, opened.argon, newPassphrase, keyfilePath)
  return yield* save({}, slots.map((s) => (s.id === opened.slotId ? fresh : s)))
})

/**
 * Fails when `newPassphrase` opens the keystore already: a second slot for it would only be one
 * more to guess against, and removing one of the two would not take the passphrase away.
 */
const refuseKnownPassphrase = Effect.fnUntraced(function*(opened: Opened, newPassphrase: Redacted.Redacted<string>, kemKey: KemKeyLocation | undefined, file: string) {
  const already = yield* openSealed(opened.ring.sealed, newPassphrase, kemKey, file).pipe(Effect.option)
  if (Option.isSome(already)) {
    return yield* new KeystoreError({ file, detail: `that passphrase opens the keystore already (passphrase ${already.value.slotId}); nothing was changed` })
  }
})

/** Adds `newPassphrase` as one more that opens the keystore (id max+1, labelled `label`). */
const addPassphrase = Effect.fn("Keys.addPassphrase")(function*(
  ring: KeyRing,
  keyfilePath: string,
  passphrase: Redacted.Redacted<string>,
  newPassphrase: Redacted.Redacted<string>,
  label: string,
  kemKey?: KemKeyLocation
) {
  if (Redacted.value(newPassphrase).length === 0) {
    return yield* new KeystoreError({ file: keyfilePath, detail: "refusing to add an empty passphrase" })
  }
  const { opened, keystoreKey, passphrases, slots, save } = yield* reopenForChange(ring, keyfilePath, passphrase, kemKey)
  yield* refuseKnownPassphrase(opened, newPassphrase, kemKey, keyfilePath)
  if (slots.length >= MAX_SLOTS) {
    return yield* new KeystoreError({
      file: keyfilePath,
      detail: `the keystore already has ${MAX_SLOTS} passphrases, the most it holds; remove one first (enigma key remove ID)`
    })
  }
  const id = Math.max(opened.payload.lastPassphraseId ?? 0, ...slots.map((s) => s.id)) + 1
  const slot = yield* sealSlot(id, keystoreKey, opened.kem, opened.mode, opened.argon, newPassphrase, keyfilePath)
  return yield* save({ passphrases: [...passphrases, { id, createdAt: yield* nowIso, label }], lastPassphraseId: id }, [...slots, slot])
})

/** Removes passphrase `id`; never the one given (it opened the keystore), so one always remains. */
const removePassphrase = Effect.fn("Keys.removePassphrase")(function*(
  ring: KeyRing,
  keyfilePath: string,
  passphrase: Redacted.Redacted<string>,
  id: number,
  kemKey?: KemKeyLocation
) {
  const { opened, passphrases, slots, save } = yield* reopenForChange(ring, keyfilePath, passphrase, kemKey)
  if (id === opened.slotId) {
    return yield* new KeystoreError({
      file: keyfilePath,
      detail: `passphrase ${id} is the one given; to remove it, open the repository with another passphrase (enigma key list shows them)`
    })
  }
  if (!slots.some((s) => s.id === id)) {
    return yield* new KeystoreError({
      file: keyfilePath,
      detail: `no passphrase ${id}; the keystore has passphrase${slots.length === 1 ? "" : "s"} ${slots.map((s) => s.id).join(", ")} (enigma key list)`
    })
  }
  return yield* save({ passphrases: passphrases.filter((p) => p.id !== id) }, slots.filter((s) => s.id !== id))
})

// ---------------------------------------------------------------------------------------------
// Credential tokens

/** True for strings produced by `encryptCredential`. */
export const isCredentialToken = (value: string): boolean => value.startsWith(CREDENTIAL_PREFIX)

/**
 * Seals a config secret (cloud access key, SAS token…) under the repository passphrase:
 * `"enc:" + base64url(salt 16 | nonce 12 | AES-256-GCM ciphertext+tag)`, key = Argon2id(passphrase,
 * salt; 19 MiB, 2 passes, 1 lane), AAD "enigma-cred-v1". Needs no keystore, so `recover` can read
 * provider credentials before it has fetched one.
 */
export const encryptCredential = Effect.fn("Keys.encryptCredential")(function*(
  value: string,
  passphrase: Redacted.Redacted<string>
) {
  const salt = randomBytes(CREDENTIAL_SALT)
  const key = yield* argon2id(passphrase, salt, CREDENTIAL_ARGON).pipe(Effect.orDie)
  const nonce = randomBytes(NONCE_LENGTH)
  const sealed = gcmSeal(key, nonce, utf8.encode(value), utf8.encode(CREDENTIAL_AAD))
  key.fill(0)
  return CREDENTIAL_PREFIX + Buffer.concat([salt, nonce, sealed]).toString("base64url")
})

/**
 * Opens a credential token. `source` names where the token came from (e.g. "config.toml
 * providers.s3.secretKey") and becomes the `keyfile`/`file` of the error. A token that does not
 * authenticate — wrong passphrase, or a tampered token (indistinguishable by design) — fails with
 * `WrongPassphrase`; one that is not even shaped like a token fails with `KeystoreError`.
 */
export const decryptCredential = Effect.fn("Keys.decryptCredential")(function*(
  token: string,
  passphrase: Redacted.Redacted<string>,
  source: string = "credential token"
) {
  const malformed = (why: string) => new KeystoreError({ file: source, detail: `malformed credential token: ${why}` })
  if (!isCredentialToken(token)) return yield* malformed(`expected a value starting with "${CREDENTIAL_PREFIX}"`)
  const body = token.slice(CREDENTIAL_PREFIX.length)
  if (!/^[A-Za-z0-9_-]*$/.test(body)) return yield* malformed("not base64url")
  const raw = new Uint8Array(Buffer.from(body, "base64url"))
  if (raw.length < CREDENTIAL_SALT + NONCE_LENGTH + TAG_LENGTH) return yield* malformed("too short")
  const salt = raw.subarray(0, CREDENTIAL_SALT)
  const nonce = raw.subarray(CREDENTIAL_SALT, CREDENTIAL_SALT + NONCE_LENGTH)
  const key = yield* argon2id(passphrase, salt, CREDENTIAL_ARGON).pipe(Effect.orDie)
  const plaintext = gcmOpen(key, nonce, raw.subarray(CREDENTIAL_SALT + NONCE_LENGTH), utf8.encode(CREDENTIAL_AAD))
  key.fill(0)
  if (plaintext === undefined) return yield* new WrongPassphrase({ keyfile: source, credential: true })
  const text = Result.try(() => new TextDecoder("utf-8", { fatal: true }).decode(plaintext))
  if (Result.isFailure(text)) return yield* malformed("plaintext is not UTF-8")
  return text.success
})

// ---------------------------------------------------------------------------------------------

/**
 * The keystore service. A keyfile seals the repository master secret and data keys under
 * kek = HKDF-SHA256(Argon2id(passphrase) || ML-KEM-768 shared secret, salt, "enigma-hybrid-v1"),
 * re-derived on every open (the decapsulation really happens). Errors: `WrongPassphrase` when the
 * seal does not authenticate (wrong passphrase, or a damaged/tampered header — indistinguishable);
 * `KeystoreError` for a missing, truncated or foreign file, a missing/foreign ML-KEM key file, or a
 * refused overwrite. Writes are atomic and durable (temp + fsync + rename/link, files 0600).
 */
export class Keys extends Context.Service<Keys, {
  /** Creates a new repository keystore (refuses to overwrite one) and returns it opened. */
  readonly create: (opts: CreateOptions) => Effect.Effect<KeyRing, KeystoreError>
  readonly open: (opts: OpenOptions) => Effect.Effect<KeyRing, WrongPassphrase | KeystoreError>
  /** Opens keyfile bytes fetched from a provider (recover). `source` names them in errors. */
  readonly openBytes: (
    bytes: Uint8Array,
    passphrase: Redacted.Redacted<string>,
    kemKey?: KemKeyLocation,
    source?: string
  ) => Effect.Effect<KeyRing, WrongPassphrase | KeystoreError>
  /**
   * Adds data key max+1, makes it current, re-seals (fresh salt, nonce and KEM encapsulation, same
   * ML-KEM key pair and Argon2 cost) and atomically replaces the keyfile. Upload `sealed` everywhere.
   */
  readonly rotate: (
    ring: KeyRing,
    keyfilePath: string,
    passphrase: Redacted.Redacted<string>,
    kemKey?: KemKeyLocation
  ) => Effect.Effect<Rotated, WrongPassphrase | KeystoreError>
  /** Re-seals the keystore under `newPassphrase` and atomically replaces the keyfile. Upload `sealed` everywhere. */
  readonly changePassphrase: (
    ring: KeyRing,
    keyfilePath: string,
    passphrase: Redacted.Redacted<string>,
    newPassphrase: Redacted.Redacted<string>,
    kemKey?: KemKeyLocation
  ) => Effect.Effect<Rotated, WrongPassphrase | KeystoreError>
  /** Adds a passphrase that opens the keystore too (a slot wrapping the same keystore key). Upload `sealed` everywhere. */
  readonly addPassphrase: (
    ring: KeyRing,
    keyfilePath: string,
    passphrase: Redacted.Redacted<string>,
    newPassphrase: Redacted.Redacted<string>,
    label: string,
    kemKey?: KemKeyLocation
  ) => Effect.Effect<Rotated, WrongPassphrase | KeystoreError>
  /** Removes another passphrase by id (never the one given). Upload `sealed` everywhere. */
  readonly removePassphrase: (
    ring: KeyRing,
    keyfilePath: string,
    passphrase: Redacted.Redacted<string>,
    id: number,
    kemKey?: KemKeyLocation
  ) => Effect.Effect<Rotated, WrongPassphrase | KeystoreError>
  readonly encryptCredential: (value: string, passphrase: Redacted.Redacted<string>) => Effect.Effect<string>
  readonly decryptCredential: (
    token: string,
    passphrase: Redacted.Redacted<string>,
    source?: string
  ) => Effect.Effect<string, WrongPassphrase | KeystoreError>
}>()("enigma/services/keys/Keys") {
  static readonly layer = Layer.succeed(Keys)(
    Keys.of({ create, open, openBytes, rotate, changePassphrase, addPassphrase, removePassphrase, encryptCredential, decryptCredential })
  )
}
