import { Effect, Schema, Stream } from "effect"

/**
 * Why a provider call failed. `NotFound` is the one callers branch on; `Transient` is the only
 * retryable one (throttling, timeouts, 5xx); `AccessDenied` and `Fatal` need the user; `Cold`
 * means the object sits in an archive storage class and must be thawed (see `thaw`) before a get.
 */
export const StorageFailure = Schema.Literals(["NotFound", "AccessDenied", "Transient", "Fatal", "Cold"])
export type StorageFailure = typeof StorageFailure.Type

/** What to do about the failures a user can mend: an unreachable service, a full disk, a read-only one. */
const hintFor = (detail: string) =>
  /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(detail)
    ? " (the service cannot be reached: check the endpoint, --endpoint-url or the provider's endpoint in enigma.toml, and that the service is running)"
    : /ENOSPC|EDQUOT/.test(detail)
    ? " (the provider's disk is full or over quota: free space there, or add a provider; `enigma gc` reclaims what this attempt stored)"
    : /EROFS/.test(detail)
    ? " (the provider's disk is mounted read-only: list, restore, get and verify work as it is; to write, mount it read-write)"
    : ""

export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  provider: Schema.String,
  operation: Schema.String,
  key: Schema.String,
  reason: StorageFailure,
  detail: Schema.String
}) {
  override get message() {
    return `provider ${this.provider}: ${this.operation} ${this.key}: ${this.detail}${hintFor(this.detail)}`
  }
  get isRetryable() {
    return this.reason === "Transient"
  }
}

/** A bucket (or Azure container) that does not exist: what to do, in config-dir and `--repo` use alike. */
export const bucketMissing = (bucket: string, what = "bucket") =>
  `${what} ${bucket} does not exist; create it, or fix its name (\`bucket\` in enigma.toml, or the --repo URL)`

/**
 * The storage port: deliberately small and dumb (restic's Backend, kopia's Storage). Bytes in,
 * bytes out; no crypto, retries or placement — those live above it.
 *
 * Contract every provider meets:
 * - `put` is atomic: a reader sees the old object, the new one, or none — never a partial one;
 *   when `put` succeeds the object is durable.
 * - `get` of a missing key fails with reason `NotFound`.
 * - `putStream` is as atomic as `put` (a failed or interrupted body leaves the old object or
 *   none) and holds a bounded number of blocks in memory, whatever the body's length.
 * - `getRange`/`getStream` give the bytes [offset, offset + length), fewer at the end of the
 *   object and none from an offset past its end; a missing key fails with `NotFound`.
 * - `list(prefix)` streams every key that starts with `prefix`, in no particular order.
 * - `delete` of a missing key succeeds (idempotent).
 */
export interface StorageProvider {
  readonly name: string
  readonly kind: string
  /**
   * `put` writes a body given as parts as they are (writev), without joining them into one buffer
   * first. ChunkStore then seals a chunk as parts, saving a chunk-sized buffer and its copy.
   */
  readonly writesParts?: boolean
  /** `body` may be given as parts, stored concatenated in order (saves a copy of large bodies). */
  readonly put: (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>, options?: PutObjectOptions) => Effect.Effect<void, StorageError>
  /** The whole object, in a buffer of its own: the caller may free it (ReleaseBuffers) when done. */
  readonly get: (key: string) => Effect.Effect<Uint8Array, StorageError>
  /** A body of unknown length, stored as one object once the stream ends; a failing stream stores nothing. */
  readonly putStream: <E>(
    key: string,
    body: Stream.Stream<Uint8Array, E>,
    options?: PutObjectOptions
  ) => Effect.Effect<void, StorageError | E>
  /** The bytes [offset, offset + length) of the object: shorter at its end, empty past it. */
  readonly getRange: (key: string, offset: number, length: number) => Effect.Effect<Uint8Array, StorageError>
  /** The object, or a range of it (no length: to the end), as a stream of blocks, never held whole. */
  readonly getStream: (key: string, range?: ByteRange) => Stream.Stream<Uint8Array, StorageError>
  /** Size of the object, or undefined when it does not exist. */
  readonly head: (key: string) => Effect.Effect<number | undefined, StorageError>
  readonly delete: (key: string) => Effect.Effect<void, StorageError>
  readonly list: (prefix: string) => Stream.Stream<string, StorageError>
  /**
   * Where a listing gives each object's size at no extra cost (S3, Azure, GCS: up to 1,000 keys a
   * request): every key under `prefix` with its size (undefined if this listing lacked it).
   * `verify` and `repair` find which chunk copies are there, with their sizes, a page at a time
   * instead of one HEAD per copy.
   */
  readonly listSized?: (prefix: string) => Stream.Stream<ListedObject, StorageError>
  /**
   * Checks that the provider answers and its objects can be read (a Local directory on a disk
   * mounted read-only passes: it can be verified and restored from). It creates nothing.
   */
  readonly check: Effect.Effect<void, StorageError>
  /**
   * Where a provider's location can be made (Local: its directory): makes it, for a new
   * repository (`init`, a first `put --repo file://…`), then checks it can be written. Every
   * other command only checks, so that a missing location (an unmounted disk) is an error, not
   * a new empty directory on whatever lies below it.
   */
  readonly create?: Effect.Effect<void, StorageError>
  /**
   * Only on providers with archive storage classes (S3 GLACIER, DEEP_ARCHIVE): asks for a
   * temporary readable copy of a cold object for `days`. Idempotent: "not-cold" (readable as
   * is), "ready" (a thawed copy is readable), "in-progress" (asked before, not done yet) or
   * "requested" (asked now). A missing key fails with reason `NotFound`.
   */
  readonly thaw?: (key: string, options: ThawOptions) => Effect.Effect<ThawState, StorageError>
  /**
   * Only on providers where an interrupted write leaves something behind that the provider never
   * removes by itself: Local, the temp file of a writer killed mid-write; S3, an incomplete
   * multipart upload (normally aborted on failure; a kill -9 skips that). Removes those under
   * `prefix` older than `olderThanMs` (with `dryRun`, only finds them) and returns their names.
   * Azure's uncommitted blocks and GCS's resumable sessions expire on their own (7 days).
   */
  readonly sweepIncomplete?: (prefix: string, olderThanMs: number, dryRun: boolean) => Effect.Effect<ReadonlyArray<string>, StorageError>
}

export interface ListedObject {
  readonly key: string
  readonly size: number | undefined
}

export interface ByteRange {
  readonly offset: number
  /** Absent: to the end of the object. */
  readonly length?: number | undefined
}

export interface PutObjectOptions {
  /** A storage class for this object on providers that have them (S3); others ignore it. */
  readonly storageClass?: string | undefined
}

export type ThawTier = "Standard" | "Bulk" | "Expedited"
export interface ThawOptions {
  readonly days: number
  readonly tier: ThawTier
}
export type ThawState = "not-cold" | "ready" | "in-progress" | "requested"

/** Where things live inside a provider. Only opaque ids and sequence numbers appear in keys. */
export const Keys = {
  keystore: "keys/keystore",
  chunk: (id: string) => `chunks/${id.slice(0, 2)}/${id}`,
  chunkPrefix: "chunks/",
  chunkIdOf: (key: string) => key.slice(key.lastIndexOf("/") + 1),
  segment: (first: number, last: number) =>
    `log/${String(first).padStart(12, "0")}-${String(last).padStart(12, "0")}`,
  segmentPrefix: "log/",
  lock: (id: string) => `locks/${id}`,
  lockPrefix: "locks/",
  /** Every prefix the repository writes under: what is outside belongs to someone else. */
  namespaces: ["chunks/", "keys/", "log/", "locks/"]
} as const
