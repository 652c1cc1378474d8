import type { Bucket } from "@google-cloud/storage"
import { createHash } from "node:crypto"
import type { Writable } from "node:stream"
import { finished } from "node:stream/promises"
import { Effect, Exit, Option, Stream } from "effect"
import { blocksOf, checkRange, concatBytes } from "./Blocks.ts"
import { bucketMissing, type ByteRange, type ListedObject, StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

export interface GcsProviderOptions {
  readonly name: string
  readonly bucket: string
  /**
   * An emulator's (or fake's) URL. Requests to it carry no credentials, as emulators want.
   * Absent: Google Cloud Storage itself, authenticated by Application Default Credentials
   * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login, or the metadata server).
   */
  readonly endpoint?: string | undefined
  /**
   * Streamed bodies up to this size are one single-request upload with their MD5; larger ones a
   * resumable upload sent in chunks of this size (default 8 MiB, a multiple of 256 KiB).
   */
  readonly chunkSize?: number | undefined
}

type Sdk = typeof import("@google-cloud/storage")
/** Bundled, a dynamic import of a package may put its exports under `default`. */
const sdkNamespace = (m: Sdk): Sdk => ("Storage" in m ? m : (m as unknown as { default: Sdk }).default)

const saysBucketMissing = /bucket does not exist/i
const noCredentials = /Could not load the default credentials|Unable to detect a Project Id|invalid_grant|Could not refresh access token/i

/** Maps a @google-cloud/storage error (an ApiError with the HTTP status as `code`, or a network error). */
export const gcsFailureOf = (cause: unknown): StorageFailure => {
  const e = cause as { code?: number | string; message?: string }
  const status = typeof e?.code === "number" ? e.code : undefined
  const message = e?.message ?? ""
  if (status === 404) return saysBucketMissing.test(message) ? "Fatal" : "NotFound"
  if (status === 401 || status === 403 || noCredentials.test(message)) return "AccessDenied"
  if (
    status === 408 || status === 429 || (status !== undefined && status >= 500) ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|socket hang up|network timeout|timed? ?out/i.test(
      `${typeof e?.code === "string" ? e.code : ""} ${message}`
    )
  ) return "Transient"
  return "Fatal"
}

const describe = (cause: unknown, bucket: string): string => {
  const message = (cause as Error)?.message?.split("\n")[0] ?? String(cause)
  if (saysBucketMissing.test(message)) return bucketMissing(bucket)
  if (noCredentials.test(message)) {
    return "no usable Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, " +
      "or run `gcloud auth application-default login`"
  }
  const code = (cause as { code?: unknown })?.code
  return `${typeof code === "number" ? `HTTP ${code}` : (cause as Error)?.name ?? "Error"}: ${message}`
}

/**
 * A provider on Google Cloud Storage (objects in one bucket), through @google-cloud/storage,
 * imported on first use so commands that never reach it do not pay for loading it. Every put
 * is a single-request (multipart) upload, which GCS applies atomically: readers see the old
 * object or the new one. The body's MD5 goes with it, so GCS refuses a body damaged on the way.
 */
export const makeGcsProvider = (o: GcsProviderOptions): StorageProvider => {
  let bucket: Promise<Bucket> | undefined
  const connect = () =>
    (bucket ??= import("@google-cloud/storage").then(sdkNamespace).then((sdk) =>
      new sdk.Storage({
        ...(o.endpoint ? { apiEndpoint: o.endpoint } : {}),
        // Retries are ours (ChunkStore's schedule): one attempt per call here.
        retryOptions: { autoRetry: false },
        timeout: 120_000
      }).bucket(o.bucket)
    ))

  const call = <A>(operation: string, key: string, f: (b: Bucket) => Promise<A>) =>
    Effect.tryPromise({
      try: () => connect().then(f),
      catch: (cause) =>
        new StorageError({ provider: o.name, operation, key, reason: gcsFailureOf(cause), detail: describe(cause, o.bucket) })
    }).pipe(Effect.withSpan(`GcsProvider.${operation}`, { attributes: { provider: o.name } }))

  const errorOf = (operation: string, key: string) => (cause: unknown) =>
    new StorageError({ provider: o.name, operation, key, reason: gcsFailureOf(cause), detail: describe(cause, o.bucket) })

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    call("put", key, (b) => {
      const data = body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.concat(body as Array<Uint8Array>)
      return b.file(key).save(data, {
        resumable: false,
        contentType: "application/octet-stream",
        // GCS checks the MD5 we send; the SDK's own after-the-fact check would delete the object on a mismatch.
        validation: false,
        metadata: { md5Hash: createHash("md5").update(data).digest("base64") }
      })
    })

  // No client-side hash check on reads: everything Enigma stores is authenticated above this port.
  const get = (key: string) => call("get", key, (b) => b.file(key).download({ validation: false }).then(([data]): Uint8Array => data))

  const chunkSize = Math.max(256 * 1024, Math.ceil((o.chunkSize ?? 8 * 1024 * 1024) / (256 * 1024)) * 256 * 1024)

  /**
   * A body of one chunk goes up like `put` (single request, MD5 checked by GCS). A longer one is
   * a resumable upload through the SDK's write stream, written with back-pressure; the SDK holds
   * one chunk in memory and GCS makes the object appear only when the last chunk arrives. A
   * failing or interrupted body destroys the stream before that: no object, or the old one, stays.
   * (No client-side hash on this path: everything Enigma stores is authenticated above the port.)
   */
  const putStream = <E>(key: string, body: Stream.Stream<Uint8Array, E>) => {
    let upload: { readonly stream: Writable; readonly done: Promise<void> } | undefined
    const open = call("put", key, async (b) => {
      const stream = b.file(key).createWriteStream({
        resumable: true,
        chunkSize,
        validation: false,
        contentType: "application/octet-stream"
      })
      const done = finished(stream)
      done.catch(() => undefined) // observed by write/end below
      return (upload = { stream, done })
    })
    const write = (bytes: Uint8Array) =>
      Effect.gen(function*() {
        const u = upload ?? (yield* open)
        yield* Effect.tryPromise({
          try: () =>
            u.stream.write(bytes)
              ? Promise.resolve()
              : Promise.race([new Promise<void>((ok) => u.stream.once("drain", () => ok())), u.done]),
          catch: errorOf("put", key)
        })
      })
    return Effect.onExit(
      Effect.gen(function*() {
        yield* body.pipe(
          blocksOf(chunkSize),
          Stream.runForEach((block) => (block.index === 0 && block.last ? put(key, block.bytes) : write(block.bytes)))
        )
        const u = upload
        if (u === undefined) return
        yield* Effect.tryPromise({
          try: () => {
            u.stream.end()
            return u.done
          },
          catch: errorOf("put", key)
        })
      }),
      (exit) =>
        Effect.sync(() => {
          if (Exit.isFailure(exit) && upload !== undefined && !upload.stream.destroyed) {
            upload.stream.destroy(new Error("upload abandoned: the body failed or was interrupted"))
          }
        })
    ).pipe(Effect.withSpan("GcsProvider.putStream", { attributes: { provider: o.name } }))
  }

  const invalid = (key: string, detail: string) => new StorageError({ provider: o.name, operation: "get", key, reason: "Fatal", detail })
  const bodyError = (key: string) => (cause: unknown) => {
    const e = errorOf("get", key)(cause)
    // A body that breaks off while being read is a broken transfer: retryable (a 404 or 403 stays what it is).
    return e.reason === "Fatal" && typeof (cause as { code?: unknown })?.code !== "number" ? new StorageError({ ...e, reason: "Transient" }) : e
  }

  /** GCS answers a range starting past the end with 416: that is an empty range of an existing object. */
  const getStream = (key: string, range?: ByteRange): Stream.Stream<Uint8Array, StorageError> => {
    const offset = range?.offset ?? 0
    const length = range?.length
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Stream.fail(invalid(key, bad))
    if (length === 0) {
      return Stream.unwrap(call("get", key, (b) => b.file(key).getMetadata()).pipe(Effect.as(Stream.empty)))
    }
    return Stream.unwrap(Effect.map(call("get", key, async (b) => b), (b) =>
      Stream.fromAsyncIterable(
        (async function*() {
          const readable = b.file(key).createReadStream({
            validation: false,
            ...(offset > 0 || length !== undefined ? { start: offset } : {}),
            ...(length !== undefined ? { end: offset + length - 1 } : {})
          })
          try {
            for await (const piece of readable) yield piece as Uint8Array
          } catch (e) {
            if ((e as { code?: unknown })?.code === 416) return
            throw e
          }
        })(),
        bodyError(key)
      )))
  }

  const getRange = (key: string, offset: number, length: number) =>
    Stream.runCollect(getStream(key, { offset, length })).pipe(Effect.map((blocks) => concatBytes(blocks)))

  const head = (key: string) =>
    call("head", key, (b) => b.file(key).getMetadata().then(([m]) => Number(m.size ?? 0))).pipe(
      Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
    )

  const del = (key: string) => call("delete", key, (b) => b.file(key).delete({ ignoreNotFound: true })).pipe(Effect.asVoid)

  const listSized = (prefix: string): Stream.Stream<ListedObject, StorageError> =>
    Stream.paginate(undefined as string | undefined, (pageToken) =>
      call("list", prefix, (b) =>
        b.getFiles({ prefix, autoPaginate: false, ...(pageToken ? { pageToken } : {}) }).then(([files, next]) => [
          files.map((f) => ({ key: f.name, size: f.metadata.size === undefined ? undefined : Number(f.metadata.size) })),
          (next as { pageToken?: string } | null | undefined)?.pageToken
        ] as const)).pipe(
        Effect.map(([names, next]) => [names, next ? Option.some(next) : Option.none()] as const)
      ))

  // Listing needs only object permissions (roles/storage.objectAdmin), unlike reading the
  // bucket's metadata, and it still fails with "bucket does not exist" when it does not.
  const check = call("check", o.bucket, (b) => b.getFiles({ prefix: "keys/", maxResults: 1, autoPaginate: false })).pipe(
    Effect.asVoid
  )

  const list = (prefix: string): Stream.Stream<string, StorageError> => listSized(prefix).pipe(Stream.map((f) => f.key))

  return { name: o.name, kind: "Gcs", put, get, putStream, getRange, getStream, head, delete: del, list, listSized, check }
}
