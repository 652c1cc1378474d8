import * as fs from "node:fs/promises"
import * as fsSync from "node:fs"
import * as path from "node:path"
import { hostname } from "node:os"
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { cdcParams, cdcSearch, gearFromSeed, makeChunker } from "../../domain/Chunker.ts"
import { type BackupStats, EntryKind, type Extent, type FileEntry } from "../../domain/Events.ts"
import { chunkStrategyOf } from "../../domain/Settings.ts"
import { UserError } from "../../domain/Errors.ts"
import { parseBackupTags } from "../../domain/BackupTags.ts"
import { type ExcludeRule, parseBothExcludes, parseMarker } from "../../domain/ExcludeRules.ts"
import { shownPath, storedName } from "../../domain/StoredName.ts"
import { ChunkStore, type ChunkWriteError } from "../ChunkStore.ts"
import { EventLog, type ManifestError } from "../manifest/EventLog.ts"
import { type EntryStamp, Manifest } from "../manifest/Manifest.ts"
import type { ParentFile } from "../manifest/ParentIndex.ts"
import { noParentFiles } from "../manifest/ParentWindow.ts"
import { makeGarbagePacer, manyFilesPacing } from "../GarbagePacer.ts"
import { Repository } from "../Repository.ts"
import { ArenaReader } from "./ArenaReader.ts"
import { PendingFiles } from "./PendingFiles.ts"
import { type CutBlock, type CutOffThread, cutOffThread } from "../CutOffThread.ts"
import { SourceBlocks } from "../SourceBlocks.ts"
import { OffThreadWrites, stagingsForThroughput } from "../storage/LocalIoThreads.ts"
import { type LeftOut, leftOutOfBackups, repositoryOwnFiles } from "../OwnFiles.ts"
import { rootExcluded, walk, type WalkWarning } from "./Walker.ts"
import { readXattrs, xattrsAvailable } from "../Xattrs.ts"
import { isSpecialKind, rdevOf, specialsCount } from "../../domain/SpecialFiles.ts"

export interface BackupProgress {
  readonly files: number
  readonly bytesRead: number
  readonly bytesDone: number
  readonly totalHint: number
}

export interface BackupResult {
  /** The backup recorded; with `skipped`, the parent (it holds what a new one would). */
  readonly backupId: string
  readonly parent: string | undefined
  readonly stats: BackupStats
  readonly warnings: ReadonlyArray<WalkWarning>
  /** `skipIfUnchanged` found nothing changed since the parent: no backup was recorded. */
  readonly skipped?: boolean | undefined
}

/** Reading a backup source failed in a way that stops the backup (not one unreadable file). */
export class BackupSourceError extends Schema.TaggedError<BackupSourceError>()("BackupSourceError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.path}: ${this.detail}`
  }
}

/** A cut chunk and where it sits in the concatenated content stream. */
interface ChunkItem {
  readonly data: Uint8Array
  readonly start: number
  /** The chunk's id, when the cut worker hashed it. */
  readonly id: string | undefined
}
/** Sent every few hundred entries so file records are written while the walk goes on. */
const flushMarker = { flush: true } as const
type Item = ChunkItem | typeof flushMarker
interface Processed {
  readonly id: string
  readonly start: number
  readonly end: number
  readonly isNew: boolean
  readonly storedSize: number
}

const readBlock = 8 * 1024 * 1024
/** After a file's known size is read, one small read confirms the end (or finds growth). */
const eofProbe = 64 * 1024
/** Files up to this size are read through the arena. */
const smallFileLimit = 1024 * 1024
const filesPerEvent = 512
/** Entries the walk may put in the batch before it waits for the consumer to flush it. */
const batchedEntriesMax = 8 * filesPerEvent
/** The warning for a file whose size or times changed while it was being read (as tar and borg warn). */
const changedWhileRead = "changed while it was being read: the backup holds the bytes as read; back it up again for a consistent copy"
/** Blocks left with the cut worker while more are read (each up to `readBlock`). */
const blocksAway = 2

export interface BackupOptions {
  readonly onProgress?: ((p: BackupProgress) => void) | undefined
  /** Patterns of what to leave out, with restic's rules (ExcludeRules.ts). */
  readonly exclude?: ReadonlyArray<string> | undefined
  /** The same, ignoring case (`--iexclude`). */
  readonly iexclude?: ReadonlyArray<string> | undefined
  /** Leave out the contents of directories tagged with a CACHEDIR.TAG (the tag itself stays). */
  readonly excludeCaches?: boolean | undefined
  /** `NAME` or `NAME:HEADER`: leave out the rest of a directory holding that file (starting with HEADER). */
  readonly excludeIfPresent?: ReadonlyArray<string> | undefined
  /** Leave out regular files larger than this many bytes (those named as paths are kept). */
  readonly excludeLargerThan?: number | undefined
  /** Record the directories where another filesystem is mounted, not what is below them. */
  readonly oneFileSystem?: boolean | undefined
  /**
   * The host the backup is recorded under (default: this machine's name). The previous backup of
   * the same host and paths is the one unchanged files are taken from, and retention groups by
   * host: a container whose name changes every run keeps both by giving a fixed one.
   */
  readonly host?: string | undefined
  /** Labels for the backup (`--tag`; comma-separated values are split). */
  readonly tags?: ReadonlyArray<string> | undefined
  /**
   * `--force`: no parent, so every file is read (restic's). For when metadata cannot be trusted
   * to show a change: a filesystem whose ctime or inodes lie, a clock set back.
   */
  readonly force?: boolean | undefined
  /**
   * `--ignore-inode` / `--ignore-ctime`: a file counts as unchanged without the same inode number
   * (or ctime), for filesystems that do not keep them from one mount to the next (FUSE, CIFS,
   * NFS, a snapshot mounted afresh), where every file would otherwise be read every time.
   */
  readonly ignoreInode?: boolean | undefined
  readonly ignoreCtime?: boolean | undefined
  /**
   * `--time`: the time the backup is recorded at (ms since the epoch) instead of now, as restic's:
   * for data brought in from an older archive, so that `list`, `latest` and retention place it.
   */
  readonly time?: number | undefined
  /**
   * restic's `--skip-if-unchanged`: when every entry is as in the parent backup and none was
   * added or removed, record no backup (the parent holds the same). Found by a walk before
   * anything is read or recorded, so a skipped run leaves nothing in the log.
   */
  readonly skipIfUnchanged?: boolean | undefined
}

/** `backup --dry-run`'s answer: what would be recorded, and which files would be read (new or changed since the parent). */
export interface BackupPlan {
  readonly files: number
  readonly dirs: number
  readonly symlinks: number
  /** FIFOs and device nodes. */
  readonly specials: number
  readonly bytes: number
  readonly readFiles: number
  readonly readBytes: number
  readonly parent: string | undefined
  /** Stored paths of the files that would be read. */
  readonly read: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
}

/** What the unchanged-file check leaves out (`--ignore-inode`, `--ignore-ctime`). */
interface ChangeCheck {
  readonly ignoreInode: boolean
  readonly ignoreCtime: boolean
}

/**
 * Whether a file as the walk found it is the parent's: same size, mtime, inode and ctime (then it
 * is not read again). Size and mtime are always compared.
 */
const isUnchanged = (
  prev: ParentFile | undefined,
  st: { readonly size: number; readonly mtimeMs: number; readonly ino: number; readonly ctimeMs: number },
  check: ChangeCheck
) =>
  prev !== undefined && prev.size === st.size && prev.mtimeMs === st.mtimeMs && (check.ignoreInode || prev.ino === st.ino) &&
  (check.ignoreCtime || prev.ctimeMs === st.ctimeMs)

/** An entry's metadata as `--skip-if-unchanged` compares it (Backup.unchangedSince). */
type Stamped = Omit<EntryStamp, "path" | "target" | "xattrsJson" | "rdev">

/**
 * The parent's entries, by path, as numbers in one growing array (no string per entry: 300,000
 * entries as strings took ~550 bytes each and a second to format). What is compared: kind, mode,
 * owner, mtime, a file's size, the inode (a file replaced) and the ctime, which moves with every
 * change of an inode's metadata (mode, owner, extended attributes, links, a symlink made again).
 * With `--ignore-inode`/`--ignore-ctime` those are left out, and with `--ignore-ctime` the
 * attributes and link targets are compared themselves (`extras`), as the backup reads them again.
 */
class EntryStamps {
  private static readonly width = 8
  private readonly index = new Map<string, number>()
  private rows = new Float64Array(1024 * EntryStamps.width)
  private readonly extras = new Map<string, string>()
  private readonly check: ChangeCheck
  constructor(check: ChangeCheck) {
    this.check = check
  }
  get size() {
    return this.index.size
  }
  private write(into: Float64Array, at: number, e: Stamped) {
    into[at] = EntryKind.literals.indexOf(e.kind)
    into[at + 1] = e.mode
    // NaN for an owner not recorded: equal to nothing, so such an entry counts as changed.
    into[at + 2] = e.uid ?? Number.NaN
    into[at + 3] = e.gid ?? Number.NaN
    into[at + 4] = e.mtimeMs
    into[at + 5] = e.kind === "file" ? e.size : 0
    into[at + 6] = this.check.ignoreInode ? 0 : e.ino
    into[at + 7] = this.check.ignoreCtime ? 0 : e.ctimeMs
  }
  add(path: string, e: Stamped, extra: string) {
    const at = this.index.size * EntryStamps.width
    if (at + EntryStamps.width > this.rows.length) {
      const grown = new Float64Array(this.rows.length * 2)
      grown.set(this.rows)
      this.rows = grown
    }
    this.write(this.rows, at, e)
    this.index.set(path, at)
    if (this.check.ignoreCtime) this.extras.set(path, extra)
  }
  private readonly probe = new Float64Array(EntryStamps.width)
  matches(path: string, e: Stamped, extra: () => string): boolean {
    const at = this.index.get(path)
    if (at === undefined) return false
    this.write(this.probe, 0, e)
    for (let i = 0; i < EntryStamps.width; i++) if (this.probe[i] !== this.rows[at + i]) return false
    return !this.check.ignoreCtime || this.extras.get(path) === extra()
  }
}

/**
 * Backs up file trees. All file contents are chunked as one concatenated stream in walk order,
 * so small files share chunks; each file records the extents (chunk, offset, length) that hold
 * its bytes. Files whose size, mtime, inode and ctime match the parent backup are not read: their
 * extents are reused. The backup is listed only once BackupCommitted is in the log, which is
 * appended after every chunk and file record is durable.
 */
export class Backup extends Context.Service<Backup, {
  readonly run: (
    paths: ReadonlyArray<string>,
    options?: BackupOptions
  ) => Effect.Effect<BackupResult, UserError | BackupSourceError | ChunkWriteError | ManifestError>
  readonly plan: (paths: ReadonlyArray<string>, options?: BackupOptions) => Effect.Effect<BackupPlan, UserError>
}>()("enigma/services/backup/Backup") {
  static readonly layer = Layer.effect(Backup)(Effect.gen(function*() {
    const repo = yield* Repository
    const chunks = yield* ChunkStore
    const log = yield* EventLog
    const manifest = yield* Manifest
    const strategy = chunkStrategyOf(repo.settings)
    const gear = gearFromSeed(repo.ring.gearSeed)
    const concurrency = repo.settings.enigma.upload_concurrency ?? 4

    /** What a backup of `paths` starts from: the walk's options, the roots, and the parent to compare with. */
    const prepare = Effect.fnUntraced(function*(paths: ReadonlyArray<string>, options: BackupOptions | undefined) {
      const excludes = parseBothExcludes(options?.exclude ?? [], options?.iexclude ?? [])
      if ("error" in excludes) return yield* new UserError({ detail: excludes.error })
      const markers = (options?.excludeIfPresent ?? []).map(parseMarker)
      const badMarker = markers.find((m) => "error" in m)
      if (badMarker !== undefined && "error" in badMarker) return yield* new UserError({ detail: badMarker.error })
      const walkOptions = {
        excludes,
        excludeCaches: options?.excludeCaches,
        excludeIfPresent: markers.filter((m) => !("error" in m)) as Array<{ name: string; header?: string }>,
        maxFileSize: options?.excludeLargerThan,
        oneFileSystem: options?.oneFileSystem,
        leaveOut: leftOutOfBackups(repositoryOwnFiles(repo))
      }
      const roots = yield* resolveRoots(paths, excludes, walkOptions.leaveOut)
      const tags = parseBackupTags(options?.tags ?? [])
      if ("error" in tags) return yield* new UserError({ detail: tags.error })
      const host = options?.host ?? hostname()
      if (host.trim() === "" || host.length > 255) return yield* new UserError({ detail: `--host "${host}": give a name of 1 to 255 characters` })
      const absPaths = roots.map((r) => r.abs)
      const parentId = options?.force ? undefined : yield* manifest.latestBackupFor(host, absPaths)
      const parentFiles = parentId ? yield* manifest.parentFiles(parentId) : noParentFiles
      const check: ChangeCheck = { ignoreInode: options?.ignoreInode ?? false, ignoreCtime: options?.ignoreCtime ?? false }
      return { walkOptions, roots, tags, host, absPaths, parentId, parentFiles, check }
    })

    /** `backup --dry-run`: what a backup would record and read, from the walk alone (no file is read, nothing is written). */
    const plan = Effect.fn("Backup.plan")(function*(paths: ReadonlyArray<string>, options?: BackupOptions) {
      const { walkOptions, roots, parentId, parentFiles, check } = yield* prepare(paths, options)
      const warnings: Array<WalkWarning> = []
      const out = { files: 0, dirs: 0, symlinks: 0, specials: 0, bytes: 0, readFiles: 0, readBytes: 0 }
      const read: Array<string> = []
      for (const e of walk(roots, (w) => {
        warnings.push(w)
        process.stderr.write(`warning: ${w.path}: ${w.detail}\n`)
      }, walkOptions)) {
        if (e.kind === "dir") out.dirs++
        else if (e.kind === "symlink") out.symlinks++
        else if (isSpecialKind(e.kind)) out.specials++
        else {
          out.files++
          out.bytes += e.stat.size
          if (!isUnchanged(parentFiles.get(e.path), e.stat, check)) {
            out.readFiles++
            out.readBytes += e.stat.size
            read.push(e.path)
          }
        }
      }
      return { ...out, parent: parentId, read, warnings: warnings.map((w) => `${w.path}: ${w.detail}`) } satisfies BackupPlan
    })

    /**
     * `--skip-if-unchanged`: whether a walk finds exactly the parent's entries, each as recorded.
     * Stops at the first difference; a warning (something unreadable) counts as one, so the
     * backup runs and reports it. Holds a stamp per entry of the parent meanwhile.
     */
    const unchangedSince = (parentId: string, roots: ReadonlyArray<{ abs: string; name: string }>, walkOptions: Parameters<typeof walk>[2], check: ChangeCheck) =>
      Effect.gen(function*() {
        const recorded = new EntryStamps(check)
        yield* manifest.eachEntryStamp(parentId, (e) => recorded.add(e.path, e, `${e.target ?? ""}|${e.xattrsJson ?? ""}|${e.rdev ?? ""}`))
        let warned = false
        let seen = 0
        for (const e of walk(roots, () => void (warned = true), walkOptions)) {
          if (warned) return false
          const extra = () => {
            const xattrs = readXattrs(e.abs)
            let target = ""
            if (e.kind === "symlink") {
              try {
                target = storedName(fsSync.readlinkSync(e.abs, { encoding: "buffer" }))
              } catch {
                return "unreadable"
              }
            }
            return `${target}|${xattrs !== undefined ? JSON.stringify(xattrs) : ""}|${rdevOf(e.kind, st.rdev) ?? ""}`
          }
          const st = e.stat
          if (!recorded.matches(e.path, { kind: e.kind, mode: st.mode, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, ctimeMs: st.ctimeMs }, extra)) return false
          seen++
        }
        return !warned && seen === recorded.size
      })

    const run = Effect.fn("Backup.run")(function*(
      paths: ReadonlyArray<string>,
      options?: BackupOptions
    ) {
      const startedAt = Date.now()
      const { walkOptions, roots, tags, host, absPaths, parentId, parentFiles, check } = yield* prepare(paths, options)
      if (options?.skipIfUnchanged === true && parentId !== undefined && (yield* unchangedSince(parentId, roots, walkOptions, check))) {
        // The parent was just found: not finding it again would be a bug.
        const parent = yield* manifest.resolveBackup(parentId).pipe(Effect.orDie)
        const p = parent.stats
        const stats: BackupStats = {
          files: p?.files ?? 0,
          dirs: p?.dirs ?? 0,
          symlinks: p?.symlinks ?? 0,
          ...(p?.specials !== undefined ? { specials: p.specials } : {}),
          bytes: p?.bytes ?? 0,
          bytesRead: 0,
          newChunks: 0,
          newBytes: 0,
          storedNewBytes: 0,
          durationMs: Date.now() - startedAt,
          warnings: 0
        }
        return { backupId: parentId, parent: parentId, stats, warnings: [], skipped: true } satisfies BackupResult
      }
      const backupId = randomBytes(8).toString("hex")
      yield* log.append([{
        _tag: "BackupStarted",
        backupId,
        at: options?.time ?? startedAt,
        host,
        paths: absPaths,
        ...(parentId ? { parent: parentId } : {}),
        ...(tags.length > 0 ? { tags } : {})
      }])

      const warnings: Array<WalkWarning> = []
      const warn = (w: WalkWarning) => {
        warnings.push(w)
        process.stderr.write(`warning: ${w.path}: ${w.detail}\n`)
      }
      const stats = { files: 0, dirs: 0, symlinks: 0, specials: 0, bytes: 0, bytesRead: 0, newChunks: 0, newBytes: 0, storedNewBytes: 0 }
      let bytesDone = 0
      // Extended attributes go with every entry (a listxattr each, ~3 µs); a platform whose native
      // module is missing records none, and says so once (not a warning about the data: exit 0).
      if (!xattrsAvailable()) yield* Effect.logWarning("extended attributes are not recorded: @napi-rs/xattr has no binary for this platform")
      const withXattrs = (abs: Parameters<typeof readXattrs>[0]) => {
        const xattrs = readXattrs(abs)
        return xattrs !== undefined ? { xattrs } : {}
      }

      // Consumer: turn byte ranges into extents once the chunks covering them have ids.
      const window: Array<{ id: string; start: number; end: number }> = []
      const pending = new PendingFiles()
      const batch: Array<FileEntry> = []
      let covered = 0
      let lastEntryEnd = 0
      const extentsOf = (start: number, end: number): Array<Extent> => {
        const out: Array<Extent> = []
        for (const c of window) {
          if (c.end <= start) continue
          if (c.start >= end) break
          const s = Math.max(start, c.start)
          const e = Math.min(end, c.end)
          out.push([c.id, s - c.start, e - s])
        }
        return out
      }
      // A full collection once garbage from many files' entries has piled up (GarbagePacer.ts).
      const pace = makeGarbagePacer(manyFilesPacing)
      const flush = (force: boolean) =>
        Effect.gen(function*() {
          while (batch.length >= filesPerEvent || (force && batch.length > 0)) {
            const files = batch.splice(0, filesPerEvent)
            pace(files.length)
            yield* log.record([{ _tag: "FilesRecorded", backupId, files }])
          }
        })
      /**
       * Entries skip the stream (on a re-backup of 18,000 unchanged files the stream would carry
       * 18,000 elements for nothing): the producer files them here directly. One with bytes waits
       * in `pending` until the chunks covering its range have ids; it always joins `pending`
       * before any later chunk is consumed, and `pending` resolves from its front.
       */
      const addEntry = (entry: FileEntry, start: number, end: number, reused: boolean) => {
        lastEntryEnd = end
        if (reused || start === end) batch.push(entry)
        else pending.push(entry, start, end)
      }
      // One marker in flight at a time: flush drains every full batch when it arrives.
      let markerInFlight = false
      const needsFlush = () => {
        if (markerInFlight || batch.length < filesPerEvent) return false
        markerInFlight = true
        return true
      }

      // The chunker, wrapped so that each read buffer is freed once the chunks of its bytes are stored.
      const sources = new SourceBlocks(makeChunker(strategy, gear))
      // CDC boundaries are searched for on a worker (see CutOffThread); fixed ones need no search.
      const search = strategy._tag === "Cdc" ? cdcSearch(cdcParams(strategy.targetSize), gear) : undefined
      // Producer: walk, read changed files, cut the concatenated content into chunks.
      /** Files with more than one hard link: inode (device:inode) → the path first backed up. */
      const firstLinks = new Map<string, string>()
      const items = async function*(): AsyncGenerator<Item> {
        const arena = new ArenaReader()
        let offset = 0 // bytes read into the stream so far
        let emitted = 0 // bytes of chunks emitted so far
        function* emit(cs: Array<Uint8Array>, ids?: ReadonlyArray<string>): Generator<Item> {
          for (let i = 0; i < cs.length; i++) {
            const data = cs[i]!
            // Advanced before the yield: once consumed, the chunk's buffer may be freed (empty).
            const start = emitted
            emitted += data.length
            yield { data, start, id: ids?.[i] }
          }
        }
        /** A block back from the cut worker: its chunks, with the ids the worker computed. */
        const emitCut = (cut: CutBlock) => emit(sources.pushCut(cut), cut.ids)
        let cutter: CutOffThread | undefined
        // Blocks with the cut worker, in stream order.
        const away: Array<Promise<CutBlock>> = []
        /** The first `length` bytes of `buffer` (ours alone, taken whole) into the stream, in order. */
        async function* send(buffer: ArrayBuffer, length: number): AsyncGenerator<Item> {
          if (length === 0) return
          if (search === undefined) return yield* emit(sources.push(new Uint8Array(buffer, 0, length), true))
          // Started with the stream's first block (the chunker holds nothing yet), so the worker's
          // running HMAC covers each chunk from its first byte.
          cutter ??= cutOffThread(search, repo.ring.chunkIdKey)
          const cut = cutter.cut(buffer, length)
          cut.catch(() => {}) // awaited below; if the backup stops first, its failure must not go unhandled
          away.push(cut)
          while (away.length > blocksAway) yield* emitCut(await away.shift()!)
        }
        /** Small files enter the stream an arena at a time, once no later file's bytes go into it. */
        async function* sendArenas(seal: boolean): AsyncGenerator<Item> {
          if (seal) arena.seal()
          for (const a of arena.takeRetired()) yield* send(a.buffer as ArrayBuffer, a.length)
        }
        try {
          for (const e of walk(roots, warn, walkOptions)) {
            if (needsFlush()) yield flushMarker
            // The consumer flushes the batch when the marker reaches it. Meanwhile a walk of
            // unchanged files never awaits, so it would put the whole tree in the batch (a
            // re-backup of 500,000 files held 350,000 entries): let the consumer catch up.
            while (markerInFlight && batch.length >= batchedEntriesMax) await new Promise((resolve) => setImmediate(resolve))
            // A file with other hard links: the first of them backed up is the one the rest link to.
            const inode = e.kind === "file" && e.stat.nlink > 1 ? `${e.stat.dev}:${e.stat.ino}` : undefined
            const linkTo = inode !== undefined ? firstLinks.get(inode) : undefined
            const linked = () => {
              if (inode !== undefined && linkTo === undefined) firstLinks.set(inode, e.path)
            }
            const base = {
              path: e.path,
              mode: e.stat.mode,
              mtimeMs: e.stat.mtimeMs,
              ino: e.stat.ino,
              ctimeMs: e.stat.ctimeMs,
              uid: e.stat.uid,
              gid: e.stat.gid,
              ...(linkTo !== undefined ? { linkTo } : {})
            }
            if (e.kind === "dir") {
              stats.dirs++
              addEntry({ ...base, ...withXattrs(e.abs), kind: "dir", size: 0, extents: [] }, offset, offset, false)
              continue
            }
            if (e.kind === "symlink") {
              let target: string
              try {
                // As bytes: a target need not be UTF-8 either (stored as a name is, StoredName.ts).
                target = storedName(await fs.readlink(e.abs, { encoding: "buffer" }))
              } catch (err) {
                warn({ path: shownPath(e.abs), detail: (err as Error).message })
                continue
              }
              stats.symlinks++
              addEntry({ ...base, ...withXattrs(e.abs), kind: "symlink", size: 0, target, extents: [] }, offset, offset, false)
              continue
            }
            if (isSpecialKind(e.kind)) {
              const rdev = rdevOf(e.kind, e.stat.rdev)
              stats.specials++
              addEntry({ ...base, ...withXattrs(e.abs), kind: e.kind, size: 0, ...(rdev !== undefined ? { rdev } : {}), extents: [] }, offset, offset, false)
              continue
            }
            const prev = parentFiles.get(e.path)
            if (prev !== undefined && isUnchanged(prev, e.stat, check)) {
              stats.files++
              stats.bytes += prev.size
              bytesDone += prev.size
              // Its attributes too are the parent's: setting one changes the ctime, which was compared
              // (unless --ignore-ctime, which then reads them).
              const xattrs = check.ignoreCtime ? readXattrs(e.abs) : prev.xattrs()
              addEntry({ ...base, ...(xattrs !== undefined ? { xattrs } : {}), kind: "file", size: prev.size, extents: prev.extents() }, offset, offset, true)
              linked()
              continue
            }
            // Small files: synchronously into the arena (see ArenaReader). Unreadable: warn, go on.
            if (e.stat.size <= smallFileLimit) {
              let n: number
              try {
                const read = arena.readFile(e.abs, e.stat)
                n = read.n
                if (read.changed) warn({ path: shownPath(e.abs), detail: changedWhileRead })
              } catch (err) {
                warn({ path: shownPath(e.abs), detail: `cannot read: ${(err as Error).message}` })
                continue
              }
              const start = offset
              offset += n
              yield* sendArenas(false)
              stats.bytesRead += offset - start
              stats.files++
              stats.bytes += offset - start
              addEntry({ ...base, ...withXattrs(e.abs), kind: "file", size: offset - start, extents: [] }, start, offset, false)
              linked()
              continue
            }
            // Large files: asynchronously in big blocks, so reading overlaps hashing and uploads.
            yield* sendArenas(true) // the small files before it come first in the stream
            let handle: fs.FileHandle
            try {
              handle = await fs.open(e.abs, "r")
            } catch (err) {
              warn({ path: shownPath(e.abs), detail: `cannot read: ${(err as Error).message}` })
              continue
            }
            const start = offset
            try {
              // Read ahead: the next block is already on its way while this one is chunked and
              // hashed, so the disk and the CPU work at the same time. Blocks are never reused:
              // chunks may be views into them (and a block sent to be cut is detached until it
              // comes back). Past the known size, small reads find growth.
              const readAt = (position: number) => {
                const want = position - start >= e.stat.size ? eofProbe : readBlock
                const buf = Buffer.allocUnsafeSlow(want)
                const p = handle.read(buf, 0, want, position - start).then((r) => ({ buf, want, n: r.bytesRead }))
                // Awaited below; if the backup stops first, its failure must not go unhandled.
                p.catch(() => {})
                return p
              }
              let next = readAt(offset)
              for (;;) {
                const { buf, n } = await next
                if (n === 0) break
                offset += n
                stats.bytesRead += n
                next = readAt(offset)
                yield* send(buf.buffer as ArrayBuffer, n)
              }
            } catch (err) {
              // Bytes already pushed stay in the stream; the file itself is left out of the backup.
              warn({ path: shownPath(e.abs), detail: `read failed: ${(err as Error).message}` })
              await handle.close()
              continue
            }
            // Changed while it was read: the backup holds the bytes as read, and says so.
            const after = await handle.stat().catch(() => undefined)
            if (after !== undefined && (after.size !== offset - start || after.mtimeMs !== e.stat.mtimeMs || after.ctimeMs !== e.stat.ctimeMs)) {
              warn({ path: shownPath(e.abs), detail: changedWhileRead })
            }
            await handle.close()
            stats.files++
            stats.bytes += offset - start
            addEntry({ ...base, ...withXattrs(e.abs), kind: "file", size: offset - start, extents: [] }, start, offset, false)
            linked()
          }
          yield* sendArenas(true)
          while (away.length > 0) yield* emitCut(await away.shift()!)
          yield* emit(sources.finish())
        } finally {
          cutter?.close()
        }
      }

      // Files complete in stream order, so the pending list only ever resolves from its front.
      // They are taken a log event's worth at a time and recorded as they are taken: one chunk of
      // tiny files completes tens of thousands at once (a heap snapshot of a first backup of
      // 300,000 files found 63,000 entries waiting in the batch), and recording waits while the
      // log writer is behind (EventLog's backlog), which bounds what is held.
      const resolveReady = Effect.gen(function*() {
        const toBatch = (entry: FileEntry) => void batch.push(entry)
        while (pending.takeReady(covered, extentsOf, toBatch, filesPerEvent) === filesPerEvent) yield* flush(false)
        // The next entry starts at or after the end of the last one seen: chunks before that are done.
        const keepFrom = pending.firstStart() ?? lastEntryEnd
        while (window.length > 0 && window[0]!.end <= keepFrom) window.shift()
      })
      const consume = (item: Processed | typeof flushMarker) =>
        Effect.gen(function*() {
          if ("flush" in item) {
            markerInFlight = false
            return yield* flush(false)
          }
          window.push({ id: item.id, start: item.start, end: item.end })
          covered = item.end
          bytesDone += item.end - item.start
          if (item.isNew) {
            stats.newChunks++
            stats.newBytes += item.end - item.start
            stats.storedNewBytes += item.storedSize
          }
          yield* resolveReady
          options?.onProgress?.({ files: stats.files, bytesRead: stats.bytesRead, bytesDone, totalHint: 0 })
          yield* flush(false)
        })

      yield* Stream.fromAsyncIterable(items(), (e) => new BackupSourceError({ path: absPaths.join(", "), detail: String(e) })).pipe(
        Stream.mapEffect((item): Effect.Effect<Processed | typeof flushMarker, ChunkWriteError | ManifestError> => {
          if ("flush" in item) return Effect.succeed(item)
          const end = item.start + item.data.length
          return chunks.store(item.data, undefined, undefined, item.id).pipe(Effect.map((r) => {
            sources.done(item.data)
            return { id: r.id, start: item.start, end, isNew: r.isNew, storedSize: r.storedSize }
          }))
        }, { concurrency }),
        Stream.runForEach(consume)
      )
      yield* resolveReady
      if (pending.length > 0) {
        return yield* new BackupSourceError({ path: absPaths.join(", "), detail: "internal: file ranges left without chunks" })
      }
      yield* flush(true)
      const { specials, ...counted } = stats
      const finalStats: BackupStats = { ...counted, ...specialsCount(specials), durationMs: Date.now() - startedAt, warnings: warnings.length }
      yield* log.append([{ _tag: "BackupCommitted", backupId, at: Date.now(), stats: finalStats }])
      return { backupId, parent: parentId, stats: finalStats, warnings }
    })

    // A backup's chunk writes are on its critical path, and its memory budget has room for the
    // Local provider's write workers (see LocalIoThreads).
    return Backup.of({ run: (paths, options) => run(paths, options).pipe(Effect.provideService(OffThreadWrites, stagingsForThroughput)), plan })
  }))
}

/**
 * Absolute roots, named by their basename; two roots with one name would collide in the backup,
 * one path given twice is one root. A root an exclude pattern matches is left out (restic's
 * `backup /home/* --exclude /home/guest`); when that leaves none, there is nothing to back up.
 * One of the repository's own files (`own`, OwnFiles.ts) named as a root is refused: the walk
 * would leave it out.
 */
const resolveRoots = (paths: ReadonlyArray<string>, excludes: ReadonlyArray<ExcludeRule>, own: LeftOut) =>
  Effect.gen(function*() {
    const roots: Array<{ abs: string; name: string }> = []
    const names = new Map<string, string>()
    for (const p of paths) {
      let abs = path.resolve(p)
      let st = yield* Effect.promise(() => fs.lstat(abs).then((s) => s, () => undefined))
      if (st === undefined) return yield* new UserError({ detail: `backup path ${p} does not exist` })
      // `link/` names the directory a symlink leads to, as it does for ls and cp (POSIX resolves a
      // trailing slash); `link` alone is the link, recorded as one, as restic and tar record it.
      if (st.isSymbolicLink() && /[^/]\/+$/.test(p)) {
        const target = yield* Effect.promise(() => fs.realpath(abs).then((real) => fs.stat(real).then((s) => ({ real, s })), () => undefined))
        if (target === undefined || !target.s.isDirectory()) {
          return yield* new UserError({ detail: `backup path ${p} is a symlink that leads to no directory; give it without the slash to record the link itself` })
        }
        abs = target.real
        st = yield* Effect.promise(() => fs.lstat(target.real))
      }
      const ownEntry = own.whatIs(st)
      if (ownEntry !== undefined) {
        return yield* new UserError({ detail: `backup path ${p} is this repository's ${ownEntry}: a backup leaves it out; back up the directories that hold your data` })
      }
      if (rootExcluded(abs, excludes)) continue
      const name = path.basename(path.resolve(p)) || path.basename(abs) || "root"
      const other = names.get(name)
      // The same path given twice (`backup ~/src ~/src/`, or also in --files-from) is one root.
      if (other === abs) continue
      if (other !== undefined) {
        return yield* new UserError({
          detail: `${other} and ${abs} would both be stored as "${name}"; back them up in separate runs`
        })
      }
      names.set(name, abs)
      roots.push({ abs, name })
    }
    if (roots.length === 0 && paths.length > 0) {
      return yield* new UserError({
        detail: `an --exclude/--iexclude pattern matches ${paths.length === 1 ? "the path" : "every path"} given (${paths.join(", ")}): nothing to back up; drop or narrow that pattern`
      })
    }
    return roots
  })
