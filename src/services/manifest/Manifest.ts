import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { type BackupFilter, describeFilter, everyBackup, isEveryBackup, selects } from "../../domain/BackupFilter.ts"
import type { BackupStats, Extent, FileEntry } from "../../domain/Events.ts"
import { NotFound, UserError } from "../../domain/Errors.ts"
import { SqliteDatabase } from "../sql/NodeSqliteClient.ts"
import { type ParentFiles, type ParentRow, ParentWindow } from "./ParentWindow.ts"

export interface BackupRow {
  readonly id: string
  readonly status: "running" | "committed" | "abandoned"
  readonly startedAt: number
  readonly committedAt: number | undefined
  readonly host: string
  readonly paths: ReadonlyArray<string>
  readonly parent: string | undefined
  readonly stats: BackupStats | undefined
  readonly tags: ReadonlyArray<string>
}

export interface StreamRow {
  readonly id: string
  readonly name: string
  readonly status: "running" | "committed"
  readonly startedAt: number
  readonly committedAt: number | undefined
  readonly host: string
  readonly chunking: string
  readonly tags: ReadonlyArray<readonly [string, string]>
  /** Set when the chunks are age files to these recipients (else: the repository's keys). */
  readonly ageRecipients: ReadonlyArray<string> | undefined
  /** Stored in the clear (`put --no-encrypt`). */
  readonly unencrypted: boolean
  readonly storageClass: string | undefined
  /** Committed streams: the totals and the final chain link. Running ones: what is logged so far. */
  readonly chunks: number
  readonly bytes: number
  readonly chain: string | undefined
}

export interface StreamChunkRow {
  readonly index: number
  readonly chunkId: string
  readonly size: number
  readonly sha256: string
  readonly sha3: string
  readonly chain: string
}

interface RawStream {
  id: string
  name: string
  status: StreamRow["status"]
  started_at: number
  committed_at: number | null
  host: string
  chunking: string
  tags: string
  encryption: string | null
  storage_class: string | null
  chunks: number | null
  bytes: number | null
  chain: string | null
  logged_chunks: number
  logged_bytes: number
}

export interface RepositoryTotals {
  readonly chunks: number
  readonly storedBytes: number
  readonly uniqueBytes: number
  /** Committed backups' and streams' bytes, and the gateway's objects'. */
  readonly logicalBytes: number
  readonly backups: number
  readonly streams: number
  readonly objects: number
  /** Chunks no backup, stream, object or upload references: what `gc` reclaims. */
  readonly unreferencedChunks: number
  readonly unreferencedBytes: number
  /** Streams whose put was interrupted (resumable): their chunks are kept, their bytes so far. */
  readonly interruptedStreams: number
  readonly interruptedBytes: number
}

interface RawBackup {
  id: string
  status: BackupRow["status"]
  started_at: number
  committed_at: number | null
  host: string
  paths: string
  parent: string | null
  stats: string | null
  tags: string
}
interface RawFile {
  path: string
  kind: FileEntry["kind"]
  mode: number
  mtime_ms: number
  size: number
  ino: number
  ctime_ms: number
  target: string | null
  extents: string
  uid: number | null
  gid: number | null
  link_to: string | null
  xattrs: string | null
  rdev: number | null
}

const toBackup = (r: RawBackup): BackupRow => ({
  id: r.id,
  status: r.status,
  startedAt: Number(r.started_at),
  committedAt: r.committed_at === null ? undefined : Number(r.committed_at),
  host: r.host,
  paths: JSON.parse(r.paths),
  parent: r.parent ?? undefined,
  stats: r.stats ? JSON.parse(r.stats) : undefined,
  tags: JSON.parse(r.tags ?? "[]")
})
const toFile = (r: RawFile): FileEntry => ({
  path: r.path,
  kind: r.kind,
  mode: Number(r.mode),
  mtimeMs: Number(r.mtime_ms),
  size: Number(r.size),
  ino: Number(r.ino),
  ctimeMs: Number(r.ctime_ms),
  ...(r.target !== null ? { target: r.target } : {}),
  ...(r.rdev !== null ? { rdev: Number(r.rdev) } : {}),
  extents: JSON.parse(r.extents) as Array<Extent>,
  ...(r.uid !== null ? { uid: Number(r.uid) } : {}),
  ...(r.gid !== null ? { gid: Number(r.gid) } : {}),
  ...(r.link_to !== null ? { linkTo: r.link_to } : {}),
  ...(r.xattrs !== null ? { xattrs: JSON.parse(r.xattrs) as Array<[string, string]> } : {})
})

const toStream = (r: RawStream): StreamRow => ({
  id: r.id,
  name: r.name,
  status: r.status,
  startedAt: Number(r.started_at),
  committedAt: r.committed_at === null ? undefined : Number(r.committed_at),
  host: r.host,
  chunking: r.chunking,
  tags: JSON.parse(r.tags),
  ageRecipients: r.encryption === null ? undefined : (JSON.parse(r.encryption) as { age?: Array<string> }).age,
  unencrypted: r.encryption !== null && (JSON.parse(r.encryption) as { none?: boolean }).none === true,
  storageClass: r.storage_class ?? undefined,
  chunks: Number(r.chunks ?? r.logged_chunks),
  bytes: Number(r.bytes ?? r.logged_bytes),
  chain: r.chain ?? undefined
})


export interface ChunkReferrers {
  readonly backups: ReadonlyArray<string>
  readonly streams: ReadonlyArray<string>
  readonly objects: ReadonlyArray<string>
  readonly uploads: ReadonlyArray<string>
}

/** What `find` and the checks before a restore read of an entry: not its extents. */
/** What `backup --skip-if-unchanged` compares of a recorded entry (Backup.ts). */
export interface EntryStamp {
  readonly path: string
  readonly kind: FileEntry["kind"]
  readonly mode: number
  readonly uid: number | undefined
  readonly gid: number | undefined
  readonly mtimeMs: number
  readonly size: number
  readonly ino: number
  readonly ctimeMs: number
  readonly target: string | undefined
  /** A device node's device number. */
  readonly rdev: number | undefined
  /** As stored: JSON of [[name, base64 value], …], or undefined for none. */
  readonly xattrsJson: string | undefined
}

export interface EntryHead {
  readonly path: string
  readonly kind: FileEntry["kind"]
  readonly size: number
  readonly mtimeMs: number
  /** A device node's device number. */
  readonly rdev?: number | undefined
}

/**
 * Read-only queries over the projections (through effect/sql). Writes happen only by appending
 * events to the EventLog.
 */
export class Manifest extends Context.Service<Manifest, {
  readonly backups: (status?: BackupRow["status"]) => Effect.Effect<ReadonlyArray<BackupRow>>
  /** Resolves a full id or a unique prefix (≥ 4 chars) of a committed backup. */
  /**
   * A committed backup by id, unique id prefix, or `latest` (the newest). With a filter (`--host`,
   * `--tag`), `latest` is the newest backup it selects, and an id must name one it selects.
   */
  readonly resolveBackup: (idOrPrefix: string, filter?: BackupFilter) => Effect.Effect<BackupRow, NotFound | UserError>
  /**
   * The backups a command names (`tag`, `rewrite`): those `ids` resolve to, each once, or with no
   * ids every committed backup; then only those `filter` selects.
   */
  readonly selectBackups: (
    select: { readonly ids: ReadonlyArray<string>; readonly filter: BackupFilter }
  ) => Effect.Effect<ReadonlyArray<BackupRow>, NotFound | UserError>
  readonly latestBackupFor: (host: string, paths: ReadonlyArray<string>) => Effect.Effect<string | undefined>
  readonly files: (backupId: string) => Effect.Effect<ReadonlyArray<FileEntry>>
  /**
   * Up to `limit` entries of a backup whose paths sort after `after` (from the first when
   * undefined), in path order: a restore of millions of entries reads them a window at a time.
   */
  readonly filePage: (backupId: string, after: string | undefined, limit: number) => Effect.Effect<ReadonlyArray<FileEntry>>
  /**
   * Every entry of a backup in path order, given to `visit` `limit` at a time (`filePage`): one
   * window is held at a time, however many entries the backup has.
   */
  readonly eachFilePage: <E, R>(
    backupId: string,
    limit: number,
    visit: (page: ReadonlyArray<FileEntry>) => Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E, R>
  /** The entry of a backup at `path`, if there is one. */
  readonly fileAt: (backupId: string, path: string) => Effect.Effect<FileEntry | undefined>
  /**
   * Each entry's path, kind, size and mtime (not its extents), in path order, given to `visit` row
   * by row: nothing is held, and no extents are parsed.
   */
  readonly eachEntryHead: (backupId: string, visit: (e: EntryHead) => void) => Effect.Effect<void>
  /** Each entry's metadata (not its extents), row by row, in no particular order. */
  readonly eachEntryStamp: (backupId: string, visit: (e: EntryStamp) => void) => Effect.Effect<void>
  /**
   * The paths that hard links of a backup name as their first link (`linkTo`), each with whether
   * it is a regular file of its own (no `linkTo`), as a first link is in an intact manifest.
   */
  readonly linkTargets: (backupId: string) => Effect.Effect<ReadonlyMap<string, boolean>>
  /**
   * What a backup needs of its parent to skip unchanged files: each regular file's size, mtime,
   * inode, ctime and extents, read a page at a time as the walk goes forward (ParentWindow.ts).
   */
  readonly parentFiles: (backupId: string) => Effect.Effect<ParentFiles>
  readonly chunksOf: (backupId: string) => Effect.Effect<ReadonlyArray<string>>
  /** The chunks of a backup and their plaintext sizes. */
  readonly chunkSizesOf: (backupId: string) => Effect.Effect<ReadonlyMap<string, number>>
  readonly unreferencedChunks: Effect.Effect<ReadonlyArray<{ id: string; storedSize: number }>>
  readonly allChunkIds: Effect.Effect<ReadonlySet<string>>
  /** Every chunk something references (a committed backup, a stream, an object or upload part). */
  readonly referencedChunks: Effect.Effect<ReadonlyArray<{ id: string; format: "envelope" | "age" | "plain" }>>
  /** What references chunk `id`: committed backups, streams (by name), objects (`bucket/key`) and unfinished uploads. */
  readonly referrersOf: (id: string) => Effect.Effect<ChunkReferrers>
  readonly totals: Effect.Effect<RepositoryTotals>
  readonly chunksByProvider: Effect.Effect<ReadonlyArray<{ provider: string; chunks: number; bytes: number }>>
  /** Referenced chunks with fewer than `wanted` copies on the `providers` configured (`enigma repair` adds them). */
  readonly fewerCopies: (wanted: number, providers: ReadonlyArray<string>) => Effect.Effect<number>
  readonly streams: (status?: StreamRow["status"]) => Effect.Effect<ReadonlyArray<StreamRow>>
  /** The stream called `name` (there is at most one: put refuses a name in use). */
  readonly streamNamed: (name: string) => Effect.Effect<StreamRow | undefined>
  /**
   * What a command that takes a backup or a stream (verify, thaw, forget) names by `target`: the
   * stream called so, or the backup it resolves to (id, unique prefix, `latest`). Where it is both
   * (a stream called `latest`, or a name that is also a backup id's prefix), it fails rather than
   * guess: a backup's full id always means the backup, and `stream` asks for the stream alone.
   */
  readonly resolveStreamOrBackup: (target: string, stream?: boolean) => Effect.Effect<
    { readonly _tag: "Stream"; readonly stream: StreamRow } | { readonly _tag: "Backup"; readonly backup: BackupRow },
    NotFound | UserError
  >
  readonly streamChunks: (streamId: string) => Effect.Effect<ReadonlyArray<StreamChunkRow>>
}>()("enigma/services/manifest/Manifest") {
  static readonly layer = Layer.effect(Manifest)(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { db } = yield* SqliteDatabase
    const q = <A>(eff: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.orDie(eff) as Effect.Effect<ReadonlyArray<A>>

    const backups = Effect.fn("Manifest.backups")(function*(status?: BackupRow["status"]) {
      const rows = status
        ? yield* q<RawBackup>(sql`SELECT * FROM backups WHERE status = ${status} ORDER BY started_at, id`)
        : yield* q<RawBackup>(sql`SELECT * FROM backups ORDER BY started_at, id`)
      return rows.map(toBackup)
    })

    const resolveBackup = Effect.fn("Manifest.resolveBackup")(function*(idOrPrefix: string, filter: BackupFilter = everyBackup) {
      if (isEveryBackup(filter)) return yield* resolveAny(idOrPrefix)
      const said = describeFilter(filter)
      if (idOrPrefix === "latest") {
        const newestFirst = yield* q<RawBackup>(sql`SELECT * FROM backups WHERE status = 'committed' ORDER BY started_at DESC, id DESC`)
        const found = newestFirst.map(toBackup).find((b) => selects(filter, b))
        if (found === undefined) return yield* new NotFound({ what: `latest backup ${said}`, hint: `no completed backup is ${said}; see \`enigma list\` for the hosts and labels there are` })
        return found
      }
      const b = yield* resolveAny(idOrPrefix)
      if (!selects(filter, b)) {
        return yield* new UserError({ detail: `backup ${b.id} is not ${said} (its host is ${b.host}${b.tags.length > 0 ? `, its labels ${b.tags.join(",")}` : ", it has no labels"}); leave out the filter, or give \`latest\`` })
      }
      return b
    })

    const selectBackups = Effect.fn("Manifest.selectBackups")(function*(
      select: { readonly ids: ReadonlyArray<string>; readonly filter: BackupFilter }
    ) {
      const named: Array<BackupRow> = []
      if (select.ids.length > 0) {
        for (const id of select.ids) {
          const b = yield* resolveBackup(id)
          if (!named.some((x) => x.id === b.id)) named.push(b)
        }
      } else {
        named.push(...(yield* backups("committed")))
      }
      return named.filter((b) => selects(select.filter, b))
    })

    const resolveAny = Effect.fnUntraced(function*(idOrPrefix: string) {
      // restic's name for the newest snapshot.
      if (idOrPrefix === "latest") {
        const latest = yield* q<RawBackup>(sql`SELECT * FROM backups WHERE status = 'committed' ORDER BY started_at DESC, id DESC LIMIT 1`)
        if (latest.length === 0) return yield* new NotFound({ what: "latest backup", hint: "this repository has no completed backup yet; run `enigma backup PATH`" })
        return toBackup(latest[0]!)
      }
      if (!/^[0-9a-f]{4,}$/.test(idOrPrefix)) {
        return yield* new UserError({ detail: `"${idOrPrefix}" is not a backup id (hex, at least 4 characters, or latest); see \`enigma list\`` })
      }
      const rows = yield* q<RawBackup>(
        sql`SELECT * FROM backups WHERE status = 'committed' AND substr(id, 1, ${idOrPrefix.length}) = ${idOrPrefix}`
      )
      if (rows.length === 0) return yield* new NotFound({ what: `backup ${idOrPrefix}`, hint: "see `enigma list` for the backups in this repository" })
      if (rows.length > 1) return yield* new UserError({ detail: `backup id prefix ${idOrPrefix} is ambiguous; give more characters` })
      return toBackup(rows[0]!)
    })

    // The same set of paths in any order (`backup a b` then `backup b a`), as restic compares them.
    const latestBackupFor = Effect.fn("Manifest.latestBackupFor")(function*(host: string, paths: ReadonlyArray<string>) {
      const key = JSON.stringify([...paths].sort())
      const rows = yield* q<{ id: string; paths: string }>(sql`SELECT id, paths FROM backups
        WHERE status = 'committed' AND host = ${host} ORDER BY started_at DESC, id DESC`)
      return rows.find((r) => JSON.stringify((JSON.parse(r.paths) as Array<string>).sort()) === key)?.id
    })

    // Row by row from node:sqlite: a backup of 200,000 files would otherwise first be an array of
    // as many raw rows, then the entries.
    const fileColumns = "path, kind, mode, mtime_ms, size, ino, ctime_ms, target, extents, uid, gid, link_to, xattrs, rdev"
    const filesStmt = db.prepare(`SELECT ${fileColumns} FROM files WHERE backup_id = ? ORDER BY path`)
    const pageStmt = db.prepare(`SELECT ${fileColumns} FROM files WHERE backup_id = ? AND path > ? ORDER BY path LIMIT ?`)
    /** The entries of `rows`; small files share chunks: one string per chunk id, not one per extent that names it. */
    const entriesOf = (rows: Iterable<RawFile>): Array<FileEntry> => {
      const out: Array<FileEntry> = []
      const ids = new Map<string, string>()
      for (const r of rows) {
        const f = toFile(r)
        for (const e of f.extents as Array<[string, number, number]>) {
          const known = ids.get(e[0])
          if (known === undefined) ids.set(e[0], e[0])
          else e[0] = known
        }
        out.push(f)
      }
      return out
    }
    const files = Effect.fn("Manifest.files")(function*(backupId: string) {
      return yield* Effect.sync(() => entriesOf(filesStmt.iterate(backupId) as Iterable<RawFile>))
    })
    // Every path sorts after "" (entries have non-empty paths).
    const filePage = Effect.fn("Manifest.filePage")(function*(backupId: string, after: string | undefined, limit: number) {
      return yield* Effect.sync(() => entriesOf(pageStmt.iterate(backupId, after ?? "", limit) as Iterable<RawFile>))
    })
    const eachFilePage = <E, R>(backupId: string, limit: number, visit: (page: ReadonlyArray<FileEntry>) => Effect.Effect<void, E, R>) =>
      Effect.gen(function*() {
        for (let after: string | undefined, more = true; more;) {
          const page = yield* filePage(backupId, after, limit)
          more = page.length === limit
          if (page.length === 0) return
          after = page[page.length - 1]!.path
          yield* visit(page)
        }
      })
    const atStmt = db.prepare(`SELECT ${fileColumns} FROM files WHERE backup_id = ? AND path = ?`)
    const fileAt = Effect.fn("Manifest.fileAt")(function*(backupId: string, path: string) {
      return yield* Effect.sync(() => entriesOf(atStmt.iterate(backupId, path) as Iterable<RawFile>)[0])
    })
    const headsStmt = db.prepare("SELECT path, kind, size, mtime_ms, rdev FROM files WHERE backup_id = ? ORDER BY path")
    const eachEntryHead = Effect.fn("Manifest.eachEntryHead")(function*(backupId: string, visit: (e: EntryHead) => void) {
      yield* Effect.sync(() => {
        for (const r of headsStmt.iterate(backupId) as Iterable<{ path: string; kind: FileEntry["kind"]; size: number; mtime_ms: number; rdev: number | null }>) {
          visit({ path: r.path, kind: r.kind, size: Number(r.size), mtimeMs: Number(r.mtime_ms), ...(r.rdev !== null ? { rdev: Number(r.rdev) } : {}) })
        }
      })
    })
    const stampsStmt = db.prepare("SELECT path, kind, mode, uid, gid, mtime_ms, size, ino, ctime_ms, target, xattrs, rdev FROM files WHERE backup_id = ?")
    const eachEntryStamp = Effect.fn("Manifest.eachEntryStamp")(function*(backupId: string, visit: (e: EntryStamp) => void) {
      yield* Effect.sync(() => {
        type Row = {
          path: string
          kind: FileEntry["kind"]
          mode: number
          uid: number | null
          gid: number | null
          mtime_ms: number
          size: number
          ino: number
          ctime_ms: number
          target: string | null
          xattrs: string | null
          rdev: number | null
        }
        for (const r of stampsStmt.iterate(backupId) as Iterable<Row>) {
          visit({
            path: r.path,
            kind: r.kind,
            mode: Number(r.mode),
            uid: r.uid === null ? undefined : Number(r.uid),
            gid: r.gid === null ? undefined : Number(r.gid),
            mtimeMs: Number(r.mtime_ms),
            size: Number(r.size),
            ino: Number(r.ino),
            ctimeMs: Number(r.ctime_ms),
            target: r.target ?? undefined,
            rdev: r.rdev === null ? undefined : Number(r.rdev),
            xattrsJson: r.xattrs ?? undefined
          })
        }
      })
    })
    const linkTargetsStmt = db.prepare(`SELECT path, kind, link_to FROM files WHERE backup_id = ? AND path IN
      (SELECT link_to FROM files WHERE backup_id = ? AND link_to IS NOT NULL)`)
    const linkTargets = Effect.fn("Manifest.linkTargets")(function*(backupId: string) {
      return yield* Effect.sync(() => {
        const m = new Map<string, boolean>()
        for (const r of linkTargetsStmt.iterate(backupId, backupId) as Iterable<{ path: string; kind: string; link_to: string | null }>) {
          m.set(r.path, r.kind === "file" && r.link_to === null)
        }
        return m
      })
    })

    // Rows straight from node:sqlite, one at a time, in primary-key order (no sort).
    const parentPageStmt = db.prepare(
      "SELECT path, size, mtime_ms, ino, ctime_ms, extents, xattrs FROM files WHERE backup_id = ? AND kind = 'file' AND path > ? ORDER BY path LIMIT ?"
    )
    const parentFileStmt = db.prepare(
      "SELECT path, size, mtime_ms, ino, ctime_ms, extents, xattrs FROM files WHERE backup_id = ? AND path = ? AND kind = 'file'"
    )
    const parentFiles = Effect.fn("Manifest.parentFiles")(function*(backupId: string) {
      return yield* Effect.sync((): ParentFiles =>
        new ParentWindow(
          (after, limit) => parentPageStmt.iterate(backupId, after, limit) as Iterable<ParentRow>,
          (path) => parentFileStmt.get(backupId, path) as ParentRow | undefined
        )
      )
    })

    const chunksOf = Effect.fn("Manifest.chunksOf")(function*(backupId: string) {
      const rows = yield* q<{ chunk_id: string }>(sql`SELECT chunk_id FROM backup_chunks WHERE backup_id = ${backupId}`)
      return rows.map((r) => r.chunk_id)
    })

    const chunkSizesOf = Effect.fn("Manifest.chunkSizesOf")(function*(backupId: string) {
      const rows = yield* q<{ id: string; size: number }>(
        sql`SELECT k.id, k.size FROM backup_chunks c JOIN chunks k ON k.id = c.chunk_id WHERE c.backup_id = ${backupId}`
      )
      return new Map(rows.map((r) => [r.id, Number(r.size)]))
    })

    const unreferencedChunks = q<{ id: string; stored_size: number }>(
      sql`SELECT id, stored_size FROM chunks WHERE refcount <= 0 ORDER BY id`
    ).pipe(Effect.map((rows) => rows.map((r) => ({ id: r.id, storedSize: Number(r.stored_size) }))))

    const allChunkIds = q<{ id: string }>(sql`SELECT id FROM chunks`).pipe(
      Effect.map((rows) => new Set(rows.map((r) => r.id)))
    )

    const referencedChunks = q<{ id: string; format: string }>(sql`SELECT id, format FROM chunks WHERE refcount > 0 ORDER BY id`).pipe(
      Effect.map((rows) => rows.map((r) => ({ id: r.id, format: r.format as "envelope" | "age" | "plain" })))
    )

    const referrersOf = Effect.fn("Manifest.referrersOf")(function*(id: string) {
      // Extents are JSON; a chunk id is 64 hex digits, so a quoted match cannot be a false one.
      const quoted = `%"${id}"%`
      const backupRows = yield* q<{ backup_id: string }>(
        sql`SELECT DISTINCT c.backup_id FROM backup_chunks c JOIN backups b ON b.id = c.backup_id WHERE c.chunk_id = ${id} AND b.status = 'committed' ORDER BY c.backup_id`
      )
      const streamRows = yield* q<{ name: string }>(
        sql`SELECT DISTINCT s.name FROM stream_chunks c JOIN streams s ON s.id = c.stream_id WHERE c.chunk_id = ${id} ORDER BY s.name`
      )
      const objectRows = yield* q<{ bucket: string; key: string }>(sql`SELECT bucket, key FROM objects WHERE extents LIKE ${quoted} ORDER BY bucket, key`)
      const uploadRows = yield* q<{ upload_id: string }>(sql`SELECT DISTINCT upload_id FROM multipart_parts WHERE extents LIKE ${quoted} ORDER BY upload_id`)
      return {
        backups: backupRows.map((r) => r.backup_id),
        streams: streamRows.map((r) => r.name),
        objects: objectRows.map((r) => `${r.bucket}/${r.key}`),
        uploads: uploadRows.map((r) => r.upload_id)
      } satisfies ChunkReferrers
    })

    const totals = Effect.gen(function*() {
      const [c] = yield* q<{ n: number; stored: number; uniq: number }>(
        sql`SELECT COUNT(*) AS n, COALESCE(SUM(stored_size), 0) AS stored, COALESCE(SUM(size), 0) AS uniq FROM chunks`
      )
      const [b] = yield* q<{ n: number; logical: number }>(sql`SELECT COUNT(*) AS n,
        COALESCE(SUM(json_extract(stats, '$.bytes')), 0) AS logical FROM backups WHERE status = 'committed'`)
      const [st] = yield* q<{ n: number; logical: number }>(sql`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS logical
        FROM streams WHERE status = 'committed'`)
      const [o] = yield* q<{ n: number; logical: number }>(sql`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS logical FROM objects`)
      // A running stream's own byte count is set when it commits: its logged chunks tell how far it got.
      const [ir] = yield* q<{ n: number; bytes: number }>(sql`SELECT
        (SELECT COUNT(*) FROM streams WHERE status = 'running') AS n,
        (SELECT COALESCE(SUM(c.size), 0) FROM stream_chunks c JOIN streams s ON s.id = c.stream_id WHERE s.status = 'running') AS bytes`)
      // Chunks nothing references any more (forgotten backups and streams, deleted objects): gc's.
      const [u] = yield* q<{ n: number; stored: number }>(
        sql`SELECT COUNT(*) AS n, COALESCE(SUM(stored_size), 0) AS stored FROM chunks WHERE refcount <= 0`
      )
      return {
        chunks: Number(c!.n),
        storedBytes: Number(c!.stored),
        uniqueBytes: Number(c!.uniq),
        logicalBytes: Number(b!.logical) + Number(st!.logical) + Number(o!.logical),
        backups: Number(b!.n),
        streams: Number(st!.n),
        objects: Number(o!.n),
        unreferencedChunks: Number(u!.n),
        unreferencedBytes: Number(u!.stored),
        interruptedStreams: Number(ir!.n),
        interruptedBytes: Number(ir!.bytes)
      }
    })

    const chunksByProvider = q<{ provider: string; n: number; bytes: number }>(sql`SELECT p.value AS provider,
      COUNT(*) AS n, SUM(c.stored_size) AS bytes FROM chunks c, json_each(c.placement) p GROUP BY p.value`).pipe(
      Effect.map((rows) => rows.map((r) => ({ provider: r.provider, chunks: Number(r.n), bytes: Number(r.bytes) })))
    )

    const fewerCopies = (wanted: number, providers: ReadonlyArray<string>) =>
      q<{ n: number }>(sql`SELECT COUNT(*) AS n FROM chunks c WHERE c.refcount > 0 AND
        (SELECT COUNT(*) FROM json_each(c.placement) p WHERE p.value IN (SELECT value FROM json_each(${JSON.stringify(providers)}))) < ${wanted}`).pipe(
        Effect.map(([r]) => Number(r!.n))
      )

    const streamSelect = `SELECT s.*,
        (SELECT COUNT(*) FROM stream_chunks c WHERE c.stream_id = s.id) AS logged_chunks,
        (SELECT COALESCE(SUM(size), 0) FROM stream_chunks c WHERE c.stream_id = s.id) AS logged_bytes
      FROM streams s`
    const streams = Effect.fn("Manifest.streams")(function*(status?: StreamRow["status"]) {
      const rows = status
        ? yield* q<RawStream>(sql.unsafe(`${streamSelect} WHERE s.status = ? ORDER BY s.started_at, s.id`, [status]))
        : yield* q<RawStream>(sql.unsafe(`${streamSelect} ORDER BY s.started_at, s.id`))
      return rows.map(toStream)
    })
    const streamNamed = Effect.fn("Manifest.streamNamed")(function*(name: string) {
      const rows = yield* q<RawStream>(sql.unsafe(`${streamSelect} WHERE s.name = ? ORDER BY s.started_at DESC LIMIT 1`, [name]))
      return rows[0] === undefined ? undefined : toStream(rows[0])
    })
    const streamChunks = Effect.fn("Manifest.streamChunks")(function*(streamId: string) {
      const rows = yield* q<{ idx: number; chunk_id: string; size: number; sha256: string; sha3: string; chain: string }>(
        sql`SELECT idx, chunk_id, size, sha256, sha3, chain FROM stream_chunks WHERE stream_id = ${streamId} ORDER BY idx`
      )
      return rows.map((r) => ({ index: Number(r.idx), chunkId: r.chunk_id, size: Number(r.size), sha256: r.sha256, sha3: r.sha3, chain: r.chain }))
    })

    const resolveStreamOrBackup = Effect.fn("Manifest.resolveStreamOrBackup")(function*(target: string, onlyStream = false) {
      const stream = yield* streamNamed(target)
      if (onlyStream) {
        if (stream === undefined) return yield* new NotFound({ what: `stream ${target}`, hint: "see `enigma list` for the streams in this repository" })
        return { _tag: "Stream" as const, stream }
      }
      if (stream === undefined) {
        const backup = yield* resolveBackup(target).pipe(
          Effect.catchTag("UserError", (e) => Effect.fail(new UserError({ detail: `no stream is named ${target}, and ${e.detail}` }))),
          Effect.catchTag("NotFound", () => Effect.fail(new NotFound({ what: `stream or backup ${target}`, hint: "see `enigma list` for the backups and streams in this repository" })))
        )
        return { _tag: "Backup" as const, backup }
      }
      const backup = yield* Effect.option(resolveBackup(target))
      if (backup._tag === "None") return { _tag: "Stream" as const, stream }
      if (backup.value.id === target) return { _tag: "Backup" as const, backup: backup.value }
      return yield* new UserError({
        detail: `${target} names both a stream and ${target === "latest" ? "the newest backup, " : "backup "}${backup.value.id}: ` +
          `give the backup's full id (${backup.value.id}) for the backup, or --stream for the stream`
      })
    })

    return Manifest.of({
      resolveStreamOrBackup,
      referencedChunks,
      referrersOf,
      streams,
      streamNamed,
      streamChunks,
      backups,
      resolveBackup,
      selectBackups,
      latestBackupFor,
      files,
      filePage,
      eachFilePage,
      eachEntryHead,
      fileAt,
      linkTargets,
      chunksOf,
      chunkSizesOf,
      parentFiles,
      unreferencedChunks,
      allChunkIds,
      totals,
      chunksByProvider,
      fewerCopies,
      eachEntryStamp
    })
  }))
}
