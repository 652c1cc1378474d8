import { Context, Effect, Layer, Stream } from "effect"
import type { Extent } from "../../domain/Events.ts"
import { evaluateWriteConditions, noWriteConditions, type WriteConditions } from "../../domain/s3/Conditions.ts"
import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import { isValidBucketName, objectKeyProblem } from "../../domain/s3/Names.ts"
import type { Tags } from "../../domain/s3/Tagging.ts"
import { ChunkStore } from "../ChunkStore.ts"
import { EventLog } from "../manifest/EventLog.ts"
import { SqliteDatabase } from "../sql/NodeSqliteClient.ts"
import { OffThreadReads } from "../storage/LocalIoThreads.ts"
import { OpenOnChunkWorkers } from "../ChunkThreads.ts"
import { makeIngest } from "./Ingest.ts"
import { withKeyLock } from "./KeyLocks.ts"
import { preconditionFailed } from "./ObjectHeaders.ts"

export interface BucketRow {
  readonly name: string
  readonly createdAt: number
}

/** The standard headers an object keeps besides Content-Type (Events.ts `ObjectHeaderFields`). */
export interface KeptHeaders {
  readonly contentEncoding?: string
  readonly contentDisposition?: string
  readonly cacheControl?: string
  readonly contentLanguage?: string
  readonly expires?: string
  /** Object tags; absent when there are none. */
  readonly tags?: Tags
}

/** What CopyObject gives the new object: the source's (COPY) or the request's (REPLACE). */
export interface ObjectAttributes {
  readonly contentType: string | undefined
  readonly meta: ReadonlyArray<readonly [string, string]>
  readonly headers: KeptHeaders
}

export interface ObjectRow {
  readonly bucket: string
  readonly key: string
  readonly size: number
  /** Hex MD5 of the content, without quotes. */
  readonly etag: string
  readonly contentType: string | undefined
  readonly meta: ReadonlyArray<readonly [string, string]>
  readonly headers: KeptHeaders
  readonly extents: ReadonlyArray<Extent>
  /** The content of a small object kept in the log (extents then empty). */
  readonly inline?: Uint8Array | undefined
  readonly modifiedAt: number
  /** The verified x-amz-checksum-* stored with the object (returned when x-amz-checksum-mode is ENABLED). */
  readonly checksum?: { readonly algorithm: string; readonly value: string } | undefined
  /** Sizes of the parts, in order, when the object was made by a multipart upload (GET ?partNumber). */
  readonly partSizes?: ReadonlyArray<number> | undefined
}

/**
 * Objects up to this size are kept in their ObjectPut event instead of as chunks: a 4 KiB PUT
 * then costs one log append (group-committed with its neighbours) instead of a chunk object
 * written and fsynced on every provider. Larger objects are chunked, deduplicated as usual.
 */
export const inlineLimit = 16 * 1024

/** Bytes [start, last] of an object, as the pieces to send: inline content or chunk slices. */
export const objectSlices = (o: ObjectRow, start: number, last: number) => {
  if (o.inline !== undefined) return { inline: o.inline.subarray(start, last + 1), chunks: [] }
  const chunks: Array<{ readonly id: string; readonly from: number; readonly to: number }> = []
  let pos = 0
  for (const [id, offset, len] of o.extents) {
    const s = Math.max(start, pos)
    const e = Math.min(last + 1, pos + len)
    if (s < e) chunks.push({ id, from: offset + s - pos, to: offset + e - pos })
    pos += len
  }
  return { inline: undefined, chunks }
}

export interface PutOptions {
  readonly contentType: string | undefined
  readonly meta: ReadonlyArray<readonly [string, string]>
  readonly headers: KeptHeaders
  /** Set when the client signed the payload: the body's SHA-256 must match it. */
  readonly expectedSha256: string | undefined
  /** The Content-MD5 header (base64), when the client sent one: the body's MD5 must match it. */
  readonly contentMd5: string | undefined
  /**
   * The body's verified x-amz-checksum-*, read once the body stream has ended (the stream itself
   * fails on a mismatch, see PayloadBody.ts), so it is known before ObjectPut is appended.
   */
  readonly checksum?: () => { readonly algorithm: string; readonly value: string } | undefined
  /** `If-None-Match: *` / `If-Match` (S3's conditional writes). */
  readonly conditions?: WriteConditions
}

export interface ListOptions {
  readonly prefix: string
  readonly delimiter: string | undefined
  readonly maxKeys: number
  /** List keys after this one (exclusive). */
  readonly after: string | undefined
  /** Also skip every key starting with this (the common prefix the previous page ended on). */
  readonly skipPrefix: string | undefined
}

export interface ListPage {
  readonly contents: ReadonlyArray<ObjectRow>
  readonly commonPrefixes: ReadonlyArray<string>
  /** Where the next page starts, when the listing was cut at maxKeys. */
  readonly next: { readonly after: string; readonly skipPrefix: string | undefined } | undefined
}

/**
 * Chunks a GET loads ahead of the one being sent. Chunk files are read with O_DIRECT, so each
 * load waits for the device: a 256 MiB GET by one client ran at 375–441 MB/s loading 2 ahead,
 * 467–484 MB/s loading 4. Each costs up to a chunk (4 MiB by default) per GET in flight.
 */
const readAhead = 4

/** S3's bucket naming rules (the DNS-compatible subset). */
/**
 * Buckets and objects of the S3 gateway, kept as events in the repository log and projected
 * into the `buckets` and `objects` tables.
 *
 * Invariants: `putObject` stores every chunk (deduplicated through ChunkStore) before it appends
 * ObjectPut, so readers never see a partial object; a put whose body fails, or whose signed
 * payload hash does not match, appends nothing (its new chunks stay unreferenced for gc).
 * Overwrites and deletes release the old object's chunk references in the projection.
 * `copyObject` appends an ObjectPut listing the source's extents: the copy holds its own chunk
 * references, so the chunks outlive whichever of the two objects is deleted first.
 */
export class Objects extends Context.Service<Objects, {
  readonly listBuckets: Effect.Effect<ReadonlyArray<BucketRow>>
  readonly headBucket: (bucket: string) => Effect.Effect<BucketRow, S3Error>
  readonly createBucket: (bucket: string) => Effect.Effect<void, S3Error>
  readonly deleteBucket: (bucket: string) => Effect.Effect<void, S3Error>
  readonly putObject: <E>(bucket: string, key: string, body: Stream.Stream<Uint8Array, E>, options: PutOptions) => Effect.Effect<ObjectRow, S3Error | E>
  readonly headObject: (bucket: string, key: string) => Effect.Effect<ObjectRow, S3Error>
  readonly deleteObject: (bucket: string, key: string) => Effect.Effect<void, S3Error>
  /** PutObjectTagging (DeleteObjectTagging with none): replaces the object's tags. */
  readonly setTags: (bucket: string, key: string, tags: Tags) => Effect.Effect<void, S3Error>
  /** Deletes several keys of one bucket with one log append; keys that do not exist are no-ops. */
  readonly deleteObjects: (bucket: string, keys: ReadonlyArray<string>) => Effect.Effect<void, S3Error>
  /** A new object `bucket/key` with `source`'s content (its chunks, not a re-upload) and `attributes`. */
  readonly copyObject: (bucket: string, key: string, source: ObjectRow, attributes: ObjectAttributes, conditions?: WriteConditions) => Effect.Effect<ObjectRow, S3Error>
  /** Fails as S3 does when `conditions` (If-None-Match: *, If-Match) do not let a write replace what is at the key now. */
  readonly checkWrite: (bucket: string, key: string, conditions: WriteConditions) => Effect.Effect<void, S3Error>
  readonly listObjects: (bucket: string, options: ListOptions) => Effect.Effect<ListPage, S3Error>
  /** The plaintext of one chunk (authenticated and re-hashed by ChunkStore). */
  readonly readChunk: (chunkId: string) => Effect.Effect<Uint8Array, S3Error>
  /** Bytes [start, last] of an object, in order, reading `readAhead` chunks ahead of the consumer. */
  readonly readRange: (o: ObjectRow, start: number, last: number) => Stream.Stream<Uint8Array, S3Error>
}>()("enigma/services/gateway/Objects") {
  static readonly layer = Layer.effect(Objects)(Effect.gen(function*() {
    const chunks = yield* ChunkStore
    const log = yield* EventLog
    const { db } = yield* SqliteDatabase
    const ingest = yield* makeIngest

    const bucketsStmt = db.prepare("SELECT name, created_at FROM buckets ORDER BY name")
    const bucketStmt = db.prepare("SELECT name, created_at FROM buckets WHERE name = ?")
    const anyObjectStmt = db.prepare("SELECT 1 AS x FROM objects WHERE bucket = ? LIMIT 1")
    const objectStmt = db.prepare("SELECT * FROM objects WHERE bucket = ? AND key = ?")
    // Listings never need a small object's content: leave the inline column out.
    // A listing needs no extents or content: leaving them out keeps it to the rows' first page.
    const listed = "bucket, key, size, etag, content_type, meta, headers, '[]' AS extents, NULL AS inline, modified_at, checksum"
    const listStmt = db.prepare(`SELECT ${listed} FROM objects WHERE bucket = ? AND key > ? ORDER BY key`)
    const listFromStmt = db.prepare(`SELECT ${listed} FROM objects WHERE bucket = ? AND key >= ? ORDER BY key`)

    type RawObject = {
      bucket: string
      key: string
      size: number
      etag: string
      content_type: string | null
      meta: string
      headers: string | null
      extents: string
      inline: Uint8Array | null
      modified_at: number
      checksum: string | null
      part_sizes?: string | null
    }
    const toObject = (r: RawObject): ObjectRow => ({
      bucket: r.bucket,
      key: r.key,
      size: Number(r.size),
      etag: r.etag,
      contentType: r.content_type ?? undefined,
      meta: JSON.parse(r.meta),
      headers: r.headers === null ? {} : JSON.parse(r.headers),
      extents: JSON.parse(r.extents),
      ...(r.inline !== null && r.inline !== undefined ? { inline: r.inline } : {}),
      modifiedAt: Number(r.modified_at),
      ...(r.checksum !== null && r.checksum !== undefined ? { checksum: JSON.parse(r.checksum) } : {}),
      ...(r.part_sizes !== null && r.part_sizes !== undefined ? { partSizes: JSON.parse(r.part_sizes) } : {})
    })
    const internal = (e: { readonly message: string }) => s3Error("InternalError", 500, e.message)
    const readChunk = (chunkId: string) => chunks.load(chunkId).pipe(Effect.mapError(internal))
    const noSuchBucket = (bucket: string) => s3Error("NoSuchBucket", 404, `The specified bucket does not exist: ${bucket}`)

    const findBucket = (bucket: string) => {
      const r = bucketStmt.get(bucket) as { name: string; created_at: number } | undefined
      return r ? { name: r.name, createdAt: Number(r.created_at) } : undefined
    }
    const headBucket = Effect.fn("Objects.headBucket")(function*(bucket: string) {
      const b = findBucket(bucket)
      if (!b) return yield* noSuchBucket(bucket)
      return b
    })
    const findObject = (bucket: string, key: string) => {
      const r = objectStmt.get(bucket, key) as RawObject | undefined
      return r ? toObject(r) : undefined
    }
    /** S3's answer when `conditions` do not let a write replace what is at the key now. */
    const checkWrite = (bucket: string, key: string, conditions: WriteConditions) =>
      Effect.suspend(() => {
        if (!conditions.ifNoneMatch && conditions.ifMatch === undefined) return Effect.void
        const outcome = evaluateWriteConditions(conditions, findObject(bucket, key))
        return outcome === "proceed"
          ? Effect.void
          : outcome === "missing"
          ? Effect.fail(s3Error("NoSuchKey", 404, "The specified key does not exist (If-Match needs an object to match)."))
          : Effect.fail(preconditionFailed())
      })
    const headObject = Effect.fn("Objects.headObject")(function*(bucket: string, key: string) {
      yield* headBucket(bucket)
      const o = findObject(bucket, key)
      if (!o) return yield* s3Error("NoSuchKey", 404, "The specified key does not exist.")
      return o
    })

    const putObject = Effect.fn("Objects.putObject")(function*<E>(bucket: string, key: string, body: Stream.Stream<Uint8Array, E>, options: PutOptions) {
      yield* headBucket(bucket)
      const keyProblem = objectKeyProblem(key)
      if (keyProblem !== undefined) return yield* keyProblem
      const conditions = options.conditions ?? noWriteConditions
      // Checked before the body is stored (a write bound to fail uploads nothing), and again
      // under the key's lock just before the event (another write may have come in between).
      yield* checkWrite(bucket, key, conditions)
      const { size, md5, extents, inline } = yield* ingest(body, options, inlineLimit, true)
      const at = Date.now()
      const etag = md5.toString("hex")
      // Read only now: the body stream verified it (and failed on a mismatch) as it ended.
      const checksum = options.checksum?.()
      yield* withKeyLock(bucket, key, Effect.andThen(checkWrite(bucket, key, conditions), log.append([{
        _tag: "ObjectPut",
        bucket,
        key,
        at,
        size,
        etag,
        ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
        meta: options.meta.map(([k, v]) => [k, v] as const),
        extents,
        ...(inline !== undefined ? { inline: Buffer.from(inline).toString("base64") } : {}),
        ...options.headers,
        ...(checksum !== undefined ? { checksum: { algorithm: checksum.algorithm, value: checksum.value } } : {})
      }]).pipe(Effect.mapError(internal))))
      return { bucket, key, size, etag, contentType: options.contentType, meta: options.meta, headers: options.headers, extents, inline, modifiedAt: at, checksum } satisfies ObjectRow
    })

    const listObjects = Effect.fn("Objects.listObjects")(function*(bucket: string, o: ListOptions) {
      yield* headBucket(bucket)
      if (o.maxKeys === 0) return { contents: [], commonPrefixes: [], next: undefined } satisfies ListPage
      // Start at whichever is later: the prefix or the key after which this page begins.
      const rows = (o.after !== undefined && o.after >= o.prefix
        ? listStmt.iterate(bucket, o.after)
        : listFromStmt.iterate(bucket, o.prefix)) as IterableIterator<RawObject>
      const contents: Array<ObjectRow> = []
      const commonPrefixes: Array<string> = []
      let next: ListPage["next"]
      let lastPrefix: string | undefined = o.skipPrefix
      for (const r of rows) {
        if (r.key < o.prefix) continue
        if (!r.key.startsWith(o.prefix)) break
        if (lastPrefix !== undefined && r.key.startsWith(lastPrefix)) continue
        const cut = o.delimiter ? r.key.indexOf(o.delimiter, o.prefix.length) : -1
        if (contents.length + commonPrefixes.length >= o.maxKeys) {
          const last = contents.length > 0 && (commonPrefixes.length === 0 || contents[contents.length - 1]!.key > commonPrefixes[commonPrefixes.length - 1]!)
            ? { after: contents[contents.length - 1]!.key, skipPrefix: undefined }
            : { after: commonPrefixes[commonPrefixes.length - 1]!, skipPrefix: commonPrefixes[commonPrefixes.length - 1]! }
          next = last
          break
        }
        if (cut >= 0) {
          lastPrefix = r.key.slice(0, cut + o.delimiter!.length)
          commonPrefixes.push(lastPrefix)
        } else {
          contents.push(toObject(r))
        }
      }
      if (typeof (rows as { return?: () => unknown }).return === "function") (rows as { return: () => unknown }).return()
      return { contents, commonPrefixes, next } satisfies ListPage
    })

    return Objects.of({
      listBuckets: Effect.sync(() =>
        (bucketsStmt.all() as Array<{ name: string; created_at: number }>).map((r) => ({ name: r.name, createdAt: Number(r.created_at) }))
      ),
      headBucket,
      createBucket: Effect.fn("Objects.createBucket")(function*(bucket: string) {
        if (!isValidBucketName(bucket)) return yield* s3Error("InvalidBucketName", 400, `The specified bucket is not valid: ${bucket}`)
        if (findBucket(bucket)) return yield* s3Error("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
        yield* log.append([{ _tag: "BucketCreated", bucket, at: Date.now() }]).pipe(Effect.mapError(internal))
      }),
      deleteBucket: Effect.fn("Objects.deleteBucket")(function*(bucket: string) {
        yield* headBucket(bucket)
        if (anyObjectStmt.get(bucket) !== undefined) return yield* s3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
        yield* log.append([{ _tag: "BucketDeleted", bucket, at: Date.now() }]).pipe(Effect.mapError(internal))
      }),
      putObject,
      headObject,
      checkWrite,
      deleteObject: Effect.fn("Objects.deleteObject")(function*(bucket: string, key: string) {
        yield* headBucket(bucket)
        // S3 answers 204 whether or not the key existed; only an existing one needs an event.
        yield* withKeyLock(bucket, key, Effect.suspend(() =>
          findObject(bucket, key)
            ? log.append([{ _tag: "ObjectDeleted", bucket, key, at: Date.now() }]).pipe(Effect.mapError(internal))
            : Effect.void
        ))
      }),
      setTags: Effect.fn("Objects.setTags")(function*(bucket: string, key: string, tags: Tags) {
        yield* headBucket(bucket)
        yield* withKeyLock(bucket, key, Effect.gen(function*() {
          yield* headObject(bucket, key)
          yield* log.append([{ _tag: "ObjectTagged", bucket, key, at: Date.now(), tags: tags.map(([k, v]) => [k, v] as const) }]).pipe(Effect.mapError(internal))
        }))
      }),
      deleteObjects: Effect.fn("Objects.deleteObjects")(function*(bucket: string, keys: ReadonlyArray<string>) {
        yield* headBucket(bucket)
        const at = Date.now()
        // Every key's lock, taken in one order (sorted), so two batches cannot wait for each other.
        const append = Effect.suspend(() => {
          const existing = [...new Set(keys)].filter((key) => findObject(bucket, key) !== undefined)
          return existing.length === 0
            ? Effect.void
            : log.append(existing.map((key) => ({ _tag: "ObjectDeleted" as const, bucket, key, at }))).pipe(Effect.mapError(internal))
        })
        yield* [...new Set(keys)].sort().reduceRight<typeof append>((inner, key) => withKeyLock(bucket, key, inner), append)
      }),
      copyObject: Effect.fn("Objects.copyObject")(function*(bucket: string, key: string, source: ObjectRow, attributes: ObjectAttributes, conditions = noWriteConditions) {
        yield* headBucket(bucket)
        const keyProblem = objectKeyProblem(key)
        if (keyProblem !== undefined) return yield* keyProblem
        // The content is the source's, so is its ETag (S3 would recompute an MD5 for a multipart
        // source; that needs the bytes, which a copy by reference never reads).
        const at = Date.now()
        yield* withKeyLock(bucket, key, Effect.andThen(checkWrite(bucket, key, conditions), log.append([{
          _tag: "ObjectPut",
          bucket,
          key,
          at,
          size: source.size,
          etag: source.etag,
          ...(attributes.contentType !== undefined ? { contentType: attributes.contentType } : {}),
          meta: attributes.meta.map(([k, v]) => [k, v] as const),
          extents: source.extents.map(([id, offset, length]) => [id, offset, length] as const),
          ...(source.inline !== undefined ? { inline: Buffer.from(source.inline).toString("base64") } : {}),
          ...attributes.headers,
          // Same bytes, so the source's verified checksum holds for the copy (S3 keeps it too).
          ...(source.checksum !== undefined ? { checksum: { algorithm: source.checksum.algorithm, value: source.checksum.value } } : {})
        }]).pipe(Effect.mapError(internal))))
        return { bucket, key, size: source.size, etag: source.etag, ...attributes, extents: source.extents, inline: source.inline, modifiedAt: at, checksum: source.checksum } satisfies ObjectRow
      }),
      listObjects,
      readChunk,
      readRange: (o: ObjectRow, start: number, last: number) => {
        const slices = objectSlices(o, start, last)
        if (slices.inline !== undefined) return Stream.make(slices.inline)
        return Stream.fromIterable(slices.chunks).pipe(
          // Read on the Local provider's workers and opened on the chunk workers: this thread
          // writes every response.
          Stream.mapEffect((w) =>
            Effect.map(readChunk(w.id), (plain) => plain.subarray(w.from, w.to)).pipe(
              Effect.provideService(OffThreadReads, true),
              Effect.provideService(OpenOnChunkWorkers, true)
            ), { concurrency: readAhead })
        )
      }
    })
  }))
}
