import { createHash, randomBytes } from "node:crypto"
import { Context, Effect, Layer, Semaphore, Stream } from "effect"
import type { Extent } from "../../domain/Events.ts"
import { evaluatePreconditions, noWriteConditions, type Preconditions, type WriteConditions } from "../../domain/s3/Conditions.ts"
import type { RequestedPart } from "../../domain/s3/MultipartXml.ts"
import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import { objectKeyProblem } from "../../domain/s3/Names.ts"
import { EventLog } from "../manifest/EventLog.ts"
import { SqliteDatabase } from "../sql/NodeSqliteClient.ts"
import { type IngestChecks, makeIngest } from "./Ingest.ts"
import { withKeyLock } from "./KeyLocks.ts"
import { preconditionFailed } from "./ObjectHeaders.ts"
import { type ObjectAttributes, Objects, objectSlices } from "./Objects.ts"

/** S3's limits: part numbers 1..10000, every part but the last at least 5 MiB. */
export const maxPartNumber = 10_000
export const minPartSize = 5 * 1024 * 1024

export interface UploadRow {
  readonly uploadId: string
  readonly bucket: string
  readonly key: string
  readonly initiatedAt: number
}

export interface PartRow {
  readonly partNumber: number
  readonly size: number
  /** Hex MD5 of the part, without quotes. */
  readonly etag: string
  readonly modifiedAt: number
}

export interface ListUploadsOptions {
  readonly prefix: string
  readonly delimiter: string | undefined
  readonly keyMarker: string
  /** Only with keyMarker: also list the uploads of that key whose id sorts after this one. */
  readonly uploadIdMarker: string
  readonly maxUploads: number
}

export interface ListUploadsResult {
  readonly uploads: ReadonlyArray<UploadRow>
  readonly commonPrefixes: ReadonlyArray<string>
  readonly next: { readonly keyMarker: string; readonly uploadIdMarker: string } | undefined
}

/** [first, last] byte offsets of the source to copy (inclusive), or the whole source. */
export type CopyRange = readonly [number, number] | undefined

/**
 * S3 multipart uploads over the event log (see the Multipart* events in domain/Events.ts).
 *
 * Invariants: a part is acknowledged only after its PartUploaded is appended, which happens only
 * after its chunks are stored; the object appears only with MultipartCompleted. The checks that
 * decide an append (the upload still exists; at Complete, the listed parts and their ETags) and
 * the append itself run under one lock, so what Complete checked is exactly what its event
 * stitches — a part re-uploaded concurrently lands either before the check or after the upload
 * is gone (and then its chunks stay unreferenced, for gc). Part data never passes the lock.
 */
export class Multipart extends Context.Service<Multipart, {
  readonly create: (bucket: string, key: string, attributes: ObjectAttributes) => Effect.Effect<UploadRow, S3Error>
  readonly uploadPart: <E>(bucket: string, key: string, uploadId: string, partNumber: number, body: Stream.Stream<Uint8Array, E>, checks: IngestChecks) => Effect.Effect<PartRow, S3Error | E>
  readonly uploadPartCopy: (
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    source: { readonly bucket: string; readonly key: string },
    range: CopyRange,
    conditions: Preconditions
  ) => Effect.Effect<PartRow, S3Error>
  readonly complete: (
    bucket: string,
    key: string,
    uploadId: string,
    parts: ReadonlyArray<RequestedPart>,
    conditions?: WriteConditions
  ) => Effect.Effect<{ readonly etag: string; readonly size: number }, S3Error>
  readonly abort: (bucket: string, key: string, uploadId: string) => Effect.Effect<void, S3Error>
  readonly listParts: (bucket: string, key: string, uploadId: string, after: number, maxParts: number) => Effect.Effect<{ readonly parts: ReadonlyArray<PartRow>; readonly truncated: boolean }, S3Error>
  readonly listUploads: (bucket: string, options: ListUploadsOptions) => Effect.Effect<ListUploadsResult, S3Error>
}>()("enigma/services/gateway/Multipart") {
  static readonly layer = Layer.effect(Multipart)(Effect.gen(function*() {
    const objects = yield* Objects
    const log = yield* EventLog
    const { db } = yield* SqliteDatabase
    const ingest = yield* makeIngest
    const commit = yield* Semaphore.make(1)

    const uploadStmt = db.prepare("SELECT upload_id, bucket, key, initiated_at FROM multipart_uploads WHERE upload_id = ?")
    const partsStmt = db.prepare("SELECT part_number, size, etag, uploaded_at FROM multipart_parts WHERE upload_id = ? ORDER BY part_number")
    const partsAfterStmt = db.prepare(
      "SELECT part_number, size, etag, uploaded_at FROM multipart_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?"
    )
    const uploadsAfterKeyStmt = db.prepare(
      "SELECT upload_id, bucket, key, initiated_at FROM multipart_uploads WHERE bucket = ? AND key > ? ORDER BY key, upload_id"
    )
    const uploadsAfterIdStmt = db.prepare(`SELECT upload_id, bucket, key, initiated_at FROM multipart_uploads
      WHERE bucket = ?1 AND (key > ?2 OR (key = ?2 AND upload_id > ?3)) ORDER BY key, upload_id`)
    const uploadsFromStmt = db.prepare(
      "SELECT upload_id, bucket, key, initiated_at FROM multipart_uploads WHERE bucket = ? AND key >= ? ORDER BY key, upload_id"
    )

    type RawUpload = { upload_id: string; bucket: string; key: string; initiated_at: number }
    type RawPart = { part_number: number; size: number; etag: string; uploaded_at: number }
    const toUpload = (r: RawUpload): UploadRow => ({ uploadId: r.upload_id, bucket: r.bucket, key: r.key, initiatedAt: Number(r.initiated_at) })
    const toPart = (r: RawPart): PartRow => ({ partNumber: Number(r.part_number), size: Number(r.size), etag: r.etag, modifiedAt: Number(r.uploaded_at) })
    const internal = (e: { readonly message: string }) => s3Error("InternalError", 500, e.message)

    /** The upload, if it exists and belongs to this bucket and key (S3 answers NoSuchUpload otherwise). */
    const findUpload = (bucket: string, key: string, uploadId: string) => {
      const r = uploadStmt.get(uploadId) as RawUpload | undefined
      return r !== undefined && r.bucket === bucket && r.key === key ? toUpload(r) : undefined
    }
    const requireUpload = Effect.fn("Multipart.requireUpload")(function*(bucket: string, key: string, uploadId: string) {
      yield* objects.headBucket(bucket)
      const u = findUpload(bucket, key, uploadId)
      if (u === undefined) {
        return yield* s3Error("NoSuchUpload", 404,
          "The specified upload does not exist: the upload ID may be invalid, or the upload was aborted or completed. Start a new one with CreateMultipartUpload.")
      }
      return u
    })
    const checkPartNumber = (partNumber: number) =>
      Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= maxPartNumber
        ? Effect.void
        : Effect.fail(s3Error("InvalidArgument", 400, `Part number must be an integer between 1 and ${maxPartNumber}, inclusive`))

    /** Appends the part, unless the upload went away while its data arrived. */
    const recordPart = (bucket: string, key: string, uploadId: string, partNumber: number, size: number, etag: string, extents: ReadonlyArray<Extent>) =>
      commit.withPermits(1)(Effect.gen(function*() {
        yield* requireUpload(bucket, key, uploadId)
        const at = Date.now()
        yield* log.append([{ _tag: "PartUploaded", uploadId, partNumber, at, size, etag, extents }]).pipe(Effect.mapError(internal))
        return { partNumber, size, etag, modifiedAt: at } satisfies PartRow
      }))

    const create = Effect.fn("Multipart.create")(function*(
      bucket: string,
      key: string,
      options: ObjectAttributes
    ) {
      yield* objects.headBucket(bucket)
      const keyProblem = objectKeyProblem(key)
      if (keyProblem !== undefined) return yield* keyProblem
      const at = Date.now()
      // Time first, so ids sort by initiation (ListMultipartUploads orders a key's uploads by it).
      const uploadId = `${at.toString(16).padStart(12, "0")}${randomBytes(12).toString("hex")}`
      yield* log.append([{
        _tag: "MultipartStarted",
        uploadId,
        bucket,
        key,
        at,
        ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
        meta: options.meta.map(([k, v]) => [k, v] as const),
        ...options.headers
      }]).pipe(Effect.mapError(internal))
      return { uploadId, bucket, key, initiatedAt: at } satisfies UploadRow
    })

    const uploadPart = Effect.fn("Multipart.uploadPart")(function*<E>(
      bucket: string,
      key: string,
      uploadId: string,
      partNumber: number,
      body: Stream.Stream<Uint8Array, E>,
      checks: IngestChecks
    ) {
      yield* checkPartNumber(partNumber)
      yield* requireUpload(bucket, key, uploadId)
      const { size, md5, extents } = yield* ingest(body, checks, 0, true)
      return yield* recordPart(bucket, key, uploadId, partNumber, size, md5.toString("hex"), extents)
    })

    const uploadPartCopy = Effect.fn("Multipart.uploadPartCopy")(function*(
      bucket: string,
      key: string,
      uploadId: string,
      partNumber: number,
      source: { readonly bucket: string; readonly key: string },
      range: CopyRange,
      conditions: Preconditions
    ) {
      yield* checkPartNumber(partNumber)
      yield* requireUpload(bucket, key, uploadId)
      const src = yield* objects.headObject(source.bucket, source.key)
      if (evaluatePreconditions(conditions, src.etag, src.modifiedAt) !== "proceed") return yield* preconditionFailed()
      if (range !== undefined && (range[0] > range[1] || range[1] >= src.size)) {
        return yield* s3Error("InvalidArgument", 400,
          `The x-amz-copy-source-range bytes=${range[0]}-${range[1]} is not within the source object of size ${src.size}`)
      }
      const [start, last] = range ?? [0, src.size - 1]
      const slices = objectSlices(src, start, last)
      if (slices.inline !== undefined) {
        // A small source lives in the log, not in chunks: its bytes become the part's own chunks.
        const stored = yield* ingest(Stream.make(slices.inline), { expectedSha256: undefined, contentMd5: undefined })
        return yield* recordPart(bucket, key, uploadId, partNumber, stored.size, stored.md5.toString("hex"), stored.extents)
      }
      // The part references the source's chunks, sliced to the range: no data is stored again.
      const extents: Array<Extent> = slices.chunks.map((w) => [w.id, w.from, w.to - w.from] as const)
      // Its ETag is the MD5 of the copied bytes, so they are read (two chunks ahead).
      const md5 = createHash("md5")
      yield* objects.readRange(src, start, last).pipe(Stream.runForEach((bytes) => Effect.sync(() => void md5.update(bytes))))
      return yield* recordPart(bucket, key, uploadId, partNumber, Math.max(0, last - start + 1), md5.digest("hex"), extents)
    })

    const complete = Effect.fn("Multipart.complete")(function*(
      bucket: string,
      key: string,
      uploadId: string,
      requested: ReadonlyArray<RequestedPart>,
      conditions: WriteConditions = noWriteConditions
    ) {
      yield* requireUpload(bucket, key, uploadId)
      yield* objects.checkWrite(bucket, key, conditions)
      return yield* commit.withPermits(1)(Effect.gen(function*() {
        yield* requireUpload(bucket, key, uploadId)
        for (let i = 1; i < requested.length; i++) {
          if (requested[i]!.partNumber <= requested[i - 1]!.partNumber) {
            return yield* s3Error("InvalidPartOrder", 400,
              `The list of parts was not in ascending order (part ${requested[i]!.partNumber} follows part ${requested[i - 1]!.partNumber}); list each part once, by ascending part number.`)
          }
        }
        const uploaded = new Map((partsStmt.all(uploadId) as Array<RawPart>).map((r) => [Number(r.part_number), toPart(r)] as const))
        const parts: Array<PartRow> = []
        for (const r of requested) {
          const p = uploaded.get(r.partNumber)
          if (p === undefined || p.etag !== r.etag.toLowerCase()) {
            return yield* s3Error("InvalidPart", 400,
              `Part ${r.partNumber} ${p === undefined ? "was not uploaded" : `has ETag "${p.etag}", not "${r.etag}"`}; list only uploaded parts with the ETags UploadPart returned (see ListParts).`)
          }
          parts.push(p)
        }
        for (const p of parts.slice(0, -1)) {
          if (p.size < minPartSize) {
            return yield* s3Error("EntityTooSmall", 400,
              `Your proposed upload is smaller than the minimum allowed size: part ${p.partNumber} has ${p.size} bytes, and every part but the last must have at least ${minPartSize}.`)
          }
        }
        const etag = `${createHash("md5").update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, "hex")))).digest("hex")}-${parts.length}`
        const size = parts.reduce((a, p) => a + p.size, 0)
        // Checked again under the key's lock: another write may have come in since.
        yield* withKeyLock(bucket, key, Effect.andThen(
          objects.checkWrite(bucket, key, conditions),
          log.append([{ _tag: "MultipartCompleted", uploadId, at: Date.now(), parts: parts.map((p) => p.partNumber), size, etag }])
            .pipe(Effect.mapError(internal))
        ))
        return { etag, size }
      }))
    })

    const abort = Effect.fn("Multipart.abort")(function*(bucket: string, key: string, uploadId: string) {
      yield* commit.withPermits(1)(Effect.gen(function*() {
        yield* requireUpload(bucket, key, uploadId)
        yield* log.append([{ _tag: "MultipartAborted", uploadId, at: Date.now() }]).pipe(Effect.mapError(internal))
      }))
    })

    const listParts = Effect.fn("Multipart.listParts")(function*(bucket: string, key: string, uploadId: string, after: number, maxParts: number) {
      yield* requireUpload(bucket, key, uploadId)
      if (maxParts === 0) return { parts: [], truncated: false }
      const rows = (partsAfterStmt.all(uploadId, after, maxParts + 1) as Array<RawPart>).map(toPart)
      return { parts: rows.slice(0, maxParts), truncated: rows.length > maxParts }
    })

    const listUploads = Effect.fn("Multipart.listUploads")(function*(bucket: string, o: ListUploadsOptions) {
      yield* objects.headBucket(bucket)
      if (o.maxUploads === 0) return { uploads: [], commonPrefixes: [], next: undefined } satisfies ListUploadsResult
      const rows = (o.keyMarker < o.prefix
        ? uploadsFromStmt.iterate(bucket, o.prefix)
        : o.uploadIdMarker !== ""
        ? uploadsAfterIdStmt.iterate(bucket, o.keyMarker, o.uploadIdMarker)
        : uploadsAfterKeyStmt.iterate(bucket, o.keyMarker)) as IterableIterator<RawUpload>
      const uploads: Array<UploadRow> = []
      const commonPrefixes: Array<string> = []
      let last: { keyMarker: string; uploadIdMarker: string } | undefined
      let next: ListUploadsResult["next"]
      // A page that ended on a common prefix hands it on as the key marker: skip the rest of it.
      let lastPrefix: string | undefined = o.keyMarker !== "" ? o.keyMarker : undefined
      for (const r of rows) {
        if (r.key < o.prefix) continue
        if (!r.key.startsWith(o.prefix)) break
        const cut = o.delimiter ? r.key.indexOf(o.delimiter, o.prefix.length) : -1
        const cp = cut >= 0 ? r.key.slice(0, cut + o.delimiter!.length) : undefined
        if (cp !== undefined && cp === lastPrefix) continue
        if (uploads.length + commonPrefixes.length >= o.maxUploads) {
          next = last
          break
        }
        if (cp !== undefined) {
          lastPrefix = cp
          commonPrefixes.push(cp)
          last = { keyMarker: cp, uploadIdMarker: "" }
        } else {
          uploads.push(toUpload(r))
          last = { keyMarker: r.key, uploadIdMarker: r.upload_id }
        }
      }
      if (typeof (rows as { return?: () => unknown }).return === "function") (rows as { return: () => unknown }).return()
      return { uploads, commonPrefixes, next } satisfies ListUploadsResult
    })

    return Multipart.of({ create, uploadPart, uploadPartCopy, complete, abort, listParts, listUploads })
  }))
}
