import { hostname } from "node:os"
import { createHash, randomBytes } from "node:crypto"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { gearFromSeed, isChunkerCopy, makeChunker, type ChunkStrategy } from "../../domain/Chunker.ts"
import { type ChunkCorrupt, NotFound, UserError } from "../../domain/Errors.ts"
import { chunkStrategyOf } from "../../domain/Settings.ts"
import { ChunkStore, type ChunkWriteError, ReadTarget } from "../ChunkStore.ts"
import { EventLog, type ManifestError } from "../manifest/EventLog.ts"
import { Manifest, type StreamChunkRow, type StreamRow } from "../manifest/Manifest.ts"
import { Repository } from "../Repository.ts"
import { type Unchecked, uncheckedOf, unreachableProviders } from "../maintenance/ProviderMetadata.ts"
import { makePlainCodec } from "../ChunkCodec.ts"
import { chunkDigests, streamDigests, warmChunkWorkers } from "../ChunkThreads.ts"
import { makeAgeCodec, recipientsOf } from "./AgeCodec.ts"
import { makeSpillBuffer, type ScratchError } from "./SpillBuffer.ts"
import { releaseBuffers, spansWholeBuffer } from "../ReleaseBuffers.ts"
import { SourceBlocks } from "../SourceBlocks.ts"
import { OffThreadWrites, stagingsForPut } from "../storage/LocalIoThreads.ts"
import { makeGarbagePacer } from "../GarbagePacer.ts"
import { progressTeller, type VerifyProgress } from "../VerifyProgress.ts"
import { exportStored } from "./StoredExport.ts"
import { digestMismatch, genesisLink, nextLink, type ChunkDigest } from "./StreamChain.ts"

/** Reading the input (stdin) failed. */
export class PipeInputError extends Schema.TaggedError<PipeInputError>()("PipeInputError", { detail: Schema.String }) {
  override get message() {
    return `reading the input failed: ${this.detail}`
  }
}

/** A stored stream failed verification: a chunk is missing, altered, out of order, or the log was changed. */
export class StreamIntegrityError extends Schema.TaggedError<StreamIntegrityError>()("StreamIntegrityError", {
  name: Schema.String,
  index: Schema.Number,
  chunkId: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `stream ${this.name}: chunk ${this.index}${this.chunkId ? ` (${this.chunkId})` : ""}: ${this.detail}`
  }
}

/** A resumed put whose input is not the input of the interrupted one. */
export class ResumeMismatch extends Schema.TaggedError<ResumeMismatch>()("ResumeMismatch", { detail: Schema.String }) {
  override get message() {
    return this.detail
  }
}

export interface PutOptions {
  readonly name: string
  /** Undefined: the repository's chunking (or, when resuming, the interrupted put's). */
  readonly chunking?: ChunkStrategy | undefined
  readonly tags?: ReadonlyArray<readonly [string, string]>
  /**
   * Encrypt the chunks to these age recipients (age1…, age1pq1…) instead of the repository's
   * keys. A resumed put keeps the interrupted one's recipients.
   */
  readonly ageRecipients?: ReadonlyArray<string> | undefined
  /** S3 storage class for this stream's new chunks (chunks already stored keep theirs). */
  readonly storageClass?: string | undefined
  /** Store the chunks in the clear (`--no-encrypt`, for s3duct parity). */
  readonly unencrypted?: boolean
  /** A shorter input than the interrupted put's log is an error (default) or is stored as is. */
  readonly strictResume?: boolean
  /** Chunks waiting in memory for an upload slot (default: `defaultBufferChunks`). */
  readonly bufferChunks?: number | undefined
  /** Bytes of chunks that may wait in the scratch directory once the memory buffer is full (default 0). */
  readonly diskspaceLimit?: number | undefined
  /** Where chunks spill to (default: the system temp dir). */
  readonly scratchDir?: string | undefined
  readonly onProgress?: (p: { readonly bytes: number; readonly chunks: number }) => void
  /**
   * The input's blocks are nobody else's: the put frees each once its bytes are stored (see
   * ReleaseBuffers), instead of leaving them to the garbage collector. The CLI's stdin reader
   * makes a fresh buffer per block; a script that keeps its blocks leaves this off.
   */
  readonly freeInput?: boolean
  /** Told once, before reading, when an interrupted put of this name is resumed. */
  readonly onResume?: (p: { readonly chunks: number; readonly bytes: number }) => void
}

export interface PutResult {
  readonly streamId: string
  readonly name: string
  readonly bytes: number
  readonly chunks: number
  /** Chunks uploaded by this run. */
  readonly uploadedChunks: number
  readonly uploadedBytes: number
  readonly storedBytes: number
  /** Chunks the repository already held (from other streams, backups or earlier in this one). */
  readonly dedupChunks: number
  /** Chunks checked against the interrupted put's log instead of uploaded. */
  readonly resumedChunks: number
  readonly durationMs: number
  readonly chain: string
}

export interface ReadOptions {
  /** age identities (AGE-SECRET-KEY-…) for streams encrypted to age recipients. */
  readonly ageIdentities?: ReadonlyArray<string> | undefined
}

export interface GetResult {
  readonly streamId: string
  readonly name: string
  readonly bytes: number
  readonly chunks: number
  readonly durationMs: number
}

export interface StreamVerifyReport extends Unchecked {
  readonly name: string
  readonly streamId: string
  readonly chunks: number
  readonly readData: boolean
  readonly bad: ReadonlyArray<{ readonly index: number; readonly chunk: string; readonly provider: string; readonly problem: string }>
}

const chunkingLabel = (s: ChunkStrategy) => (s._tag === "Cdc" ? `cdc:${s.targetSize}` : `fixed:${s.size}`)
const parseChunking = (label: string): ChunkStrategy | undefined => {
  const m = /^(cdc|fixed):(\d+)$/.exec(label)
  if (!m) return undefined
  return m[1] === "cdc" ? { _tag: "Cdc", targetSize: Number(m[2]) } : { _tag: "Fixed", size: Number(m[2]) }
}
const describeChunking = (s: ChunkStrategy) =>
  s._tag === "Cdc" ? `content-defined (target ${s.targetSize} bytes)` : `fixed ${s.size}-byte chunks`

/** Stream names: what a user types after `put`; no control characters, no leading dash. */
export const checkStreamName = (name: string): string | undefined =>
  name.length === 0 || name.length > 255
    ? "a stream name must be 1 to 255 characters long"
    : /[\u0000-\u001f\u007f]/.test(name)
    ? "a stream name must not contain control characters"
    : name.startsWith("-")
    ? "a stream name must not start with \"-\""
    : undefined

/**
 * Reads of a stream overlap with writing its output: this many chunks are fetched, opened and
 * hashed ahead. Three, not four: a `get` from S3 (s3rver) peaked at 246–256 MB with four against
 * its 256 MB target, 230–235 MB with three, in the same time (a `get` from Local: ~0.2 s more
 * per GiB).
 */
const readAhead = 3

/**
 * Chunks a put lets wait in memory for an upload slot unless told (`--buffer-chunks`), besides the
 * `upload_concurrency` ones being hashed and stored: the low end of s3duct's automatic 2–10. More
 * did not make a put to Local any faster (1 GiB: 2.65–2.76 s with 2, 2.66–2.83 s with 4) and cost
 * ~4–5 MB a chunk; a slow or jittery provider is what `--buffer-chunks` and `--diskspace-limit`
 * are for.
 */
export const defaultBufferChunks = 2

/**
 * Pipe mode: named streams of unknown length (`pg_dump db | enigma put db`), stored through the
 * same chunk store as backups, so they deduplicate against each other and against backups.
 *
 * Invariants: a stream is listed as complete only after StreamCommitted; an interrupted put
 * leaves a resumable stream whose logged chunks are kept by gc; `get` writes a chunk's bytes
 * only after its digests and chain link verified, and fails (never writes wrong bytes) otherwise.
 * Callers that put or forget must hold the repository lock.
 */
export class Pipe extends Context.Service<Pipe, {
  readonly put: <E>(
    input: Stream.Stream<Uint8Array, E>,
    options: PutOptions
  ) => Effect.Effect<PutResult, E | UserError | ResumeMismatch | ChunkWriteError | ManifestError | ScratchError>
  readonly get: <E>(
    name: string,
    write: (bytes: Uint8Array) => Effect.Effect<void, E>,
    options?: ReadOptions
  ) => Effect.Effect<GetResult, E | NotFound | UserError | StreamIntegrityError>
  /** `get --no-decrypt`: the chunk objects as stored, in a tar archive (see StoredExport). */
  readonly getStored: <E>(
    name: string,
    write: (bytes: Uint8Array) => Effect.Effect<void, E>
  ) => Effect.Effect<GetResult, E | NotFound | UserError | StreamIntegrityError>
  /** `onProgress`: told after each chunk is checked (checked, of all, bad so far), for a progress line. */
  readonly verify: (
    name: string,
    readData: boolean,
    options?: ReadOptions & { readonly onProgress?: VerifyProgress }
  ) => Effect.Effect<StreamVerifyReport, NotFound | UserError>
  readonly forget: (names: ReadonlyArray<string>, dryRun: boolean) => Effect.Effect<ReadonlyArray<StreamRow>, NotFound | ManifestError>
}>()("enigma/services/pipe/Pipe") {
  static readonly layer = Layer.effect(Pipe)(Effect.gen(function*() {
    const repo = yield* Repository
    const chunks = yield* ChunkStore
    const log = yield* EventLog
    const manifest = yield* Manifest
    const gear = gearFromSeed(repo.ring.gearSeed)
    const uploadConcurrency = repo.settings.enigma.upload_concurrency ?? 4

    const put = Effect.fn("Pipe.put")(function*<E>(input: Stream.Stream<Uint8Array, E>, options: PutOptions) {
      const startedAt = Date.now()
      const { name } = options
      const badName = checkStreamName(name)
      if (badName) {
        // A name of thousands of characters would fill the screen: its start and its length say enough.
        const shown = name.length > 80 ? `${JSON.stringify(name.slice(0, 60))}… (${name.length} characters)` : JSON.stringify(name)
        return yield* new UserError({ detail: `${badName}: ${shown}` })
      }
      const existing = yield* manifest.streamNamed(name)
      if (existing?.status === "committed") {
        return yield* new UserError({
          detail: `stream ${name} already exists (${existing.bytes} bytes, stored ${new Date(existing.committedAt ?? existing.startedAt).toISOString()}); choose another name, or run \`enigma forget ${name}\` first`
        })
      }

      // An interrupted put of this name: resume it, cutting the input exactly as it did.
      let streamId: string
      let strategy: ChunkStrategy
      let logged: ReadonlyArray<StreamChunkRow> = []
      let storageClass = options.storageClass
      let recipients = options.ageRecipients !== undefined && options.ageRecipients.length > 0 ? [...options.ageRecipients] : undefined
      if (existing) {
        const same = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
          JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...(b ?? [])].sort())
        const was = existing.unencrypted ? "stored it unencrypted" : existing.ageRecipients ? "encrypted it to other age recipients" : "encrypted it with the repository's keys"
        if ((recipients !== undefined && !same(recipients, existing.ageRecipients)) || (options.unencrypted === true) !== existing.unencrypted) {
          return yield* new UserError({
            detail: `the interrupted put of ${name} ${was}; resume it with the same encryption options, or \`enigma forget ${name}\` to start over`
          })
        }
        recipients = existing.ageRecipients ? [...existing.ageRecipients] : undefined
        if (options.storageClass !== undefined && options.storageClass !== existing.storageClass) {
          return yield* new UserError({
            detail: `the interrupted put of ${name} used ${existing.storageClass ? `storage class ${existing.storageClass}` : "the providers' storage class"}; resume it with the same --storage-class (or none), or \`enigma forget ${name}\``
          })
        }
        storageClass = existing.storageClass
        const previous = parseChunking(existing.chunking)
        if (!previous) return yield* new UserError({ detail: `stream ${name}: unknown chunking ${existing.chunking} in the log` })
        if (options.chunking && chunkingLabel(options.chunking) !== existing.chunking) {
          return yield* new UserError({
            detail: `the interrupted put of ${name} used ${describeChunking(previous)}; resume it with the same --chunk-size (or none), or \`enigma forget ${name}\` to start over`
          })
        }
        streamId = existing.id
        strategy = previous
        logged = yield* manifest.streamChunks(existing.id)
        options.onResume?.({ chunks: logged.length, bytes: logged.reduce((a, c) => a + c.size, 0) })
      } else {
        streamId = randomBytes(8).toString("hex")
        strategy = options.chunking ?? chunkStrategyOf(repo.settings)
        yield* log.append([{
          _tag: "StreamStarted",
          streamId,
          name,
          at: startedAt,
          host: hostname(),
          chunking: chunkingLabel(strategy),
          tags: (options.tags ?? []).map(([k, v]) => [k, v] as const),
          ...(recipients ? { encryption: { age: recipients } } : options.unencrypted ? { encryption: { none: true as const } } : {}),
          ...(storageClass ? { storageClass } : {})
        }])
      }
      const codec = recipients
        ? makeAgeCodec(repo.ring.chunkIdKey, recipients)
        : options.unencrypted
        ? makePlainCodec(repo.ring.chunkIdKey)
        : undefined

      let index = 0
      // With `freeInput`, input blocks are freed as soon as the pieces of their bytes are done
      // (SourceBlocks); chunker copies always are. Only blocks spanning their whole buffer may
      // be freed: a view of part of a buffer may have siblings.
      const sources = new SourceBlocks(makeChunker(strategy, gear))
      const cut = (blocks: ReadonlyArray<Uint8Array>) => blocks.map((data) => ({ data, index: index++ }))
      const pieces = input.pipe(
        Stream.flatMap((block) => Stream.fromIterable(cut(sources.push(block, options.freeInput === true && spansWholeBuffer(block))))),
        Stream.concat(Stream.suspend(() => Stream.fromIterable(cut(sources.finish())))),
        Stream.filter((p) => p.data.length > 0)
      )

      const stats = { bytes: 0, chunks: 0, uploadedChunks: 0, uploadedBytes: 0, storedBytes: 0, dedupChunks: 0, resumedChunks: 0 }
      let link = genesisLink(repo.ring.streamKey, streamId)
      // With `freeInput` every chunk-sized buffer of this put is freed by its owner, so a GC is
      // worth running only once buffers pile up (GarbagePacer.ts); a script's blocks are the
      // collector's to free.
      const pace = makeGarbagePacer(options.freeInput === true ? { buffersBytes: 96e6 } : {})
      const offsetOf = (i: number) => logged.slice(0, i).reduce((a, c) => a + c.size, 0)

      interface Piece {
        readonly index: number
        readonly digest: ChunkDigest
        readonly chunkId: string
        /** Checked against the resume log, not uploaded. */
        readonly resumed: boolean
        /** Shorter than the logged chunk at its index: fine only as the input's last piece. */
        readonly short: boolean
        /** How it differs from the logged chunk at its index (reported in order, by `consume`). */
        readonly mismatch?: string
        readonly isNew: boolean
        readonly storedSize: number
      }
      const differs = (index: number, why: string) =>
        new ResumeMismatch({
          detail: `the input differs from the interrupted put of ${name} at chunk ${index} (byte ${offsetOf(index)}): ${why}; give the same input to resume, or run \`enigma forget ${name}\` to start over`
        })

      const idKey = codec?.idKey ?? repo.ring.chunkIdKey
      warmChunkWorkers()
      /** `own`: the piece's buffer is this put's alone (a chunker copy, or read back from the scratch dir). */
      const processPiece = ({ data: given, index, own }: { data: Uint8Array; index: number; own: boolean }) =>
        Effect.gen(function*() {
          // The id and digests on a worker, where the piece's buffer travels (ChunkThreads):
          // from here on its bytes are in `data`.
          const hashed = yield* chunkDigests(given, idKey, own)
          const data = hashed.data
          const digest: ChunkDigest = { size: data.length, sha256: hashed.sha256, sha3: hashed.sha3 }
          const done = <A>(piece: A) => {
            if (hashed.fresh) releaseBuffers([data])
            return piece
          }
          const before = logged[index]
          let short = false
          if (before !== undefined) {
            const mismatch = digestMismatch(before, digest)
            // A truncated input ends in a piece cut short of the logged chunk; whether it is the
            // last piece is known only when the input ends.
            // Pieces are hashed concurrently: the first difference in input order is reported by consume.
            if (mismatch !== undefined && digest.size >= before.size) {
              return done({ index, digest, chunkId: "", resumed: false, short: false, mismatch, isNew: false, storedSize: 0 } satisfies Piece)
            }
            short = mismatch !== undefined
            // Logged chunks are referenced, so gc kept them; store again only if one went missing.
            if (!short && chunks.row(before.chunkId) !== undefined) {
              return done({ index, digest, chunkId: before.chunkId, resumed: true, short, isNew: false, storedSize: 0 } satisfies Piece)
            }
          }
          const stored = yield* chunks.store(data, codec, storageClass ? { storageClass } : undefined, hashed.id)
          return done({ index, digest, chunkId: stored.id, resumed: false, short, isNew: stored.isNew, storedSize: stored.storedSize } satisfies Piece)
        })

      const append = (r: Piece) =>
        Effect.gen(function*() {
          link = nextLink(link, r.index, r.digest)
          yield* log.record([{
            _tag: "StreamChunkAppended",
            streamId,
            index: r.index,
            chunkId: r.chunkId,
            size: r.digest.size,
            sha256: r.digest.sha256,
            sha3: r.digest.sha3,
            chain: link
          }])
          if (r.isNew) {
            stats.uploadedChunks++
            stats.uploadedBytes += r.digest.size
            stats.storedBytes += r.storedSize
          } else {
            stats.dedupChunks++
          }
          stats.bytes += r.digest.size
          stats.chunks++
        })

      let shortPiece: Piece | undefined
      const consume = (r: Piece) =>
        Effect.gen(function*() {
          if (shortPiece !== undefined) return yield* differs(shortPiece.index, digestMismatch(logged[shortPiece.index]!, shortPiece.digest)!)
          if (r.mismatch !== undefined) return yield* differs(r.index, r.mismatch)
          const before = logged[r.index]
          if (r.short) {
            shortPiece = r
            return
          }
          if (before === undefined) {
            yield* append(r)
          } else {
            link = nextLink(link, r.index, r.digest)
            if (before.chain !== link) {
              return yield* new ResumeMismatch({
                detail: `the resume log of ${name} does not match its chain at chunk ${r.index}; run \`enigma forget ${name}\` and put the stream again`
              })
            }
            if (r.resumed) stats.resumedChunks++
            else stats.uploadedChunks++ // a logged chunk that had gone missing, stored again
            stats.bytes += r.digest.size
            stats.chunks++
          }
          pace(r.digest.size)
          options.onProgress?.({ bytes: stats.bytes, chunks: stats.chunks })
        })

      // stdin → chunker → [memory | scratch dir] → hash, dedup, upload (upload_concurrency at a time) → log, in order.
      yield* Effect.scoped(Effect.gen(function*() {
        const spill = yield* makeSpillBuffer({
          memoryChunks: Math.max(1, options.bufferChunks ?? defaultBufferChunks),
          diskBytes: options.diskspaceLimit ?? 0,
          dir: options.scratchDir
        })
        yield* pieces.pipe(
          Stream.mapEffect((p) =>
            Effect.map(spill.park(p.data), (parked) => {
              // Written to the scratch dir: it comes back as a buffer of its own.
              if (parked._tag === "Disk") sources.done(p.data)
              return { parked, index: p.index }
            })),
          Stream.buffer({ capacity: "unbounded" }), // bounded by the spill buffer's own accounting
          Stream.mapEffect((p) =>
            Effect.flatMap(spill.unpark(p.parked), (data) =>
              processPiece({ data, index: p.index, own: p.parked._tag === "Disk" || isChunkerCopy(data) }).pipe(
                // A piece read back from the scratch dir is a fresh buffer of its own.
                Effect.tap(() => Effect.sync(() => p.parked._tag === "Disk" ? releaseBuffers([data]) : sources.done(data)))
              )), {
            concurrency: uploadConcurrency
          }),
          Stream.runForEach(consume)
        )
      })).pipe(Effect.provideService(OffThreadWrites, stagingsForPut))

      // A last piece shorter than the chunk logged at its place is a truncated input only if it is
      // that chunk's start: another input as short would otherwise pass for this one's prefix.
      // (An age stream's chunks need its identities to be read: not checked there.)
      if (shortPiece !== undefined && recipients === undefined) {
        const piece = shortPiece
        const plain = yield* chunks.load(logged[piece.index]!.chunkId, codec).pipe(Effect.option)
        if (plain._tag === "Some" && createHash("sha256").update(plain.value.subarray(0, piece.digest.size)).digest("hex") !== piece.digest.sha256) {
          return yield* differs(piece.index, "its bytes are not those stored there")
        }
      }
      if (shortPiece !== undefined || stats.chunks < logged.length) {
        const inputBytes = stats.bytes + (shortPiece?.digest.size ?? 0)
        if (options.strictResume ?? true) {
          return yield* new ResumeMismatch({
            detail: `the input ended after ${inputBytes} bytes, but the interrupted put of ${name} had already stored ${offsetOf(logged.length)} bytes; give the whole input to resume, --no-strict-resume to store this shorter input as ${name}, or \`enigma forget ${name}\``
          })
        }
        // Store the shorter input: drop the logged chunks past it, then add its last piece.
        yield* log.append([{ _tag: "StreamTruncated", streamId, chunks: stats.chunks }])
        if (shortPiece !== undefined) yield* append(shortPiece)
      }
      yield* log.append([{ _tag: "StreamCommitted", streamId, at: Date.now(), chunks: stats.chunks, bytes: stats.bytes, chain: link }])
      return { streamId, name, ...stats, durationMs: Date.now() - startedAt, chain: link } satisfies PutResult
    })

    const committedStream = (name: string) =>
      Effect.gen(function*() {
        const s = yield* manifest.streamNamed(name)
        if (s === undefined) return yield* new NotFound({ what: `stream ${name}`, hint: "see `enigma list` for the streams in this repository" })
        if (s.status !== "committed") {
          return yield* new UserError({
            detail: `stream ${name} is incomplete: its put was interrupted after ${s.bytes} bytes; run the same put again to resume it, or \`enigma forget ${name}\``
          })
        }
        return s
      })

    /** The codec that reads a stream: the repository's keys, or the age identities it needs. */
    const readCodec = (s: StreamRow, options: ReadOptions | undefined, needed: boolean) =>
      Effect.gen(function*() {
        if (s.unencrypted) return makePlainCodec(repo.ring.chunkIdKey)
        if (s.ageRecipients === undefined) return undefined
        const identities = options?.ageIdentities ?? []
        if (identities.length === 0) {
          if (!needed) return makeAgeCodec(repo.ring.chunkIdKey, s.ageRecipients)
          return yield* new UserError({ detail: `stream ${s.name} is encrypted to age recipients; give the identity with --age-identity FILE` })
        }
        const mine = yield* recipientsOf(identities)
        if (!mine.some((r) => s.ageRecipients!.includes(r))) {
          return yield* new UserError({
            detail: `none of the given age identities can decrypt stream ${s.name} (it is encrypted to ${s.ageRecipients.map((r) => `${r.slice(0, 16)}…`).join(", ")})`
          })
        }
        return makeAgeCodec(repo.ring.chunkIdKey, s.ageRecipients, identities)
      })

    const get = Effect.fn("Pipe.get")(function*<E>(name: string, write: (bytes: Uint8Array) => Effect.Effect<void, E>, options?: ReadOptions) {
      const startedAt = Date.now()
      const s = yield* committedStream(name)
      const codec = yield* readCodec(s, options, true)
      const rows = yield* manifest.streamChunks(s.id)
      const broken = (index: number, chunkId: string, detail: string) =>
        new StreamIntegrityError({ name, index, chunkId, detail })
      if (rows.length !== s.chunks) {
        return yield* broken(Math.min(rows.length, s.chunks), "", `the log holds ${rows.length} chunks but the stream was committed with ${s.chunks}`)
      }
      warmChunkWorkers()
      let link = genesisLink(repo.ring.streamKey, s.id)
      const pace = makeGarbagePacer()
      let bytes = 0
      let next = 0
      const named = Effect.provideService(ReadTarget, name)
      yield* Stream.fromIterable(rows).pipe(
        // Read-ahead chunks are fetched, opened and hashed concurrently; checked and written in order.
        Stream.mapEffect((row) =>
          chunks.load(row.chunkId, codec).pipe(
            named,
            Effect.flatMap((loaded) => streamDigests(loaded, true)),
            Effect.map(({ data, sha256, sha3 }) => ({ row, data, digest: { size: data.length, sha256, sha3 } })),
            Effect.mapError((e: ChunkCorrupt) => broken(row.index, row.chunkId, `${e.detail} (provider ${e.provider}); output stopped after ${bytes} bytes`))
          ), { concurrency: readAhead }),
        Stream.runForEach(({ row, data, digest }) =>
          Effect.gen(function*() {
            if (row.index !== next) return yield* broken(next, "", `chunk ${next} is missing from the log; output stopped after ${bytes} bytes`)
            next++
            const mismatch = digestMismatch(row, digest)
            if (mismatch !== undefined) return yield* broken(row.index, row.chunkId, `${mismatch}; output stopped after ${bytes} bytes`)
            link = nextLink(link, row.index, digest)
            if (link !== row.chain) return yield* broken(row.index, row.chunkId, `chain link does not match (a chunk is missing or out of order); output stopped after ${bytes} bytes`)
            // Counted first: `write` gets a buffer of its own, which it may keep or free.
            const n = data.length
            yield* write(data)
            pace(n)
            bytes += n
          }))
      )
      if (link !== s.chain || bytes !== s.bytes) {
        return yield* broken(rows.length, "", `the stream ends early or its final chain link does not match; ${bytes} bytes were written`)
      }
      return { streamId: s.id, name, bytes, chunks: rows.length, durationMs: Date.now() - startedAt } satisfies GetResult
    })

    const getStored = Effect.fn("Pipe.getStored")(function*<E>(name: string, write: (bytes: Uint8Array) => Effect.Effect<void, E>) {
      const stream = yield* committedStream(name)
      const rows = yield* manifest.streamChunks(stream.id)
      return yield* exportStored({
        stream,
        rows,
        chunks,
        readAhead,
        write,
        corrupt: (index, chunkId, e) => new StreamIntegrityError({ name, index, chunkId, detail: `${e.detail} (provider ${e.provider})` })
      }).pipe(Effect.provideService(ReadTarget, name))
    })

    const verify = Effect.fn("Pipe.verify")(function*(
      name: string,
      readData: boolean,
      options?: ReadOptions & { readonly onProgress?: VerifyProgress }
    ) {
      const s = yield* manifest.streamNamed(name)
      if (s === undefined) return yield* new NotFound({ what: `stream ${name}`, hint: "see `enigma list` for the streams in this repository" })
      const codec = yield* readCodec(s, options, readData)
      const rows = yield* manifest.streamChunks(s.id)
      const bad: Array<{ index: number; chunk: string; provider: string; problem: string }> = []
      // The log itself: consecutive indexes, every link follows from the digests, the last one is the committed one.
      let link = genesisLink(repo.ring.streamKey, s.id)
      rows.forEach((row, i) => {
        link = nextLink(link, i, row)
        if (row.index !== i || link !== row.chain) bad.push({ index: i, chunk: row.chunkId, provider: "log", problem: "chain link does not match the recorded digests" })
      })
      if (s.status === "committed" && (link !== s.chain || rows.length !== s.chunks)) {
        bad.push({ index: rows.length, chunk: "", provider: "log", problem: "the final chain link or chunk count does not match the committed stream" })
      }
      const told = progressTeller(rows.length, options?.onProgress)
      const unreachable = yield* unreachableProviders(repo)
      const failures = yield* Effect.forEach(rows, (row) =>
        Effect.gen(function*() {
          if (!(yield* chunks.check(row.chunkId, readData, codec, undefined, unreachable))) return "unchecked" as const
          if (!readData) return undefined
          // Every copy authenticated; now the bytes against the digests the stream recorded.
          const hashed = yield* streamDigests(yield* chunks.load(row.chunkId, codec), true)
          const mismatch = digestMismatch(row, { size: hashed.data.length, sha256: hashed.sha256, sha3: hashed.sha3 })
          if (hashed.fresh) releaseBuffers([hashed.data])
          return mismatch === undefined ? undefined : { index: row.index, chunk: row.chunkId, provider: "data", problem: mismatch }
        }).pipe(
          Effect.catch((e: ChunkCorrupt) => Effect.succeed({ index: row.index, chunk: row.chunkId, provider: e.provider, problem: e.detail })),
          Effect.tap(told)
        ), { concurrency: 8 })
      for (const f of failures) if (f !== undefined && f !== "unchecked") bad.push(f)
      return { name, streamId: s.id, chunks: rows.length, readData, ...uncheckedOf(unreachable, failures), bad: bad.sort((a, b) => a.index - b.index) } satisfies StreamVerifyReport
    })

    const forget = Effect.fn("Pipe.forget")(function*(names: ReadonlyArray<string>, dryRun: boolean) {
      const found: Array<StreamRow> = []
      for (const name of names) {
        const s = yield* manifest.streamNamed(name)
        if (s === undefined) return yield* new NotFound({ what: `stream ${name}`, hint: "see `enigma list` for the streams in this repository" })
        if (!found.some((f) => f.id === s.id)) found.push(s)
      }
      if (!dryRun && found.length > 0) yield* log.append(found.map((s) => ({ _tag: "StreamForgotten" as const, streamId: s.id, at: Date.now() })))
      return found
    })

    return Pipe.of({ put, get, getStored, verify, forget })
  }))
}
