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

export const EntryKind = Schema.Literals(["file", "dir", "symlink"])
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
  extents: Schema.Array(Extent)
})
export type FileEntry = typeof FileEntry.Type

export const BackupStats = Schema.Struct({
  files: Schema.Number,
  dirs: Schema.Number,
  symlinks: Schema.Number,
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
  placement: Schema.Array(Schema.String)
})
export const ChunkDeleted = Schema.TaggedStruct("ChunkDeleted", { id: Schema.String })
export const BackupStarted = Schema.TaggedStruct("BackupStarted", {
  backupId: Schema.String,
  at: Schema.Number,
  host: Schema.String,
  paths: Schema.Array(Schema.String),
  parent: Schema.optionalKey(Schema.String)
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

export const Event = Schema.Union([
  RepositoryInitialized,
  KeyRotated,
  ChunkStored,
  ChunkDeleted,
  BackupStarted,
  FilesRecorded,
  BackupCommitted,
  BackupAbandoned,
  BackupForgotten
])
export type Event = typeof Event.Type
export type EventTag = Event["_tag"]
