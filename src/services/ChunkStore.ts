import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { zstdCompress, zstdDecompress, constants as zlibConstants } from "node:zlib"
import { promisify } from "node:util"
import { Cause, Context, Deferred, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { IdKey } from "../domain/ChunkIdHash.ts"
import * as Envelope from "../domain/Envelope.ts"
import { ChunkCorrupt, keystoreChangedElsewhere } from "../domain/Errors.ts"
import { makePlacementRule } from "../domain/Placement.ts"
import { defaultRetry, type RetrySettings, retrySettingsOf, timeoutFor } from "../domain/Retry.ts"
import type { ChunkCodec } from "./ChunkCodec.ts"
import { EventLog, type ManifestError } from "./manifest/EventLog.ts"
import { Repository } from "./Repository.ts"
import { SqliteDatabase } from "./sql/NodeSqliteClient.ts"
import { freedTooEarly, holdAlone, isFreed, pinBuffers, releaseBuffers, spansWholeBuffer } from "./ReleaseBuffers.ts"
import { chunkId, inlineBelow, openEnvelope, OpenOnChunkWorkers } from "./ChunkThreads.ts"
import { openInPlace } from "./OpenInPlace.ts"
import { makeIdOf } from "./ChunkIdHashing.ts"
import { ProviderHealth } from "./ProviderHealth.ts"
import { Keys as ObjectKeys, StorageError, type PutObjectOptions, type StorageProvider } from "./storage/StorageProvider.ts"

const zstdCompressAsync = promisify(zstdCompress)
const sealSlice = 1024 * 1024
const zstdDecompressAsync = promisify(zstdDecompress)

/** Chunks could not be written: no provider accepted it after retries. */
export class ChunkWriteError extends Schema.TaggedError<ChunkWriteError>()("ChunkWriteError", {
  chunkId: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `could not store chunk ${this.chunkId}: ${this.detail}`
  }
}

export interface StoredChunk {
  readonly id: string
  readonly size: number
  /** False when the chunk was already in the repository (deduplicated). */
  readonly isNew: boolean
  readonly storedSize: number
}

/**
 * One stored copy as `inspectCopy` found it. `Bad`: missing, the wrong size, or (read) failing
 * authentication or its id. `Unreadable`: the provider did not answer, refused, or holds it in
 * cold storage, so it is not known to be bad. `Unconfigured`: its provider has left the config.
 */
export type CopyState =
  | { readonly _tag: "Intact" }
  | { readonly _tag: "Bad"; readonly detail: string }
  | { readonly _tag: "Unreadable"; readonly detail: string }
  | { readonly _tag: "Unconfigured" }

/**
 * Chunk copies as providers' listings showed them (ProviderMetadata.listedChunks): provider →
 * chunk id → stored size (undefined: the listing gave none). A provider not in it is asked by HEAD.
 */
export type ListedCopies = ReadonlyMap<string, ReadonlyMap<string, number | undefined>>

export interface ChunkRow {
  readonly id: string
  readonly size: number
  readonly storedSize: number
  readonly compressed: boolean
  readonly keyId: number
  readonly placement: ReadonlyArray<string>
  readonly format: "envelope" | "age" | "plain"
  readonly refcount: number
}

/**
 * Transient provider errors are retried with exponential backoff (capped) and jitter, as often
 * as `retry_attempts` says; others fail at once.
 */
export const providerRetryOf = (r: RetrySettings) =>
  Schedule.min([Schedule.exponential(Duration.millis(r.baseDelayMs)), Schedule.spaced(Duration.millis(r.maxDelayMs))]).pipe(
    Schedule.jittered,
    Schedule.upTo({ times: r.attempts }),
    Schedule.setInputType<StorageError>(),
    Schedule.while(({ input }) => input.isRetryable)
  )
export const providerRetry = providerRetryOf(defaultRetry)

/**
 * One provider call, bounded in time and retried: a provider that does not answer within the
 * call's allowance (`request_timeout` plus 1 s per MiB moved) is interrupted (S3 aborts the
 * request) and counts as a Transient failure naming the provider and key.
 */
export const guardedCall = <A>(
  r: RetrySettings,
  provider: string,
  operation: string,
  key: string,
  bytes: number,
  call: Effect.Effect<A, StorageError>,
  /** Told when an attempt is given up on: it may still be running, reading what it was given. */
  onAbandoned?: () => void
): Effect.Effect<A, StorageError> => {
  const ms = timeoutFor(r, bytes)
  return call.pipe(
    Effect.timeoutOrElse({
      duration: Duration.millis(ms),
      orElse: () =>
        Effect.andThen(Effect.sync(() => onAbandoned?.()), Effect.fail(new StorageError({
          provider,
          operation,
          key,
          reason: "Transient",
          detail: `no answer within ${ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`} (request_timeout)`
        })))
    }),
    Effect.retry(providerRetryOf(r))
  )
}

/**
 * What the running command reads (a backup id, a stream name), set by Restore and Pipe.get, so a
 * cold chunk's error names the exact `enigma thaw` to run.
 */
export const ReadTarget = Context.Reference<string | undefined>("enigma/services/ChunkStore/ReadTarget", {
  defaultValue: () => undefined
})

/** What a chunk read says when its copy sits in cold storage: the fix, not just the failure. */
const coldAdvice = (target: string | undefined) =>
  `run \`enigma thaw ${target === undefined ? "BACKUP_ID" : /[\s'"]/.test(target) ? JSON.stringify(target) : target}\`` +
  `${target === undefined ? " (or `enigma thaw STREAM`) for what you are reading" : ""}, wait until the thaw completes ` +
  "(minutes to hours, depending on the tier), then run this command again"

/**
 * The content-addressed chunk store: dedup, compression, encryption and placement.
 *
 * A chunk's id is HMAC-SHA256(chunk-id key, plaintext): providers never learn plaintext hashes.
 * `store` is idempotent and deduplicating — a chunk already stored, or being stored by another
 * fiber right now, is never uploaded again. A ChunkStored event is appended only after the
 * provider confirmed the write. `load` authenticates, decompresses and re-hashes: it either
 * returns exactly the bytes that were stored or fails with ChunkCorrupt naming the chunk.
 */
export class ChunkStore extends Context.Service<ChunkStore, {
  readonly idOf: (plain: Uint8Array) => Effect.Effect<string>
  /**
   * With a codec (age streams), the codec names and seals the chunk instead of the repository's
   * keys. `knownId`: the chunk's id (`idOf`, or the codec's) when the caller has it already (a
   * backup's cut worker and put's chunk workers hash the chunks they handle).
   */
  readonly store: (
    plain: Uint8Array,
    codec?: ChunkCodec,
    options?: PutObjectOptions,
    knownId?: string
  ) => Effect.Effect<StoredChunk, ChunkWriteError | ManifestError>
  /** Chunks stored through a codec are read through a codec of the same format. */
  readonly load: (id: string, codec?: ChunkCodec) => Effect.Effect<Uint8Array, ChunkCorrupt>
  /**
   * A chunk's object as stored (still sealed), from the first copy of the recorded size. Nothing
   * is authenticated: only `load` can tell a tampered copy.
   */
  readonly loadStored: (id: string) => Effect.Effect<{ readonly bytes: Uint8Array; readonly format: ChunkRow["format"] }, ChunkCorrupt>
  /** Checks presence (and with readData, integrity) of a chunk in every placement. */
  /**
   * Checks every copy of a chunk but those on `unreachable` providers (their check failed: not
   * looked at). Fails with the first bad copy; else whether any copy was checked at all.
   */
  readonly check: (id: string, readData: boolean, codec?: ChunkCodec, listed?: ListedCopies, unreachable?: ReadonlyMap<string, string>) => Effect.Effect<boolean, ChunkCorrupt>
  /**
   * The state of the copy on `provider`: present with its size, or with `readData` opened and
   * hashed to its id (a stream's age-encrypted chunk: present, as its identity is not here).
   */
  readonly inspectCopy: (id: string, provider: string, readData: boolean, codec?: ChunkCodec, listed?: ListedCopies) => Effect.Effect<CopyState>
  /** The copy on `provider` as stored, once it has opened and hashed to its id (an age chunk: its size checked). */
  readonly verifiedCopy: (id: string, provider: string, codec?: ChunkCodec) => Effect.Effect<Uint8Array, ChunkCorrupt>
  /** Writes `stored` (a chunk's bytes as stored, from `verifiedCopy`) as the chunk's object on `provider`. */
  readonly writeCopy: (id: string, provider: string, stored: Uint8Array) => Effect.Effect<void, StorageError>
  /** Providers not in `holding`, in the order the placement rule would choose them for a new copy. */
  readonly copyTargets: (holding: ReadonlySet<string>) => ReadonlyArray<string>
  /** How many copies each chunk should have: `copies`, at most the number of providers that take new chunks. */
  readonly copiesWanted: number
  /** Providers being retired (`drain = true`): read, never written a new copy. */
  readonly draining: ReadonlySet<string>
  readonly row: (id: string) => ChunkRow | undefined
  readonly remove: (ids: ReadonlyArray<string>) => Effect.Effect<void, StorageError | ManifestError>
}>()("enigma/services/ChunkStore") {
  static readonly layer = Layer.effect(ChunkStore)(Effect.gen(function*() {
    const repo = yield* Repository
    const log = yield* EventLog
    const { db } = yield* SqliteDatabase
    yield* SqlClient.SqlClient
    const { ring, settings } = repo
    const providers = new Map(repo.providers.map((p) => [p.name, p] as const))
    const compression = settings.enigma.compression
    const retry = retrySettingsOf(settings.enigma)
    const guarded = <A>(p: StorageProvider, operation: string, key: string, bytes: number, call: Effect.Effect<A, StorageError>, onAbandoned?: () => void) =>
      guardedCall(retry, p.name, operation, key, bytes, call, onAbandoned)
    // Providers whose calls just failed, retries and all: written and read after the others for a while.
    const health = new ProviderHealth()
    /** Notes how a call to `name` ended: only a failure that may pass makes it ailing. */
    const noteOutcome = <A>(name: string, call: Effect.Effect<A, StorageError>) =>
      call.pipe(
        Effect.tap(() => Effect.sync(() => health.succeeded(name))),
        Effect.tapError((e) => Effect.sync(() => e.isRetryable && health.failed(name)))
      )
    // Copies found in cold storage: read other copies first, and warn once per provider, not per chunk.
    const coldProviders = new Set<string>()
    const coldErrors = new WeakSet<ChunkCorrupt>()
    const fellBack = new Set<string>()

    const known = new Set<string>(
      (db.prepare("SELECT id FROM chunks").all() as Array<{ id: string }>).map((r) => r.id)
    )
    const inflight = new Map<string, Deferred.Deferred<StoredChunk, ChunkWriteError | ManifestError>>()
    const rowStmt = db.prepare(
      "SELECT id, size, stored_size, compressed, key_id, placement, format, refcount FROM chunks WHERE id = ?"
    )

    const idOf = makeIdOf(ring.chunkIdKey)

    const row = (id: string): ChunkRow | undefined => {
      const r = rowStmt.get(id) as
        | { id: string; size: number; stored_size: number; compressed: number; key_id: number; placement: string; format: string; refcount: number }
        | undefined
      if (!r) return undefined
      return {
        id: r.id,
        size: Number(r.size),
        storedSize: Number(r.stored_size),
        compressed: r.compressed === 1,
        keyId: Number(r.key_id),
        placement: JSON.parse(r.placement),
        format: r.format === "age" || r.format === "plain" ? r.format : "envelope",
        refcount: Number(r.refcount)
      }
    }

    // Placement: round-robin, or weighted round-robin (Placement.ts) over the providers that take
    // new chunks (not those being drained).
    const draining = new Set(settings.providers.filter((s) => s.drain === true).map((s) => s.name))
    const filling = repo.providers.filter((p) => !draining.has(p.name))
    const copies = Math.min(settings.enigma.copies ?? 1, filling.length)
    const placement = makePlacementRule(filling.map((p) => ({
      provider: p,
      weight: settings.enigma.distribution === "Weighted"
        ? (settings.providers.find((s) => s.name === p.name)?.weight ?? 1)
        : 1
    })), copies)
    const nextRanking = placement.next
    const nextPlacement = (): Array<StorageProvider> => nextRanking().slice(0, copies)
    const copyTargets = (holding: ReadonlySet<string>) => nextRanking().map((p) => p.name).filter((n) => !holding.has(n))

    // Only when every provider would write them as they are: one that joins parts (an S3 PUT
    // needs one body) would hold the parts and the joined copy at once.
    const sealAsParts = repo.providers.every((p) => p.writesParts === true)

    const seal = (id: string, plain: Uint8Array) =>
      Effect.gen(function*() {
        let body = plain
        let flags = 0
        if (compression.enabled) {
          const packed = yield* Effect.promise(() =>
            zstdCompressAsync(plain, {
              params: { [zlibConstants.ZSTD_c_compressionLevel]: compression.level }
            })
          )
          if (packed.length < plain.length) {
            body = packed
            flags |= Envelope.FLAG_COMPRESSED
          }
        }
        const keyId = ring.currentKeyId
        const nonce = randomBytes(12)
        const cipher = createCipheriv("aes-256-gcm", ring.dataKey(keyId)!, nonce)
        cipher.setAAD(Envelope.chunkAad(Buffer.from(id, "hex"), flags))
        const storedSize = Envelope.headerLength + body.length + Envelope.tagLength
        // Encrypted 1 MiB at a time, each piece added as it comes. For providers that write parts,
        // the pieces are the envelope. Otherwise they are copied into one buffer as they come
        // (GCM's ciphertext is as long as the plaintext): a provider that needs a single body (an
        // S3 PUT) takes it as is, with no second, joined copy alive during the upload, and each
        // short-lived piece comes from memory the allocator recycles.
        const parts: Array<Uint8Array> = []
        const single = sealAsParts ? undefined : Buffer.allocUnsafeSlow(storedSize)
        let at = 0
        const add = (piece: Uint8Array) => {
          const n = piece.length
          if (single) {
            single.set(piece, at)
            releaseBuffers([piece]) // cipher output, copied: spent
          } else {
            parts.push(piece)
          }
          at += n
        }
        add(Envelope.encodeHeader(flags, keyId, nonce))
        for (let i = 0; i < body.length; i += sealSlice) add(cipher.update(body.subarray(i, i + sealSlice)))
        add(cipher.final())
        add(cipher.getAuthTag())
        // The compressed copy is ours and now spent; `plain` belongs to the caller.
        if (body !== plain) releaseBuffers([body])
        if (at !== storedSize) return yield* Effect.die(new Error(`envelope length ${at}, expected ${storedSize}`))
        return { envelope: (single ? [single] : parts) as ReadonlyArray<Uint8Array>, storedSize, flags, keyId }
      })

    const sealWith = (id: string, plain: Uint8Array, codec: ChunkCodec | undefined) =>
      codec === undefined
        ? seal(id, plain)
        : Effect.map(codec.seal(plain), (body) => ({ envelope: [body] as ReadonlyArray<Uint8Array>, storedSize: body.length, flags: 0, keyId: 0 }))

    const upload = (id: string, plain: Uint8Array, codec: ChunkCodec | undefined, options: PutObjectOptions | undefined) =>
      Effect.gen(function*() {
        const { envelope, storedSize, flags, keyId } = yield* sealWith(id, plain, codec)
        const targets = nextPlacement()
        const placed: Array<string> = []
        const errors: Array<string> = []
        // Try the chosen providers first, then the others, until `copies` accepted the chunk; those
        // failing a moment ago come last (ProviderHealth).
        const candidates = health.healthyFirst([...targets, ...filling.filter((p) => !targets.includes(p))], (p) => p.name)
        for (const p of candidates) {
          if (placed.length >= copies) break
          const key = ObjectKeys.chunk(id)
          // An abandoned attempt may go on reading the envelope (and, stored as is, the caller's
          // plaintext): never freed early then.
          const r = yield* Effect.exit(noteOutcome(p.name, guarded(p, "put", key, storedSize, p.put(key, envelope, options), () => pinBuffers(envelope))))
          if (r._tag === "Success") placed.push(p.name)
          else {
            const e = Cause.squash(r.cause)
            errors.push(e instanceof Error ? e.message : String(e))
          }
        }
        // Every provider has returned: nothing reads the sealed pieces again.
        if (codec === undefined) releaseBuffers(envelope)
        if (placed.length < copies) {
          return yield* new ChunkWriteError({
            chunkId: id,
            detail: `only ${placed.length} of ${copies} copies written: ${errors.join("; ")}`
          })
        }
        // Recorded, not awaited: the command's final append makes it durable (a crash before
        // that leaves an unrecorded object, which gc removes as an orphan).
        yield* log.record([{
          _tag: "ChunkStored",
          id,
          size: plain.length,
          storedSize,
          compressed: (flags & Envelope.FLAG_COMPRESSED) !== 0,
          keyId,
          placement: placed,
          ...(codec ? { format: codec.format } : {})
        }])
        known.add(id)
        return { id, size: plain.length, isNew: true, storedSize }
      })

    const store = Effect.fnUntraced(function*(plain: Uint8Array, codec?: ChunkCodec, options?: PutObjectOptions, knownId?: string) {
      if (isFreed(plain)) return yield* Effect.die(freedTooEarly("a chunk to store"))
      const id = knownId ?? (yield* (codec ? codec.idOf(plain) : idOf(plain)))
      if (known.has(id)) return { id, size: plain.length, isNew: false, storedSize: 0 }
      const pending = inflight.get(id)
      if (pending) {
        const r = yield* Deferred.await(pending)
        return { ...r, isNew: false, storedSize: 0 }
      }
      const done = yield* Deferred.make<StoredChunk, ChunkWriteError | ManifestError>()
      inflight.set(id, done)
      const result = yield* Effect.exit(upload(id, plain, codec, options))
      inflight.delete(id)
      yield* Deferred.done(done, result)
      return yield* result
    })

    const corrupt = (id: string, provider: string, detail: string, unreadable = false) =>
      new ChunkCorrupt({ chunkId: id, provider, detail, ...(unreadable ? { unreadable } : {}) })

    /** Downloads one copy as stored; any failure names the provider. */
    const fetchCopy = (id: string, providerName: string, r: ChunkRow) =>
      Effect.gen(function*() {
        const target = yield* ReadTarget
        const p = providers.get(providerName)
        if (!p) return yield* corrupt(id, providerName, "provider is not in the config", true)
        const objectKey = ObjectKeys.chunk(id)
        return yield* noteOutcome(providerName, guarded(p, "get", objectKey, r.storedSize, p.get(objectKey))).pipe(
          Effect.mapError((e) => {
            if (e.reason !== "Cold") return e.reason === "NotFound" ? corrupt(id, providerName, "missing") : corrupt(id, providerName, e.detail, true)
            const c = corrupt(id, providerName, `${e.detail}; ${coldAdvice(target)}`, true)
            coldErrors.add(c)
            return c
          })
        )
      })

    /**
     * `plain` (ours outright) if it is the chunk `id` names: its size and its keyed hash match.
     * Hashed on a chunk worker, where `plain`'s buffer travels: use the bytes returned.
     */
    const matching = (plain: Uint8Array, id: string, idKey: IdKey, providerName: string, r: ChunkRow) =>
      Effect.gen(function*() {
        const fail = corrupt(id, providerName, "content does not match its id")
        if (plain.length !== r.size) return yield* fail
        const hashed = yield* chunkId(plain, idKey, true)
        if (hashed.id !== id) return yield* fail
        return hashed.data
      })

    /** Downloads and opens one copy; any failure names the provider. */
    const openCopy = (id: string, providerName: string, r: ChunkRow, codec: ChunkCodec | undefined) =>
      Effect.gen(function*() {
        if (r.format !== "envelope" && codec?.format !== r.format) {
          return yield* corrupt(id, providerName, `stored as ${r.format}; reading it needs the ${r.format} identity`)
        }
        return yield* openFetched(id, providerName, r, codec, yield* fetchCopy(id, providerName, r))
      })

    /** Opens a copy's stored `bytes` (ours: spent by the opening) and checks it is the chunk. */
    const openFetched = (id: string, providerName: string, r: ChunkRow, codec: ChunkCodec | undefined, bytes: Uint8Array) =>
      Effect.gen(function*() {
        if (r.format !== "envelope") {
          if (!codec?.open) return yield* corrupt(id, providerName, `stored as ${r.format}; reading it needs the ${r.format} identity`)
          const opened = yield* codec.open(bytes).pipe(Effect.mapError((detail) => corrupt(id, providerName, detail)))
          return yield* matching(opened, id, codec.idKey, providerName, r)
        }
        const header = Envelope.decodeHeader(bytes)
        if (typeof header === "string") return yield* corrupt(id, providerName, header)
        const key = ring.dataKey(header.keyId)
        // Not damage: a key this keyfile lacks (another machine rotated, and this keyfile is behind
        // the providers' keystore). Unreadable, so a restore stops rather than leave files out
        // and repair never takes the copy for a bad one.
        if (!key) {
          return yield* corrupt(id, providerName, `encrypted under key ${header.keyId}, which this keyfile lacks; ${keystoreChangedElsewhere(settings.enigma.keyfile_path)}`, true)
        }
        const compressed = (header.flags & Envelope.FLAG_COMPRESSED) !== 0
        const aad = Envelope.chunkAad(Buffer.from(id, "hex"), header.flags)
        const authFailed = corrupt(id, providerName, "authentication failed (tampered or damaged)")
        let plainOrCompressed: Uint8Array
        if (bytes.length >= inlineBelow && (yield* OpenOnChunkWorkers)) {
          // On a chunk worker, which also checks the id of what an uncompressed chunk held
          // (ChunkThreads). The provider's buffer is ours (StorageProvider.get): it travels there.
          const opened = yield* openEnvelope(bytes, true, {
            dataKey: key,
            nonce: header.nonce,
            aad,
            headerLength: Envelope.headerLength,
            idKey: compressed ? undefined : ring.chunkIdKey
          })
          if (opened === undefined) return yield* authFailed
          if (!compressed) {
            if (opened.plain.length !== r.size || opened.id !== id) return yield* corrupt(id, providerName, "content does not match its id")
            return opened.plain
          }
          plainOrCompressed = opened.plain
        } else {
          // In place (OpenInPlace): the provider's buffer is ours (StorageProvider.get), and the
          // plaintext is its sole view from here on. Only a buffer the bytes span is marked so:
          // a small body may be a slice of Node's shared pool, whose other views are not ours.
          const opened = yield* Effect.try({
            try: () => openInPlace({ createDecipheriv }, key, header.nonce, aad, bytes, Envelope.headerLength),
            catch: () => authFailed
          })
          plainOrCompressed = spansWholeBuffer(bytes) ? holdAlone(opened) : opened
        }
        const plain: Uint8Array = compressed
          ? yield* Effect.tryPromise({
            try: () => zstdDecompressAsync(plainOrCompressed),
            catch: () => corrupt(id, providerName, "decompression failed")
          }).pipe(Effect.tap(() => Effect.sync(() => releaseBuffers([plainOrCompressed]))))
          : plainOrCompressed
        return yield* matching(plain, id, ring.chunkIdKey, providerName, r)
      })

    const load = Effect.fn("ChunkStore.load")(function*(id: string, codec?: ChunkCodec) {
      const r = row(id)
      if (!r) return yield* corrupt(id, "-", "not in the manifest (deleted by gc?)")
      let last: ChunkCorrupt | undefined
      let cold: ChunkCorrupt | undefined
      let unreadable: ChunkCorrupt | undefined
      const reachableFirst = health.healthyFirst(r.placement, (n) => n)
      const placement = coldProviders.size === 0
        ? reachableFirst
        : [...reachableFirst.filter((n) => !coldProviders.has(n)), ...reachableFirst.filter((n) => coldProviders.has(n))]
      for (const name of placement) {
        const res = yield* Effect.exit(openCopy(id, name, r, codec))
        if (res._tag === "Success") {
          // Once per chunk: a restore reads a shared chunk once for every small file in it.
          const failedBefore = last ?? unreadable
          if (failedBefore && !fellBack.has(id)) {
            fellBack.add(id)
            yield* Effect.logWarning(`${failedBefore.message}; read it from ${name} instead`)
          }
          return res.value
        }
        const err = res.cause.reasons.find((x) => x._tag === "Fail")
        const e = err && err._tag === "Fail" ? err.error : corrupt(id, name, String(res.cause))
        if (coldErrors.has(e)) {
          if (!coldProviders.has(name)) {
            coldProviders.add(name)
            if (r.placement.length > 1) {
              yield* Effect.logWarning(`provider ${name} holds chunks in cold storage; reading their other copies instead`)
            }
          }
          cold = e
        } else if (e.unreadable === true) {
          unreadable = e
        } else {
          last = e
        }
      }
      // A thaw fixes a cold copy: that is the error worth showing. A copy that could not be read
      // may yet be intact: the chunk is not known to be damaged while one remains.
      return yield* (cold ?? unreadable ?? last ?? corrupt(id, "-", "no placement recorded"))
    })

    const loadStored = Effect.fn("ChunkStore.loadStored")(function*(id: string) {
      const r = row(id)
      if (!r) return yield* corrupt(id, "-", "not in the manifest (deleted by gc?)")
      let last: ChunkCorrupt | undefined
      for (const name of health.healthyFirst(r.placement, (n) => n)) {
        const res = yield* Effect.result(fetchCopy(id, name, r))
        if (res._tag === "Failure") {
          last = res.failure
          continue
        }
        if (res.success.length === r.storedSize) return { bytes: res.success, format: r.format }
        last = corrupt(id, name, `size ${res.success.length}, expected ${r.storedSize}`)
      }
      return yield* (last ?? corrupt(id, "-", "no placement recorded"))
    })

    const check = Effect.fn("ChunkStore.check")(function*(id: string, readData: boolean, codec?: ChunkCodec, listed?: ListedCopies, unreachable?: ReadonlyMap<string, string>) {
      const r = row(id)
      if (!r) return yield* corrupt(id, "-", "not in the manifest")
      const reachable = unreachable === undefined ? r.placement : r.placement.filter((name) => !unreachable.has(name))
      for (const name of reachable) {
        if (readData) {
          releaseBuffers([yield* openCopy(id, name, r, codec)])
          continue
        }
        const state = yield* presence(id, name, r, listed)
        if (state._tag !== "Intact") return yield* corrupt(id, name, state._tag === "Unconfigured" ? "provider is not in the config" : state.detail)
      }
      return reachable.length > 0
    })

    /** Whether the copy on `name` is there with its stored size: from a listing of the provider, else a HEAD. */
    const presence = (id: string, name: string, r: ChunkRow, listed: ListedCopies | undefined) =>
      Effect.gen(function*() {
        const p = providers.get(name)
        if (!p) return { _tag: "Unconfigured" } as const
        const inListing = listed?.get(name)
        // Absent from a listing: missing. Listed without a size: asked by HEAD.
        let size = inListing === undefined ? undefined : inListing.has(id) ? inListing.get(id) : -1
        if (size === undefined) {
          const key = ObjectKeys.chunk(id)
          const headed = yield* Effect.result(guarded(p, "head", key, 0, p.head(key)))
          if (headed._tag === "Failure") return { _tag: "Unreadable", detail: headed.failure.detail } as const
          size = headed.success ?? -1
        }
        if (size === -1) return { _tag: "Bad", detail: "missing" } as const
        if (size !== r.storedSize) return { _tag: "Bad", detail: `size ${size}, expected ${r.storedSize}` } as const
        return { _tag: "Intact" } as const
      })

    const inspectCopy = Effect.fn("ChunkStore.inspectCopy")(function*(id: string, name: string, readData: boolean, codec?: ChunkCodec, listed?: ListedCopies) {
      const r = row(id)
      if (!r) return { _tag: "Bad", detail: "not in the manifest" } satisfies CopyState
      if (!providers.has(name)) return { _tag: "Unconfigured" } satisfies CopyState
      if (!readData || (r.format !== "envelope" && codec?.format !== r.format)) return yield* presence(id, name, r, listed)
      const opened = yield* Effect.result(openCopy(id, name, r, codec))
      if (opened._tag === "Success") {
        releaseBuffers([opened.success])
        return { _tag: "Intact" } satisfies CopyState
      }
      return { _tag: opened.failure.unreadable === true ? "Unreadable" : "Bad", detail: opened.failure.detail } satisfies CopyState
    })

    const verifiedCopy = Effect.fn("ChunkStore.verifiedCopy")(function*(id: string, name: string, codec?: ChunkCodec) {
      const r = row(id)
      if (!r) return yield* corrupt(id, name, "not in the manifest")
      const bytes = yield* fetchCopy(id, name, r)
      if (bytes.length !== r.storedSize) return yield* corrupt(id, name, `size ${bytes.length}, expected ${r.storedSize}`)
      // Opened from a copy of the bytes (the opening spends what it is given); kept as stored.
      if (r.format === "envelope" || codec?.format === r.format) releaseBuffers([yield* openFetched(id, name, r, codec, Uint8Array.from(bytes))])
      return bytes
    })

    const writeCopy = (id: string, name: string, stored: Uint8Array) => {
      const p = providers.get(name)
      const key = ObjectKeys.chunk(id)
      if (!p) return Effect.fail(new StorageError({ provider: name, operation: "put", key, reason: "Fatal", detail: "provider is not in the config" }))
      return guarded(p, "put", key, stored.length, p.put(key, stored))
    }

    /**
     * Forget first, then delete: once the ChunkDeleted events are durable no backup can dedup
     * against these chunks, so a crash between the two leaves only orphan objects (gc removes
     * them), never a recorded chunk whose bytes are gone. One append for the whole batch.
     */
    const remove = Effect.fn("ChunkStore.remove")(function*(ids: ReadonlyArray<string>) {
      const rows = ids.map((id) => ({ id, row: row(id) }))
      for (const id of ids) known.delete(id)
      const recorded = rows.filter((r) => r.row !== undefined)
      if (recorded.length > 0) yield* log.append(recorded.map((r) => ({ _tag: "ChunkDeleted" as const, id: r.id })))
      yield* Effect.forEach(rows, ({ id, row: r }) =>
        Effect.forEach(r?.placement ?? repo.providers.map((p) => p.name), (name) => {
          const p = providers.get(name)
          const key = ObjectKeys.chunk(id)
          return p ? guarded(p, "delete", key, 0, p.delete(key)) : Effect.void
        }, { discard: true }), { concurrency: 8, discard: true })
    })

    return ChunkStore.of({ idOf, store, load, loadStored, check, inspectCopy, verifiedCopy, writeCopy, copyTargets, copiesWanted: copies, draining, row, remove })
  }))
}
