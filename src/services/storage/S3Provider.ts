import type { S3Client } from "@aws-sdk/client-s3"
import { Effect, Option, Stream } from "effect"
import { cjsNamespace } from "../CjsNamespace.ts"
import { releaseCopiedPiece } from "../ReleaseBuffers.ts"
import { type Block, blocksOf, checkRange } from "./Blocks.ts"
import {
  bucketMissing,
  type ByteRange,
  type PutObjectOptions,
  StorageError,
  type StorageFailure,
  type StorageProvider,
  type ListedObject,
  type ThawOptions,
  type ThawState
} from "./StorageProvider.ts"

export interface S3ProviderOptions {
  readonly name: string
  readonly kind: string
  readonly bucket: string
  readonly region: string
  /** S3-compatible stores: their URL. Absent for AWS S3. */
  readonly endpoint?: string | undefined
  readonly pathStyle: boolean
  /** Absent: the AWS default credential chain (env, profile, SSO, instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined
  /** Storage class for chunk objects; keystore, log segments and locks always stay STANDARD. */
  readonly storageClass?: string | undefined
  /** Only send checksums the operation requires: many S3-compatible stores reject the newer ones. */
  readonly checksumsWhenRequired: boolean
  /** Bodies larger than this go up as a multipart upload (default 16 MiB); streamed bodies in parts of `partSize`. */
  readonly multipartThreshold?: number | undefined
  /** Part size of multipart uploads (default 16 MiB; at least 5 MiB, S3's minimum). */
  readonly partSize?: number | undefined
  /** Parts of one upload sent at once (default 4). */
  readonly partConcurrency?: number | undefined
}

const MiB = 1024 * 1024
export const defaultMultipartThreshold = 16 * MiB
export const minPartSize = 5 * MiB
/** S3 refuses uploads with more parts than this. */
const maxParts = 10_000

/**
 * `chunks/ab/ab…` (Keys.chunk), also below a repository prefix (`team/db/chunks/ab/ab…`, see
 * Prefixed.ts): the tail decides, so a prefix that itself contains "chunks/" changes nothing.
 */
export const isChunkKey = (key: string): boolean => /(?:^|\/)chunks\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/.test(key)

/** Classes whose objects must be restored (RestoreObject) before they can be read. */
const coldClasses = new Set(["GLACIER", "DEEP_ARCHIVE"])

type Sdk = typeof import("@aws-sdk/client-s3")

/** Maps an SDK error (or a network error) onto the port's failure kinds. */
export const failureOf = (cause: unknown): StorageFailure => {
  const e = cause as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown }
  const status = e?.$metadata?.httpStatusCode
  const name = e?.name ?? e?.code ?? ""
  if (name === "NoSuchKey" || name === "NotFound" || (status === 404 && name !== "NoSuchBucket")) return "NotFound"
  // GET of an object in GLACIER / DEEP_ARCHIVE (or an archived INTELLIGENT_TIERING tier) not restored yet.
  if (name === "InvalidObjectState") return "Cold"
  if (status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Forbidden|CredentialsProviderError/.test(name)) return "AccessDenied"
  if (
    e?.$retryable !== undefined || status === 429 || (status !== undefined && status >= 500) ||
    /SlowDown|Throttl|RequestTimeout|TimeoutError|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up/.test(
      `${name} ${(cause as Error)?.message ?? ""}`
    )
  ) return "Transient"
  return "Fatal"
}

const describe = (cause: unknown, bucket: string): string => {
  const e = cause as { name?: string; message?: string; StorageClass?: string }
  if (e?.name === "NoSuchBucket") return bucketMissing(bucket)
  if (e?.name === "InvalidObjectState") {
    return `object is in cold storage (storage class ${e.StorageClass ?? "GLACIER or DEEP_ARCHIVE"}) and must be thawed before it can be read`
  }
  if (e?.name === "CredentialsProviderError") {
    return "no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or access_key and secret_key in the provider's config"
  }
  return `${e?.name ?? "Error"}: ${e?.message ?? String(cause)}`
}

/** `ongoing-request="false", expiry-date="…"` (HeadObject's Restore header) → the thaw state. */
export const restoreStateOf = (restore: string | undefined): "in-progress" | "ready" | undefined => {
  if (restore === undefined) return undefined
  if (/ongoing-request="true"/.test(restore)) return "in-progress"
  if (/ongoing-request="false"/.test(restore)) return "ready"
  return undefined
}

const sizeOf = (body: Uint8Array | ReadonlyArray<Uint8Array>) =>
  body instanceof Uint8Array ? body.length : body.reduce((a, p) => a + p.length, 0)

/**
 * Bytes [start, end) of a body given as pieces: a view when one piece holds them (no copy),
 * else a copy of just that range. So a 512 MiB chunk sent in parts costs at most the parts in
 * flight that straddle a piece boundary, never a second 512 MiB buffer.
 */
export const sliceOf = (pieces: ReadonlyArray<Uint8Array>, start: number, end: number): Uint8Array => {
  const out: Array<Uint8Array> = []
  let offset = 0
  for (const p of pieces) {
    const pStart = offset
    const pEnd = offset + p.length
    offset = pEnd
    if (pEnd <= start || p.length === 0) continue
    if (pStart >= end) break
    out.push(p.subarray(Math.max(0, start - pStart), Math.min(p.length, end - pStart)))
  }
  return out.length === 1 ? out[0]! : Buffer.concat(out)
}

/** Reads a response body into one buffer of the announced size: no chunk list plus a concatenated copy. */
const readBody = async (body: AsyncIterable<Uint8Array> & { transformToByteArray(): Promise<Uint8Array> }, length: number | undefined) => {
  if (length === undefined) return await body.transformToByteArray()
  const out = Buffer.allocUnsafe(length)
  let at = 0
  // A body of the wrong length is a broken transfer: `$retryable` makes it Transient, read again.
  const broken = (detail: string) => Object.assign(new Error(detail), { name: "BrokenBody", $retryable: {} })
  for await (const piece of body) {
    if (at + piece.length > length) throw broken(`response body longer than its Content-Length ${length}`)
    out.set(piece, at)
    at += piece.length
    releaseCopiedPiece(piece) // spent: nothing reads the socket's pieces after us
  }
  if (at !== length) throw broken(`response body ended after ${at} of ${length} bytes`)
  return out as Uint8Array
}

/**
 * A provider on S3 or an S3-compatible store (MinIO, RustFS, Garage, s3rver…), through
 * @aws-sdk/client-s3. The SDK is imported on first use, so commands that never reach the
 * provider do not pay for loading it. PutObject and CompleteMultipartUpload are atomic on S3:
 * readers never see a part. A failed or interrupted multipart upload is aborted, so no
 * incomplete upload is left behind to be billed.
 */
export const makeS3Provider = (o: S3ProviderOptions): StorageProvider => {
  const threshold = o.multipartThreshold ?? defaultMultipartThreshold
  const basePartSize = Math.max(minPartSize, o.partSize ?? defaultMultipartThreshold)
  const partConcurrency = o.partConcurrency ?? 4

  let client: Promise<{ client: S3Client; sdk: Sdk }> | undefined
  const connect = () =>
    (client ??= import("@aws-sdk/client-s3").then(cjsNamespace<Sdk>("S3Client")).then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        region: o.region,
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        forcePathStyle: o.pathStyle,
        ...(o.credentials ? { credentials: o.credentials } : {}),
        ...(o.checksumsWhenRequired
          ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }
          : {}),
        // Retries are ours (ChunkStore's schedule): one attempt per call here.
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 }
      })
    })))

  /** One SDK call; interrupting it (a timeout above us) aborts the HTTP request. */
  const call = <A>(
    operation: string,
    key: string,
    f: (c: { client: S3Client; sdk: Sdk }, abortSignal: AbortSignal) => Promise<A>
  ) =>
    Effect.tryPromise({
      try: (signal) => connect().then((c) => f(c, signal)),
      catch: (cause) =>
        new StorageError({ provider: o.name, operation, key, reason: failureOf(cause), detail: describe(cause, o.bucket) })
    }).pipe(Effect.withSpan(`S3Provider.${operation}`, { attributes: { provider: o.name } }))

  // Only chunks are large and rarely read; the keystore, log segments and locks must stay readable at once.
  // A per-object class (`put --storage-class`) applies to chunks as well, never to the rest.
  const classFor = (key: string, options?: PutObjectOptions) => {
    const cls = options?.storageClass ?? o.storageClass
    return cls && isChunkKey(key) ? { StorageClass: cls as never } : {}
  }

  const putSingle = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>, options?: PutObjectOptions) =>
    call("put", key, ({ client, sdk }, abortSignal) =>
      client.send(
        new sdk.PutObjectCommand({
          Bucket: o.bucket,
          Key: key,
          Body: body instanceof Uint8Array ? body : body.length === 1 ? body[0]! : Buffer.concat(body as Array<Uint8Array>),
          ...classFor(key, options)
        }),
        { abortSignal }
      )).pipe(Effect.asVoid)

  const abortUpload = (key: string, uploadId: string) =>
    call("put", key, ({ client, sdk }) =>
      client.send(new sdk.AbortMultipartUploadCommand({ Bucket: o.bucket, Key: key, UploadId: uploadId }))).pipe(
        Effect.catch((e) =>
          Effect.logWarning(
            `provider ${o.name}: could not abort multipart upload ${uploadId} of ${key} (${e.detail}); ` +
              "a bucket lifecycle rule AbortIncompleteMultipartUpload removes it"
          )
        )
      )

  /**
   * The one upload path for bodies that may be large: `blocks` are the parts in order (only the
   * last may be shorter). A body that turns out to be one block of at most `threshold` bytes is
   * a single PutObject; anything else a multipart upload, created at the first part, with
   * `partConcurrency` parts in flight (so memory holds about that many parts), completed when
   * the blocks end and aborted when a part, the body or the completion fails or is interrupted.
   */
  const upload = <E>(key: string, blocks: Stream.Stream<Block, E>, options?: PutObjectOptions) =>
    Effect.gen(function*() {
      const checksum = o.checksumsWhenRequired ? {} : { ChecksumAlgorithm: "CRC32" as const }
      let uploadId: string | undefined
      // Uninterruptible: once S3 has made the upload, we know its id and can abort it.
      const create = yield* Effect.cached(Effect.uninterruptible(
        call("put", key, ({ client, sdk }, abortSignal) =>
          client.send(new sdk.CreateMultipartUploadCommand({ Bucket: o.bucket, Key: key, ...classFor(key, options), ...checksum }), { abortSignal })).pipe(
            Effect.flatMap((created) =>
              created.UploadId
                ? Effect.sync(() => (uploadId = created.UploadId!))
                : Effect.fail(new StorageError({ provider: o.name, operation: "put", key, reason: "Fatal", detail: "CreateMultipartUpload returned no UploadId" }))
            )
          )
      ))
      const parts: Array<{ PartNumber: number; ETag: string; ChecksumCRC32?: string }> = []
      let single = false
      const part = (block: Block) =>
        Effect.gen(function*() {
          if (block.index === 0 && block.last && block.bytes.length <= threshold) {
            single = true
            return yield* putSingle(key, block.bytes, options)
          }
          if (block.index >= maxParts) {
            return yield* new StorageError({
              provider: o.name,
              operation: "put",
              key,
              reason: "Fatal",
              detail: `body needs more than ${maxParts} parts of ${block.bytes.length} bytes; raise partSize`
            })
          }
          const id = yield* create
          const r = yield* call("put", key, ({ client, sdk }, abortSignal) =>
            client.send(
              new sdk.UploadPartCommand({
                Bucket: o.bucket,
                Key: key,
                UploadId: id,
                PartNumber: block.index + 1,
                Body: block.bytes,
                ContentLength: block.bytes.length,
                ...checksum
              }),
              { abortSignal }
            ))
          if (!r.ETag) {
            return yield* new StorageError({ provider: o.name, operation: "put", key, reason: "Fatal", detail: `part ${block.index + 1} came back without an ETag` })
          }
          parts.push({ PartNumber: block.index + 1, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) })
        })
      yield* Effect.gen(function*() {
        yield* blocks.pipe(Stream.mapEffect(part, { concurrency: partConcurrency, unordered: true }), Stream.runDrain)
        if (single) return
        const id = yield* create
        parts.sort((a, b) => a.PartNumber - b.PartNumber)
        yield* call("put", key, ({ client, sdk }, abortSignal) =>
          client.send(
            new sdk.CompleteMultipartUploadCommand({ Bucket: o.bucket, Key: key, UploadId: id, MultipartUpload: { Parts: parts } }),
            { abortSignal }
          ))
      }).pipe(Effect.onError(() => (uploadId === undefined ? Effect.void : abortUpload(key, uploadId))))
    })

  /** A body in memory as lazily cut parts (a view where one piece holds the part, see sliceOf). */
  const putMultipart = (key: string, pieces: ReadonlyArray<Uint8Array>, total: number, options?: PutObjectOptions) => {
    const partSize = Math.max(basePartSize, Math.ceil(total / maxParts))
    const count = Math.ceil(total / partSize)
    const blocks = Stream.fromIterable(
      (function*() {
        for (let i = 0; i < count; i++) {
          yield { bytes: sliceOf(pieces, i * partSize, Math.min(total, (i + 1) * partSize)), index: i, last: i === count - 1 }
        }
      })(),
      { chunkSize: 1 }
    )
    return upload(key, blocks, options)
  }

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>, options?: PutObjectOptions) => {
    const total = sizeOf(body)
    return total > threshold ? putMultipart(key, body instanceof Uint8Array ? [body] : body, total, options) : putSingle(key, body, options)
  }

  /** A body of unknown length: parts of `partSize` (so at most 10,000 × partSize bytes). */
  const putStream = <E>(key: string, body: Stream.Stream<Uint8Array, E>, options?: PutObjectOptions) =>
    upload(key, body.pipe(blocksOf(basePartSize)), options)

  const get = (key: string) =>
    call("get", key, async ({ client, sdk }, abortSignal) => {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: o.bucket, Key: key }), { abortSignal })
      return readBody(r.Body as never, r.ContentLength)
    })

  /**
   * GetObject of a range. Undefined when the range starts past the end (S3 answers 416 to a
   * range it cannot satisfy, which for a readable object means exactly that).
   */
  const getObject = (key: string, offset: number, length: number | undefined) =>
    call("get", key, async ({ client, sdk }, abortSignal) => {
      const whole = offset === 0 && length === undefined
      const Range = whole ? undefined : `bytes=${offset}-${length === undefined ? "" : offset + length - 1}`
      try {
        return await client.send(new sdk.GetObjectCommand({ Bucket: o.bucket, Key: key, ...(Range ? { Range } : {}) }), { abortSignal })
      } catch (e) {
        const err = e as { name?: string; $metadata?: { httpStatusCode?: number } }
        if (err?.name === "InvalidRange" || err?.$metadata?.httpStatusCode === 416) return undefined
        throw e
      }
    })

  const invalid = (key: string, detail: string) => new StorageError({ provider: o.name, operation: "get", key, reason: "Fatal", detail })
  /** An empty range reads nothing, but a missing key still fails NotFound (S3 has no empty Range). */
  const emptyRange = (key: string) =>
    headObject(key).pipe(Effect.as(new Uint8Array(0)))

  const getRange = (key: string, offset: number, length: number) => {
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Effect.fail(invalid(key, bad))
    if (length === 0) return emptyRange(key)
    return getObject(key, offset, length).pipe(
      Effect.flatMap((r) =>
        r === undefined
          ? Effect.succeed(new Uint8Array(0))
          : Effect.tryPromise({
            try: () => readBody(r.Body as never, r.ContentLength),
            catch: (cause) => bodyError(key, cause)
          })
      )
    )
  }

  /** A body that breaks off while being read is a broken transfer: retryable unless it says otherwise. */
  const bodyError = (key: string, cause: unknown) => {
    const reason = failureOf(cause)
    return new StorageError({ provider: o.name, operation: "get", key, reason: reason === "Fatal" ? "Transient" : reason, detail: describe(cause, o.bucket) })
  }

  const getStream = (key: string, range?: ByteRange): Stream.Stream<Uint8Array, StorageError> => {
    const offset = range?.offset ?? 0
    const length = range?.length
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Stream.fail(invalid(key, bad))
    if (length === 0) return Stream.unwrap(Effect.as(emptyRange(key), Stream.empty))
    return Stream.unwrap(getObject(key, offset, length).pipe(Effect.map((r) =>
      r === undefined || r.Body === undefined
        ? Stream.empty
        : Stream.fromAsyncIterable(r.Body as AsyncIterable<Uint8Array>, (cause) => bodyError(key, cause))
    )))
  }

  const headObject = (key: string) =>
    call("head", key, ({ client, sdk }, abortSignal) =>
      client.send(new sdk.HeadObjectCommand({ Bucket: o.bucket, Key: key }), { abortSignal }))

  const head = (key: string) =>
    headObject(key).pipe(
      Effect.map((r) => r.ContentLength ?? 0),
      Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
    )

  const del = (key: string) =>
    call("delete", key, ({ client, sdk }, abortSignal) =>
      client.send(new sdk.DeleteObjectCommand({ Bucket: o.bucket, Key: key }), { abortSignal })).pipe(Effect.asVoid)

  const listSized = (prefix: string): Stream.Stream<ListedObject, StorageError> =>
    Stream.paginate(undefined as string | undefined, (token) =>
      call("list", prefix, ({ client, sdk }, abortSignal) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: o.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal })).pipe(
        Effect.map((r) => [
          (r.Contents ?? []).flatMap((c) => (c.Key === undefined ? [] : [{ key: c.Key, size: c.Size }])),
          r.IsTruncated && r.NextContinuationToken ? Option.some(r.NextContinuationToken) : Option.none()
        ] as const)
      ))
  const list = (prefix: string): Stream.Stream<string, StorageError> => listSized(prefix).pipe(Stream.map((o) => o.key))

  const check = call("check", o.bucket, ({ client, sdk }, abortSignal) =>
    client.send(new sdk.HeadBucketCommand({ Bucket: o.bucket }), { abortSignal })).pipe(
    Effect.asVoid,
    Effect.mapError((e) =>
      e.reason === "NotFound"
        ? new StorageError({ ...e, reason: "Fatal", detail: bucketMissing(o.bucket) })
        : e
    )
  )

  /**
   * Incomplete multipart uploads under `prefix` initiated before the cutoff: what a writer killed
   * between CreateMultipartUpload and Complete/Abort leaves behind, invisible and billed. Each is
   * named `KEY (upload ID)`; one already gone (aborted meanwhile) counts as removed.
   */
  const sweepIncomplete = (prefix: string, olderThanMs: number, dryRun: boolean) =>
    Effect.gen(function*() {
      const before = Date.now() - olderThanMs
      // Paged like `list`: the markers of one page lead to the next.
      const uploads = yield* Stream.paginate(undefined as { key: string; uploadId: string | undefined } | undefined, (marker) =>
        call("sweep", prefix, ({ client, sdk }, abortSignal) =>
          client.send(new sdk.ListMultipartUploadsCommand({
            Bucket: o.bucket,
            Prefix: prefix,
            ...(marker !== undefined ? { KeyMarker: marker.key, UploadIdMarker: marker.uploadId } : {})
          }), { abortSignal })).pipe(
            Effect.map((r) => [
              r.Uploads ?? [],
              r.IsTruncated && r.NextKeyMarker !== undefined
                ? Option.some({ key: r.NextKeyMarker, uploadId: r.NextUploadIdMarker })
                : Option.none()
            ] as const)
          )).pipe(Stream.runCollect)
      const stale = uploads.flatMap((u) =>
        u.Key !== undefined && u.UploadId !== undefined && u.Initiated !== undefined && u.Initiated.getTime() < before
          ? [{ key: u.Key, uploadId: u.UploadId }]
          : [])
      if (!dryRun) {
        yield* Effect.forEach(stale, (u) =>
          call("sweep", u.key, ({ client, sdk }, abortSignal) =>
            client.send(new sdk.AbortMultipartUploadCommand({ Bucket: o.bucket, Key: u.key, UploadId: u.uploadId }), { abortSignal })).pipe(
              Effect.catchIf((e) => e.reason === "NotFound", () => Effect.void)
            ), { concurrency: 4, discard: true })
      }
      return stale.map((u) => `${u.key} (upload ${u.uploadId})`) as ReadonlyArray<string>
    })

  /**
   * HeadObject tells the class and any restore under way (the `Restore` header); only a cold
   * object without a finished or running restore gets a RestoreObject request. An archived
   * INTELLIGENT_TIERING object (ArchiveStatus) is restored without days or tier: S3 refuses them there.
   */
  const thaw = (key: string, options: ThawOptions) =>
    Effect.gen(function*() {
      const h = yield* headObject(key)
      const archived = h.ArchiveStatus !== undefined
      if (!coldClasses.has(h.StorageClass ?? "STANDARD") && !archived) return "not-cold" as ThawState
      const state = restoreStateOf(h.Restore)
      if (state !== undefined) return state as ThawState
      return yield* call("thaw", key, ({ client, sdk }, abortSignal) =>
        client.send(
          new sdk.RestoreObjectCommand({
            Bucket: o.bucket,
            Key: key,
            RestoreRequest: archived ? {} : { Days: options.days, GlacierJobParameters: { Tier: options.tier } }
          }),
          { abortSignal }
        )).pipe(
          Effect.as("requested" as ThawState),
          // Another thaw got there between our HEAD and this request.
          Effect.catchIf(
            (e: StorageError) => e.detail.startsWith("RestoreAlreadyInProgress"),
            () => Effect.succeed("in-progress" as ThawState)
          )
        )
    })

  return { name: o.name, kind: o.kind, put, get, putStream, getRange, getStream, head, delete: del, list, listSized, check, thaw, sweepIncomplete }
}
