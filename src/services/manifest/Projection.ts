import type { DatabaseSync, StatementSync } from "node:sqlite"
import type { Event } from "../../domain/Events.ts"

/**
 * The query tables are projections of the event log. `projectionDdl` creates them, `Projector`
 * applies one event (inside the caller's transaction). Replaying every event into empty tables
 * yields the same tables — `EventLog.rebuildProjections` relies on it and a test checks it.
 *
 * Everything here is a function of the event (and earlier events): no clock, no randomness.
 */

export const logDdl = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  term INTEGER NOT NULL DEFAULT 0,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  body TEXT NOT NULL
);
-- Local bookkeeping, not a projection: e.g. how far the log has been sealed into segments.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

/**
 * Bump when the projection tables change: databases with older tables rebuild them from the log,
 * unless `projectionMigrations` brings them up in place.
 */
export const projectionVersion = 16

/**
 * SQL that takes tables of version N to N + 1 in place, where the change allows it (a column
 * added, NULL in every older row): no replay of the log, which takes ~20 µs per file entry (half
 * an hour for a repository of 100 backups of a million files). The result must equal a replay's.
 */
export const projectionMigrations: Readonly<Record<number, string>> = {
  // Special files (15 → 16): a device node's number; older backups recorded none.
  15: "ALTER TABLE files ADD COLUMN rdev INTEGER"
}

export const projectionTables = ["backups", "files", "backup_chunks", "chunks", "logs", "streams", "stream_chunks", "buckets", "objects", "multipart_uploads", "multipart_parts"] as const

export const projectionDdl = `
CREATE TABLE IF NOT EXISTS backups (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,            -- running | committed | abandoned
  started_at INTEGER NOT NULL,
  committed_at INTEGER,
  host TEXT NOT NULL,
  paths TEXT NOT NULL,             -- JSON array of the absolute paths backed up
  parent TEXT,
  stats TEXT,                      -- JSON BackupStats, once committed
  tags TEXT NOT NULL DEFAULT '[]'  -- JSON array of backup --tag labels
);
CREATE TABLE IF NOT EXISTS files (
  backup_id TEXT NOT NULL,
  path TEXT NOT NULL,
  kind TEXT NOT NULL,
  mode INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  size INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  ctime_ms REAL NOT NULL,
  target TEXT,
  extents TEXT NOT NULL,           -- JSON [[chunk id, offset, length], …]
  uid INTEGER,                     -- NULL: not recorded (an older backup)
  gid INTEGER,
  link_to TEXT,                    -- a hard link: the path of the file it shares its inode with
  xattrs TEXT,                     -- JSON [[name, base64 value], …]; NULL: none
  rdev INTEGER,                    -- a device node's device number; NULL for every other kind
  PRIMARY KEY (backup_id, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS backup_chunks (
  backup_id TEXT NOT NULL,
  chunk_id TEXT NOT NULL,
  PRIMARY KEY (backup_id, chunk_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS backup_chunks_by_chunk ON backup_chunks (chunk_id);
CREATE TABLE IF NOT EXISTS chunks (
  id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  stored_size INTEGER NOT NULL,
  compressed INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  placement TEXT NOT NULL,         -- JSON array of provider names, in read order
  format TEXT NOT NULL,            -- envelope | age
  refcount INTEGER NOT NULL        -- committed backups + stream chunk slots + object extents referencing it
);
CREATE TABLE IF NOT EXISTS streams (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL,            -- running (interrupted or in progress: resumable) | committed
  started_at INTEGER NOT NULL,
  committed_at INTEGER,
  host TEXT NOT NULL,
  chunking TEXT NOT NULL,
  tags TEXT NOT NULL,              -- JSON [[key, value], …]
  encryption TEXT,                 -- JSON {"age": [recipients]} or {"none": true}; NULL: the repository's keys
  storage_class TEXT,              -- put --storage-class
  chunks INTEGER,
  bytes INTEGER,
  chain TEXT                       -- the final chain link, once committed
);
CREATE INDEX IF NOT EXISTS streams_by_name ON streams (name);
CREATE TABLE IF NOT EXISTS stream_chunks (
  stream_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  chunk_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  sha3 TEXT NOT NULL,
  chain TEXT NOT NULL,
  PRIMARY KEY (stream_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_chunks_by_chunk ON stream_chunks (chunk_id);
CREATE TABLE IF NOT EXISTS buckets (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
-- A rowid table, not WITHOUT ROWID: an object's row can be far larger than a page (inline content,
-- the extents of a large object), and SQLite compares such rows whole while searching a WITHOUT
-- ROWID b-tree, reading their overflow pages past the page cache: ~7 preads per lookup. Here the
-- key lives in a compact index, and the large columns come last, so metadata is read without them.
CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,              -- hex MD5 of the content
  content_type TEXT,
  meta TEXT NOT NULL,              -- JSON [[name, value], …]
  headers TEXT,                    -- JSON {contentEncoding?, contentDisposition?, cacheControl?, contentLanguage?, expires?}
  modified_at INTEGER NOT NULL,
  checksum TEXT,                   -- JSON {algorithm, value} of a verified x-amz-checksum-*, or NULL
  part_sizes TEXT,                 -- JSON [size, …] of the parts of a multipart upload, in order (GET ?partNumber); NULL otherwise
  extents TEXT NOT NULL,           -- JSON [[chunk id, offset, length], …]; one chunk reference per extent
  inline BLOB,                     -- the content of a small object (extents then [])
  PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS multipart_uploads (
  upload_id TEXT PRIMARY KEY,      -- sorts by initiation time (see gateway/Multipart.ts)
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  initiated_at INTEGER NOT NULL,
  content_type TEXT,
  meta TEXT NOT NULL,              -- JSON [[name, value], …]
  headers TEXT                     -- as objects.headers; the completed object takes them
);
CREATE INDEX IF NOT EXISTS multipart_uploads_by_key ON multipart_uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS multipart_parts (  -- a rowid table, as objects (large extents)
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,              -- hex MD5 of the part
  uploaded_at INTEGER NOT NULL,
  extents TEXT NOT NULL,           -- JSON [[chunk id, offset, length], …]; one chunk reference per extent
  PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE IF NOT EXISTS logs (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  backup_id TEXT,
  message TEXT NOT NULL
);
`

/** The kept standard headers of an ObjectPut (or a multipart upload's start) as the `headers` column: NULL when there are none. */
const keptHeadersJson = (e: Extract<Event, { _tag: "ObjectPut" | "MultipartStarted" }>): string | null => {
  const h: Record<string, unknown> = {}
  if (e.contentEncoding !== undefined) h.contentEncoding = e.contentEncoding
  if (e.contentDisposition !== undefined) h.contentDisposition = e.contentDisposition
  if (e.cacheControl !== undefined) h.cacheControl = e.cacheControl
  if (e.contentLanguage !== undefined) h.contentLanguage = e.contentLanguage
  if (e.expires !== undefined) h.expires = e.expires
  return withTags(h, e.tags)
}

/** A `headers` column value with `tags` set (or, for none, removed). */
const withTags = (h: Record<string, unknown>, tags: ReadonlyArray<readonly [string, string]> | undefined): string | null => {
  const out = { ...h }
  if (tags !== undefined && tags.length > 0) out.tags = tags
  else delete out.tags
  return Object.keys(out).length > 0 ? JSON.stringify(out) : null
}

/** Prepared statements for applying events; build once per connection. */
export const makeProjector = (db: DatabaseSync) => {
  const s = (sql: string): StatementSync => db.prepare(sql)
  const insertLog = s("INSERT INTO logs (seq, at, backup_id, message) VALUES (?, ?, ?, ?)")
  const upsertChunk = s(`INSERT INTO chunks (id, size, stored_size, compressed, key_id, placement, format, refcount)
    VALUES (?, ?, ?, ?, ?, ?, ?, 0)
    ON CONFLICT (id) DO UPDATE SET size = excluded.size, stored_size = excluded.stored_size,
      compressed = excluded.compressed, key_id = excluded.key_id, placement = excluded.placement, format = excluded.format`)
  const deleteChunk = s("DELETE FROM chunks WHERE id = ?")
  const insertBackup = s(
    "INSERT INTO backups (id, status, started_at, host, paths, parent, tags) VALUES (?, 'running', ?, ?, ?, ?, ?)"
  )
  const insertFile = s(`INSERT OR REPLACE INTO files
    (backup_id, path, kind, mode, mtime_ms, size, ino, ctime_ms, target, extents, uid, gid, link_to, xattrs, rdev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const insertBackupChunk = s("INSERT OR IGNORE INTO backup_chunks (backup_id, chunk_id) VALUES (?, ?)")
  const commitBackup = s("UPDATE backups SET status = 'committed', committed_at = ?, stats = ? WHERE id = ?")
  const addRefs = s(
    "UPDATE chunks SET refcount = refcount + ? WHERE id IN (SELECT chunk_id FROM backup_chunks WHERE backup_id = ?)"
  )
  const statusOf = s("SELECT status FROM backups WHERE id = ?")
  const setStatus = s("UPDATE backups SET status = ? WHERE id = ?")
  const setTags = s("UPDATE backups SET tags = ? WHERE id = ?")
  const deleteFiles = s("DELETE FROM files WHERE backup_id = ?")
  const deleteBackupChunks = s("DELETE FROM backup_chunks WHERE backup_id = ?")
  const deleteBackup = s("DELETE FROM backups WHERE id = ?")
  const insertStream = s(`INSERT INTO streams (id, name, status, started_at, host, chunking, tags, encryption, storage_class)
    VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)`)
  const insertStreamChunk = s(`INSERT OR IGNORE INTO stream_chunks (stream_id, idx, chunk_id, size, sha256, sha3, chain)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const addRef = s("UPDATE chunks SET refcount = refcount + ? WHERE id = ?")
  const setPlacement = s("UPDATE chunks SET placement = ? WHERE id = ?")
  // One reference per chunk slot of a stream (a chunk repeated in a stream counts each time).
  const releaseStreamRefs = s(`UPDATE chunks SET refcount = refcount -
      (SELECT COUNT(*) FROM stream_chunks sc WHERE sc.stream_id = ?1 AND sc.idx >= ?2 AND sc.chunk_id = chunks.id)
    WHERE id IN (SELECT chunk_id FROM stream_chunks WHERE stream_id = ?1 AND idx >= ?2)`)
  const deleteStreamChunks = s("DELETE FROM stream_chunks WHERE stream_id = ? AND idx >= ?")
  const commitStream = s("UPDATE streams SET status = 'committed', committed_at = ?, chunks = ?, bytes = ?, chain = ? WHERE id = ?")
  const streamName = s("SELECT name FROM streams WHERE id = ?")
  const deleteStream = s("DELETE FROM streams WHERE id = ?")

  const insertBucket = s("INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?, ?)")
  const bucketExists = s("SELECT 1 AS x FROM buckets WHERE name = ?")
  const deleteBucket = s("DELETE FROM buckets WHERE name = ?")
  const objectExtents = s("SELECT extents FROM objects WHERE bucket = ? AND key = ?")
  const bucketObjects = s("SELECT extents FROM objects WHERE bucket = ?")
  const upsertObject = s(`INSERT OR REPLACE INTO objects (bucket, key, size, etag, content_type, meta, headers, extents, inline, modified_at, checksum, part_sizes)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const deleteObject = s("DELETE FROM objects WHERE bucket = ? AND key = ?")
  const deleteBucketObjects = s("DELETE FROM objects WHERE bucket = ?")
  const adjustRefs = (extentsJson: string, delta: number) => {
    for (const e of JSON.parse(extentsJson) as Array<[string, number, number]>) addRef.run(delta, e[0])
  }
  const releaseObject = (bucket: string, key: string) => {
    const row = objectExtents.get(bucket, key) as { extents: string } | undefined
    if (row) adjustRefs(row.extents, -1)
  }

  const objectHeaders = s("SELECT headers FROM objects WHERE bucket = ? AND key = ?")
  const setObjectHeaders = s("UPDATE objects SET headers = ? WHERE bucket = ? AND key = ?")
  const insertUpload = s(`INSERT OR IGNORE INTO multipart_uploads (upload_id, bucket, key, initiated_at, content_type, meta, headers)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const uploadRow = s("SELECT bucket, key, content_type, meta, headers FROM multipart_uploads WHERE upload_id = ?")
  const bucketUploads = s("SELECT upload_id FROM multipart_uploads WHERE bucket = ?")
  const deleteUpload = s("DELETE FROM multipart_uploads WHERE upload_id = ?")
  const partExtents = s("SELECT extents, size FROM multipart_parts WHERE upload_id = ? AND part_number = ?")
  const uploadPartExtents = s("SELECT extents FROM multipart_parts WHERE upload_id = ?")
  const upsertPart = s(`INSERT OR REPLACE INTO multipart_parts (upload_id, part_number, size, etag, extents, uploaded_at)
    VALUES (?, ?, ?, ?, ?, ?)`)
  const deleteParts = s("DELETE FROM multipart_parts WHERE upload_id = ?")
  /** Drops an upload and its parts, releasing every part's chunk references. */
  const dropUpload = (uploadId: string) => {
    for (const row of uploadPartExtents.all(uploadId) as Array<{ extents: string }>) adjustRefs(row.extents, -1)
    deleteParts.run(uploadId)
    deleteUpload.run(uploadId)
  }

  const dropBackupContents = (id: string) => {
    deleteFiles.run(id)
    deleteBackupChunks.run(id)
  }

  return (seq: number, event: Event): void => {
    switch (event._tag) {
      case "RepositoryInitialized":
        insertLog.run(seq, event.at, null, `repository ${event.repositoryId} initialized`)
        return
      case "KeyRotated":
        insertLog.run(seq, event.at, null, `key ${event.keyId} added and made current`)
        return
      case "ChunkStored":
        upsertChunk.run(
          event.id,
          event.size,
          event.storedSize,
          event.compressed ? 1 : 0,
          event.keyId,
          JSON.stringify(event.placement),
          event.format ?? "envelope"
        )
        return
      case "ChunkDeleted":
        deleteChunk.run(event.id)
        return
      case "ChunkPlaced":
        setPlacement.run(JSON.stringify(event.placement), event.id)
        return
      case "BackupStarted":
        insertBackup.run(event.backupId, event.at, event.host, JSON.stringify(event.paths), event.parent ?? null, JSON.stringify(event.tags ?? []))
        insertLog.run(seq, event.at, event.backupId, `backup started: ${event.paths.join(", ")}`)
        return
      case "FilesRecorded":
        for (const f of event.files) {
          insertFile.run(
            event.backupId,
            f.path,
            f.kind,
            f.mode,
            f.mtimeMs,
            f.size,
            f.ino,
            f.ctimeMs,
            f.target ?? null,
            JSON.stringify(f.extents),
            f.uid ?? null,
            f.gid ?? null,
            f.linkTo ?? null,
            f.xattrs !== undefined ? JSON.stringify(f.xattrs) : null,
            f.rdev ?? null
          )
          for (const e of f.extents) insertBackupChunk.run(event.backupId, e[0])
        }
        return
      case "BackupCommitted":
        commitBackup.run(event.at, JSON.stringify(event.stats), event.backupId)
        addRefs.run(1, event.backupId)
        insertLog.run(
          seq,
          event.at,
          event.backupId,
          `backup committed: ${event.stats.files} files, ${event.stats.bytes} bytes, ${event.stats.newBytes} new bytes`
        )
        return
      case "BackupAbandoned":
        setStatus.run("abandoned", event.backupId)
        dropBackupContents(event.backupId)
        insertLog.run(seq, event.at, event.backupId, "incomplete backup abandoned")
        return
      case "BackupForgotten": {
        const row = statusOf.get(event.backupId) as { status: string } | undefined
        if (row?.status === "committed") addRefs.run(-1, event.backupId)
        dropBackupContents(event.backupId)
        deleteBackup.run(event.backupId)
        insertLog.run(seq, event.at, event.backupId, "backup forgotten")
        return
      }
      case "BackupTagged":
        setTags.run(JSON.stringify(event.tags), event.backupId)
        insertLog.run(seq, event.at, event.backupId, `backup tags set to [${event.tags.join(",")}]`)
        return
      case "StreamStarted":
        insertStream.run(event.streamId, event.name, event.at, event.host, event.chunking, JSON.stringify(event.tags),
          event.encryption ? JSON.stringify(event.encryption) : null, event.storageClass ?? null)
        insertLog.run(seq, event.at, null, `stream ${event.name} (${event.streamId}) started`)
        return
      case "StreamChunkAppended": {
        const r = insertStreamChunk.run(event.streamId, event.index, event.chunkId, event.size, event.sha256, event.sha3, event.chain)
        if (Number(r.changes) > 0) addRef.run(1, event.chunkId)
        return
      }
      case "StreamTruncated":
        releaseStreamRefs.run(event.streamId, event.chunks)
        deleteStreamChunks.run(event.streamId, event.chunks)
        return
      case "StreamCommitted":
        commitStream.run(event.at, event.chunks, event.bytes, event.chain, event.streamId)
        insertLog.run(seq, event.at, null, `stream ${(streamName.get(event.streamId) as { name: string } | undefined)?.name} committed: ${event.bytes} bytes in ${event.chunks} chunks`)
        return
      case "StreamForgotten": {
        const name = (streamName.get(event.streamId) as { name: string } | undefined)?.name
        releaseStreamRefs.run(event.streamId, 0)
        deleteStreamChunks.run(event.streamId, 0)
        deleteStream.run(event.streamId)
        insertLog.run(seq, event.at, null, `stream ${name} (${event.streamId}) forgotten`)
        return
      }
      case "BucketCreated":
        insertBucket.run(event.bucket, event.at)
        return
      case "BucketDeleted":
        for (const u of bucketUploads.all(event.bucket) as Array<{ upload_id: string }>) dropUpload(u.upload_id)
        for (const row of bucketObjects.all(event.bucket) as Array<{ extents: string }>) adjustRefs(row.extents, -1)
        deleteBucketObjects.run(event.bucket)
        deleteBucket.run(event.bucket)
        return
      case "ObjectPut": {
        // A put that raced a bucket deletion lands nowhere (and holds no references).
        if (bucketExists.get(event.bucket) === undefined) return
        releaseObject(event.bucket, event.key)
        const extents = JSON.stringify(event.extents)
        upsertObject.run(event.bucket, event.key, event.size, event.etag, event.contentType ?? null,
          JSON.stringify(event.meta), keptHeadersJson(event), extents,
          event.inline !== undefined ? Buffer.from(event.inline, "base64") : null, event.at,
          event.checksum !== undefined ? JSON.stringify(event.checksum) : null, null)
        adjustRefs(extents, 1)
        return
      }
      case "ObjectDeleted":
        releaseObject(event.bucket, event.key)
        deleteObject.run(event.bucket, event.key)
        return
      case "ObjectTagged": {
        const row = objectHeaders.get(event.bucket, event.key) as { headers: string | null } | undefined
        if (row === undefined) return // deleted in between: nothing to tag
        setObjectHeaders.run(withTags(row.headers === null ? {} : JSON.parse(row.headers), event.tags), event.bucket, event.key)
        return
      }
      case "MultipartStarted":
        if (bucketExists.get(event.bucket) === undefined) return
        insertUpload.run(event.uploadId, event.bucket, event.key, event.at, event.contentType ?? null, JSON.stringify(event.meta), keptHeadersJson(event))
        return
      case "PartUploaded": {
        // A part that raced an abort, a completion or a bucket deletion lands nowhere.
        if (uploadRow.get(event.uploadId) === undefined) return
        const old = partExtents.get(event.uploadId, event.partNumber) as { extents: string } | undefined
        if (old) adjustRefs(old.extents, -1)
        const extents = JSON.stringify(event.extents)
        upsertPart.run(event.uploadId, event.partNumber, event.size, event.etag, extents, event.at)
        adjustRefs(extents, 1)
        return
      }
      case "MultipartCompleted": {
        const u = uploadRow.get(event.uploadId) as { bucket: string; key: string; content_type: string | null; meta: string; headers: string | null } | undefined
        if (u === undefined) return
        const stitched: Array<unknown> = []
        const sizes: Array<number> = []
        for (const n of event.parts) {
          const part = partExtents.get(event.uploadId, n) as { extents: string; size: number } | undefined
          if (part) {
            stitched.push(...(JSON.parse(part.extents) as Array<unknown>))
            sizes.push(Number(part.size))
          }
        }
        const extents = JSON.stringify(stitched)
        releaseObject(u.bucket, u.key)
        upsertObject.run(u.bucket, u.key, event.size, event.etag, u.content_type, u.meta, u.headers, extents, null, event.at, null, JSON.stringify(sizes))
        // The object takes its own references; dropping the upload then releases the parts' (listed or not).
        adjustRefs(extents, 1)
        dropUpload(event.uploadId)
        return
      }
      case "MultipartAborted":
        dropUpload(event.uploadId)
        return
    }
  }
}
