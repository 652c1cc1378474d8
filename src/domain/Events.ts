import { Schema } from "effect"

/**
 * Every change to a repository is one of these events, appended to the log. The query tables
 * (backups, files, chunks, logs) are projections of the log: `Projection.ts` applies each
 * event, and replaying the log into empty tables rebuilds them exactly.
 *
 * Events are plain tagged structs (JSON in the log body). Fields are only ever added, never
 * renamed, so old logs keep decoding.
 */

/** [chunk id, offset inside the chunk's plaintext, length] */
export const Extent = Schema.Tuple([Schema.String, Schema.Number, Schema.Number])
export type Extent = typeof Extent.Type

/** fifo, chardev, blockdev: special files (SpecialFiles.ts); they have no extents. */
export const EntryKind = Schema.Literals(["file", "dir", "symlink", "fifo", "chardev", "blockdev"])
export type EntryKind = typeof EntryKind.Type

export const FileEntry = Schema.Struct({
  path: Schema.String,
  kind: EntryKind,
  mode: Schema.Number,
  mtimeMs: Schema.Number,
  size: Schema.Number,
  ino: Schema.Number,
  ctimeMs: Schema.Number,
  target: Schema.optionalKey(Schema.String),
  /** A device node's device number (lstat's rdev); absent for every other kind. */
  rdev: Schema.optionalKey(Schema.Number),
  extents: Schema.Array(Extent),
  /** Numeric owner and group (absent in backups made before they were recorded). */
  uid: Schema.optionalKey(Schema.Number),
  gid: Schema.optionalKey(Schema.Number),
  /**
   * A hard link: the path of the file it shares its inode with, recorded earlier in the same
   * backup. Its own extents are recorded too, so it restores on its own when that file is not.
   */
  linkTo: Schema.optionalKey(Schema.String),
  /** Extended attributes (user.*, security.*, POSIX ACLs…): [name, value as base64], by name; absent when none. */
  xattrs: Schema.optionalKey(Schema.Array(Schema.Tuple([Schema.String, Schema.String])))
})
export type FileEntry = typeof FileEntry.Type

export const BackupStats = Schema.Struct({
  files: Schema.Number,
  dirs: Schema.Number,
  symlinks: Schema.Number,
  /** FIFOs and device nodes (absent in backups made before they were recorded, and when none). */
  specials: Schema.optionalKey(Schema.Number),
  bytes: Schema.Number,
  bytesRead: Schema.Number,
  newChunks: Schema.Number,
  newBytes: Schema.Number,
  storedNewBytes: Schema.Number,
  durationMs: Schema.Number,
  warnings: Schema.Number
})
export type BackupStats = typeof BackupStats.Type

export const RepositoryInitialized = Schema.TaggedStruct("RepositoryInitialized", {
  repositoryId: Schema.String,
  at: Schema.Number
})
export const KeyRotated = Schema.TaggedStruct("KeyRotated", { keyId: Schema.Number, at: Schema.Number })
export const ChunkStored = Schema.TaggedStruct("ChunkStored", {
  id: Schema.String,
  size: Schema.Number,
  storedSize: Schema.Number,
  compressed: Schema.Boolean,
  keyId: Schema.Number,
  placement: Schema.Array(Schema.String),
  /** Absent: an envelope under the repository's data key `keyId`. "age": a stand-alone age file; "plain": the plaintext. */
  format: Schema.optionalKey(Schema.Literals(["age", "plain"]))
})
export const ChunkDeleted = Schema.TaggedStruct("ChunkDeleted", { id: Schema.String })
/** `enigma repair` moved a chunk's copies: the providers that hold it now, in read order. */
export const ChunkPlaced = Schema.TaggedStruct("ChunkPlaced", { id: Schema.String, placement: Schema.Array(Schema.String) })
export const BackupStarted = Schema.TaggedStruct("BackupStarted", {
  backupId: Schema.String,
  at: Schema.Number,
  host: Schema.String,
  paths: Schema.Array(Schema.String),
  parent: Schema.optionalKey(Schema.String),
  /** `backup --tag`: labels to find and select backups by (list, forget). */
  tags: Schema.optionalKey(Schema.Array(Schema.String))
})
/** Files are recorded in batches: one event per few hundred entries keeps the log compact. */
export const FilesRecorded = Schema.TaggedStruct("FilesRecorded", {
  backupId: Schema.String,
  files: Schema.Array(FileEntry)
})
export const BackupCommitted = Schema.TaggedStruct("BackupCommitted", {
  backupId: Schema.String,
  at: Schema.Number,
  stats: BackupStats
})
/** A backup that never committed (its process died); recorded by gc before reclaiming. */
export const BackupAbandoned = Schema.TaggedStruct("BackupAbandoned", { backupId: Schema.String, at: Schema.Number })
export const BackupForgotten = Schema.TaggedStruct("BackupForgotten", { backupId: Schema.String, at: Schema.Number })
/** `enigma tag`: a committed backup's labels replaced by `tags` (the whole new list, so replay is plain). */
export const BackupTagged = Schema.TaggedStruct("BackupTagged", { backupId: Schema.String, at: Schema.Number, tags: Schema.Array(Schema.String) })

/**
 * Pipe mode (`enigma put NAME`): a named stream of chunks. Each chunk carries SHA-256 and
 * SHA3-256 of its plaintext and a link of the HMAC chain (see services/pipe/StreamChain.ts), so
 * a missing, altered or reordered chunk is detected before its bytes are written out. The chunk
 * events are also the resume log: after a crash, `put NAME` with the same input checks each chunk
 * against them instead of uploading it again. Chunks count as references from the moment they
 * are appended, so gc keeps an interrupted stream resumable until it is forgotten.
 */
export const StreamStarted = Schema.TaggedStruct("StreamStarted", {
  streamId: Schema.String,
  name: Schema.String,
  at: Schema.Number,
  host: Schema.String,
  /** "cdc:<target size>" or "fixed:<size>": a resume must cut the input the same way. */
  chunking: Schema.String,
  tags: Schema.Array(Schema.Tuple([Schema.String, Schema.String])),
  /** Absent: the repository's keys. `age`: age files to these recipients. `none`: stored in the clear (--no-encrypt). */
  /** `put --storage-class`: the S3 storage class of the stream's chunks. */
  storageClass: Schema.optionalKey(Schema.String),
  encryption: Schema.optionalKey(Schema.Union([
    Schema.Struct({ age: Schema.Array(Schema.String) }),
    Schema.Struct({ none: Schema.Literal(true) })
  ]))
})
export const StreamChunkAppended = Schema.TaggedStruct("StreamChunkAppended", {
  streamId: Schema.String,
  index: Schema.Number,
  chunkId: Schema.String,
  size: Schema.Number,
  sha256: Schema.String,
  sha3: Schema.String,
  chain: Schema.String
})
/** A resume with a shorter input (--no-strict-resume): the logged chunks from `chunks` on are dropped. */
export const StreamTruncated = Schema.TaggedStruct("StreamTruncated", { streamId: Schema.String, chunks: Schema.Number })
export const StreamCommitted = Schema.TaggedStruct("StreamCommitted", {
  streamId: Schema.String,
  at: Schema.Number,
  chunks: Schema.Number,
  bytes: Schema.Number,
  chain: Schema.String
})
export const StreamForgotten = Schema.TaggedStruct("StreamForgotten", { streamId: Schema.String, at: Schema.Number })

/**
 * S3 gateway (`enigma proxy`): buckets and objects. An object becomes visible only when its
 * ObjectPut is appended, after every chunk it lists is stored; each extent slot holds one chunk
 * reference, released by an overwrite (a later ObjectPut of the same key) or an ObjectDeleted.
 */
export const BucketCreated = Schema.TaggedStruct("BucketCreated", { bucket: Schema.String, at: Schema.Number })
export const BucketDeleted = Schema.TaggedStruct("BucketDeleted", { bucket: Schema.String, at: Schema.Number })
/**
 * The standard headers an object keeps from its PutObject (or CopyObject with REPLACE) and
 * returns on GET/HEAD, verbatim. Content-Type predates them and has its own field.
 */
export const ObjectHeaderFields = {
  contentEncoding: Schema.optionalKey(Schema.String),
  contentDisposition: Schema.optionalKey(Schema.String),
  cacheControl: Schema.optionalKey(Schema.String),
  contentLanguage: Schema.optionalKey(Schema.String),
  expires: Schema.optionalKey(Schema.String),
  /** Object tags (`x-amz-tagging`), in the order given; absent when there are none. */
  tags: Schema.optionalKey(Schema.Array(Schema.Tuple([Schema.String, Schema.String])))
}
export const ObjectPut = Schema.TaggedStruct("ObjectPut", {
  bucket: Schema.String,
  key: Schema.String,
  at: Schema.Number,
  size: Schema.Number,
  /** Hex MD5 of the content (no quotes). */
  etag: Schema.String,
  contentType: Schema.optionalKey(Schema.String),
  /** User metadata (`x-amz-meta-NAME`), names in lower case. */
  meta: Schema.Array(Schema.Tuple([Schema.String, Schema.String])),
  extents: Schema.Array(Extent),
  /**
   * A small object's content itself, base64 (extents then empty): no chunk object per tiny PUT.
   * As durable as any event: in the local log at once, sealed (encrypted) to every provider.
   */
  inline: Schema.optionalKey(Schema.String),
  ...ObjectHeaderFields,
  /** The x-amz-checksum-* the client sent and the gateway verified: algorithm (CRC32C…) and base64 value. */
  checksum: Schema.optionalKey(Schema.Struct({ algorithm: Schema.String, value: Schema.String }))
})
export const ObjectDeleted = Schema.TaggedStruct("ObjectDeleted", { bucket: Schema.String, key: Schema.String, at: Schema.Number })
/** PutObjectTagging (DeleteObjectTagging: no tags): the object's tags replaced, its content and other headers kept. */
export const ObjectTagged = Schema.TaggedStruct("ObjectTagged", {
  bucket: Schema.String,
  key: Schema.String,
  at: Schema.Number,
  tags: Schema.Array(Schema.Tuple([Schema.String, Schema.String]))
})

/**
 * Multipart uploads. An upload is invisible to object reads until MultipartCompleted; each part
 * is acknowledged to the client only once its PartUploaded is appended, after its chunks are
 * stored. A part's extents hold one chunk reference each from PartUploaded on (so gc keeps the
 * chunks of an upload in progress); a re-uploaded part number releases the part it replaces.
 * MultipartCompleted turns the listed parts' extents, in order, into the object (releasing the
 * key's previous object and the parts it does not list); MultipartAborted releases every part.
 * Deleting the bucket drops its uploads with it, as S3 does for general-purpose buckets.
 */
export const MultipartStarted = Schema.TaggedStruct("MultipartStarted", {
  uploadId: Schema.String,
  bucket: Schema.String,
  key: Schema.String,
  at: Schema.Number,
  contentType: Schema.optionalKey(Schema.String),
  meta: Schema.Array(Schema.Tuple([Schema.String, Schema.String])),
  ...ObjectHeaderFields
})
export const PartUploaded = Schema.TaggedStruct("PartUploaded", {
  uploadId: Schema.String,
  partNumber: Schema.Number,
  at: Schema.Number,
  size: Schema.Number,
  /** Hex MD5 of the part's bytes (no quotes). */
  etag: Schema.String,
  extents: Schema.Array(Extent)
})
export const MultipartCompleted = Schema.TaggedStruct("MultipartCompleted", {
  uploadId: Schema.String,
  at: Schema.Number,
  /** The part numbers that make up the object, ascending. */
  parts: Schema.Array(Schema.Number),
  size: Schema.Number,
  /** Hex MD5 of the concatenated part MD5s, then "-" and the number of parts. */
  etag: Schema.String
})
export const MultipartAborted = Schema.TaggedStruct("MultipartAborted", { uploadId: Schema.String, at: Schema.Number })

export const Event = Schema.Union([
  RepositoryInitialized,
  KeyRotated,
  ChunkStored,
  ChunkDeleted,
  ChunkPlaced,
  BackupStarted,
  FilesRecorded,
  BackupCommitted,
  BackupAbandoned,
  BackupForgotten,
  BackupTagged,
  StreamStarted,
  StreamChunkAppended,
  StreamTruncated,
  StreamCommitted,
  StreamForgotten,
  BucketCreated,
  BucketDeleted,
  ObjectPut,
  ObjectDeleted,
  ObjectTagged,
  MultipartStarted,
  PartUploaded,
  MultipartCompleted,
  MultipartAborted
])
export type Event = typeof Event.Type
export type EventTag = Event["_tag"]
