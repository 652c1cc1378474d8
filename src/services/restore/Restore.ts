import * as fs from "node:fs/promises"
import * as fsSync from "node:fs"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { availableParallelism } from "node:os"
import { Context, Effect, Layer, Schema, Semaphore, Stream } from "effect"
import { type ChunkCorrupt, type DamagedFile, RestoreIncomplete } from "../../domain/Errors.ts"
import { NotFound, UserError } from "../../domain/Errors.ts"
import type { Extent, FileEntry } from "../../domain/Events.ts"
import { parseBothExcludes, type RootPlaces, rootPlacesOf, storedPathMatches } from "../../domain/ExcludeRules.ts"
import { ancestors, globProblem, isSafeRelativePath, matchesGlob, matchesPrefix } from "../../domain/PathFilter.ts"
import { besidePath, bytesOfStored, type FsPath, fsPathOf, joinStored, shownPath, storedName } from "../../domain/StoredName.ts"
import * as Tar from "../../domain/Tar.ts"
import { ChunkStore, ReadTarget } from "../ChunkStore.ts"
import { makeDirectories } from "../MakeDirectories.ts"
import { Manifest } from "../manifest/Manifest.ts"
import { freedTooEarly, isFreed, releaseBuffers } from "../ReleaseBuffers.ts"
import { dataRuns } from "../../domain/SparseRuns.ts"
import { ChunkCache } from "./ChunkCache.ts"
import { removeDeadRestoreTemps } from "./DeadTemps.ts"
import { warmChunkWorkers } from "../ChunkThreads.ts"
import { makeGarbagePacer, manyFilesPacing } from "../GarbagePacer.ts"
import { makeSmallFileWriter, type SmallFile, type SmallFileFailure, type SmallFileWriter } from "./SmallFileWriter.ts"
import { writeXattrs } from "../Xattrs.ts"
import { holdsRepository, makeMountCheck, mountedInIt, removeExtraneous } from "./Extraneous.ts"
import { Repository } from "../Repository.ts"
import { ownFileHolding, ownFilesBelow, ownFilesGuard, presentOwnFiles, repositoryOwnFiles } from "../OwnFiles.ts"
import { fsTime } from "./FsTime.ts"
import { deviceNumbers, isSpecialKind, specialKindName, specialKindOf } from "../../domain/SpecialFiles.ts"
import { makeNode, NodeNotPermitted } from "./SpecialNodes.ts"

/** Writing to the destination failed (disk full, permissions…): names the file. */
export class RestoreWriteError extends Schema.TaggedError<RestoreWriteError>()("RestoreWriteError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `cannot write ${this.path}: ${this.detail}`
  }
}

/**
 * What went wrong writing a restored entry, and what to do about it, by the system error's code.
 * Every file written before is complete, so a second run with `--overwrite if-changed` finishes
 * the job without writing them again.
 */
/** A failed write (or removal) at `p`, named. */
const writeError = (p: FsPath) => (e: unknown) =>
  new RestoreWriteError({
    path: shownPath(p),
    // makeDirectories names a symlink in the way and its target, which says more than the code's text.
    detail: (e as { symlink?: string }).symlink !== undefined ? (e as Error).message : writeFailure((e as { code?: string }).code, (e as Error).message)
  })

const writeFailure = (code: string | undefined, message: string): string => {
  const again = "then restore again (--overwrite if-changed keeps the files already restored)"
  switch (code) {
    case "ENOSPC":
      return `disk full: free space on the destination's filesystem, ${again}`
    case "EDQUOT":
      return `disk quota exceeded: free space or raise the quota, ${again}`
    case "EISDIR":
    case "ENOTEMPTY":
      return `a directory is in the way of this file or symlink: move it aside, or restore into an empty directory (${message})`
    case "ENOTDIR":
      return `a file is in the way of a directory on this path: move it aside, or restore into an empty directory (${message})`
    case "EACCES":
    case "EPERM":
      return `permission denied: restore as a user who may write there, or into a directory of yours (${message})`
    case "EROFS":
      return "the destination is on a read-only filesystem: restore somewhere writable"
    case "ENOENT":
      // A directory removed while the restore ran, or one a filesystem like /proc cannot make.
      return `a directory on this path is gone or cannot be made here: restore into a directory that can hold files (${message})`
    default:
      return message
  }
}

export interface RestoreOptions {
  /** Only entries under this stored path, or under any of these (`--path`, repeatable). */
  readonly pathPrefix?: string | ReadonlyArray<string> | undefined
  /** Only files matching this glob, or any of these (`--glob`, repeatable); directories that hold one. */
  readonly glob?: string | ReadonlyArray<string> | undefined
  /**
   * Patterns of entries to leave out, with backup --exclude's rules (ExcludeRules.ts) applied to
   * the stored path as if it were absolute (`/data/docs`): an excluded directory takes its contents.
   */
  readonly exclude?: ReadonlyArray<string> | undefined
  /** The same, ignoring case (`--iexclude`). */
  readonly iexclude?: ReadonlyArray<string> | undefined
  /**
   * restic's `--include`: only entries that match one of these patterns (exclude's rules), or are
   * in a directory that does; the directories above them are made to hold them.
   */
  readonly include?: ReadonlyArray<string> | undefined
  /** The same, ignoring case (`--iinclude`). */
  readonly iinclude?: ReadonlyArray<string> | undefined
  /** Extended attributes not to set, by name glob (`--exclude-xattr 'security.*'`, restic's). */
  readonly excludeXattr?: ReadonlyArray<string> | undefined
  /** Only the extended attributes whose name matches one of these globs (`--include-xattr 'user.*'`). */
  readonly includeXattr?: ReadonlyArray<string> | undefined
  /** Leave blocks of zeros in files of more than two chunks as holes (restic's --sparse). */
  readonly sparse?: boolean | undefined
  /**
   * What to do with a file or symlink already at its place (restic's --overwrite): replace it
   * (`always`, the default), keep it (`never`), or keep it when it looks the same (`if-changed`:
   * a file of the same size and mtime, a symlink to the same target), which lets an interrupted
   * restore be run again without writing what it had finished.
   */
  readonly overwrite?: "always" | "if-changed" | "never" | undefined
  /**
   * restic's `--delete`: what lies in the destination's copies of the restored directories and
   * is not in the backup is removed (of what the selection picks: an excluded entry stays), and a
   * directory where the backup has a file or symlink is replaced (unless `--overwrite never`).
   * Done once everything is written; the destination beside the backup's roots is never touched.
   */
  readonly delete?: boolean | undefined
  readonly onProgress?: ((files: number, bytes: number) => void) | undefined
  /** Entries read and restored at a time (default `restoreWindow`); tests set it small. */
  readonly windowEntries?: number | undefined
}

export interface RestoreResult {
  readonly files: number
  readonly dirs: number
  readonly symlinks: number
  /** FIFOs and device nodes made. */
  readonly specials: number
  /**
   * Device nodes not made, by stored path, because making one needs privilege this restore lacks
   * (as with tar, they need root); `nodeError` is what mknod said.
   */
  readonly nodesRefused: ReadonlyArray<string>
  readonly nodeError?: string | undefined
  readonly bytes: number
  /** Files and symlinks left as they were (--overwrite never / if-changed), and what lies under `blocked`. */
  readonly skipped: number
  /**
   * `--overwrite never`: directories of the backup, by stored path, not restored because a file or
   * symlink stands at their place (kept, as the option asks), nor anything under them.
   */
  readonly blocked: ReadonlyArray<string>
  /**
   * Entries whose recorded owner the filesystem refused (a restore as root onto exFAT, NFS with
   * root squash, a user namespace): they keep the restoring user; `ownerError` is the first code.
   */
  readonly ownersRefused: number
  readonly ownerError?: string | undefined
  /**
   * Extended attributes the filesystem refused (security.* and trusted.* without root, a
   * filesystem that keeps none, user.* on a symlink); `xattrError` is the first code.
   */
  readonly xattrsRefused: number
  readonly xattrError?: string | undefined
  /** With `delete`: stored paths of what was removed from the destination. */
  readonly deleted: ReadonlyArray<string>
  /** With `delete`: directories not removed because another filesystem is mounted in them (Extraneous.ts). */
  readonly keptMounted: ReadonlyArray<string>
  /**
   * The repository's own files and directories in the destination (OwnFiles.ts: its config,
   * keyfile, database, Local storage), by stored path, that the restore neither wrote over nor
   * removed although the backup or `delete` asked to.
   */
  readonly keptOwn: ReadonlyArray<string>
}

/** `restore --dry-run`: what a restore would write, and (with `delete`) remove. */
export interface RestorePlan {
  /** Entries the selection picks: files, directories and symlinks. */
  readonly entries: number
  readonly files: number
  readonly bytes: number
  readonly deleted: ReadonlyArray<string>
  readonly keptMounted: ReadonlyArray<string>
  readonly keptOwn: ReadonlyArray<string>
}

/**
 * Small files' chunks held at once: the one being written, those fetched ahead of it, and one
 * more, so that a chunk fetched ahead is not evicted before its files come.
 */
const chunksAhead = 2
const cachedChunks = chunksAhead + 2
const fileConcurrency = 8
/**
 * Backup entries read from the manifest and restored at a time: a restore holds one window's
 * entries (~1.5 KB each with their extents), not the whole backup's, so 50,000 bound it to
 * ~75 MB however many millions of files there are.
 */
const restoreWindow = 50_000
/**
 * Entries read at a time by `restore --list` and `dump`, which keep nothing of a window once it is
 * written: on 500,000 files `restore --list` peaked at 194–212 MiB with 10,000 against 296–304 MiB
 * with 50,000, in the same time (1.6–2.1 s); `dump /` at 290–305 against 314–317 MiB.
 */
const listWindow = 10_000
/** Chunks fetched ahead of the one being written, per large file. */
const readAhead = 3
/**
 * Large files restored at once. Each holds up to readAhead + 1 chunks (plus their decryption and
 * decompression buffers) in memory, so this, not fileConcurrency, bounds a restore's memory.
 */
const largeFileConcurrency = 2

const writeAt = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) =>
    fsSync.write(fd, bytes, offset, length, position, (e, n) => (e ? reject(e) : resolve(n)))
  )
const noSpace = () => Object.assign(new Error("no space left on device"), { code: "ENOSPC" })

/** Temp names: unique per process and file without asking the RNG 18,000 times. */
const tmpTag = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`
let tmpCounter = 0
const umask = process.umask()
/**
 * Whether a restored file needs a chmod after its bytes are written: when the umask took bits
 * away at creation, or when it has set-user/group-ID bits, which the kernel clears as soon as
 * anyone but root writes to the file (and a chown clears for root).
 */
const needsChmod = (mode: number) => (mode & umask) !== 0 || (mode & 0o6000) !== 0

interface Owner {
  readonly uid: number
  readonly gid: number
}
/**
 * Entries get their recorded owner only in a restore run as root, as with restic and tar: no one
 * else may give a file away, and a user restoring their own files wants them as their own.
 */
const restoresOwners = process.getuid?.() === 0
const ownerOf = (f: FileEntry): Owner | undefined =>
  restoresOwners && f.uid !== undefined && f.gid !== undefined ? { uid: f.uid, gid: f.gid } : undefined
/** A temp name beside `target`, hidden, naming us. */
const tmpNameFor = (target: FsPath) => besidePath(target, ".", `.enigma-${tmpTag}-${tmpCounter++}`)

/**
 * The bytes of `f`'s extent in its chunk's plaintext. A freed chunk (a bug) and an extent past the
 * chunk's end (a damaged manifest) are errors, never fewer bytes written.
 */
const extentView = (f: FileEntry, plain: Uint8Array, [id, offset, length]: Extent): Uint8Array | UserError => {
  if (isFreed(plain)) throw freedTooEarly(`chunk ${id}`)
  return offset + length > plain.length
    ? new UserError({ detail: `file ${f.path}: extent beyond chunk ${id}; the manifest is damaged` })
    : plain.subarray(offset, offset + length)
}
const extentBytes = (f: FileEntry, plain: Uint8Array, e: Extent): Effect.Effect<Uint8Array, UserError> =>
  Effect.suspend(() => {
    const view = extentView(f, plain, e)
    return view instanceof UserError ? Effect.fail(view) : Effect.succeed(view)
  })

/**
 * Files up to this size go to the SmallFileWriter's worker, when a restore has at least
 * `batchedFilesFrom` of them (below that, starting a worker costs more than it saves).
 */
const batchedFileMax = 256 * 1024
const batchedFilesFrom = 64
/**
 * From this many, two workers write them where there are cores for both: creating a file is
 * mostly kernel work (~60 µs here), and one worker making 18,000 of them bounded the restore.
 */
const twoWritersFrom = 1000

/**
 * A file written under a temp name beside its final name and renamed into place by `commit`
 * (after mode and mtime are set): readers, and a crash, see the old file or the complete new
 * one, never a part. `abort` removes the temp file.
 */
class AtomicFile {
  private closed = false
  private readonly target: FsPath
  private readonly tmp: FsPath
  private readonly fd: number
  /** restore --sparse: blocks of zeros are left as holes (SparseRuns.ts). */
  private readonly sparse: boolean
  /** Bytes written so far. */
  private at = 0

  private constructor(target: FsPath, tmp: FsPath, fd: number, sparse: boolean) {
    this.target = target
    this.tmp = tmp
    this.fd = fd
    this.sparse = sparse
  }

  static open(target: FsPath, mode: number, sparse: boolean) {
    const tmp = tmpNameFor(target)
    // Created with its final permission bits (less the umask; commit restores any it strips).
    return new AtomicFile(target, tmp, fsSync.openSync(tmp, "wx", mode & 0o7777), sparse)
  }

  /** What of `bytes`, written next, goes to the disk: all of it, or (sparse) all but blocks of zeros. */
  private runs(bytes: Uint8Array): ReadonlyArray<readonly [number, number]> {
    return this.sparse ? dataRuns(bytes, this.at) : [[0, bytes.length]]
  }

  write(bytes: Uint8Array) {
    // write may write less than asked (a filling disk does exactly that): loop until done.
    for (const [from, to] of this.runs(bytes)) {
      let done = from
      while (done < to) {
        const n = fsSync.writeSync(this.fd, bytes, done, to - done, this.at + done)
        if (n <= 0) throw noSpace()
        done += n
      }
    }
    this.at += bytes.length
  }

  /** The same, on the thread pool: lets a large file's writes overlap decrypting its next chunk. */
  async writeAsync(bytes: Uint8Array) {
    for (const [from, to] of this.runs(bytes)) {
      let done = from
      while (done < to) {
        const n = await writeAt(this.fd, bytes, done, to - done, this.at + done)
        if (n <= 0) throw noSpace()
        done += n
      }
    }
    this.at += bytes.length
  }

  /** Cuts a sparse file to its length (its last blocks may be a hole); before `commit`. */
  finish() {
    if (this.sparse) fsSync.ftruncateSync(this.fd, this.at)
  }

  commit(mode: number, mtimeMs: number, owner: Owner | undefined, ownerRefused: (e: unknown) => void) {
    // Owner first: a chown clears the set-user/group-ID bits that the chmod then sets. A refused
    // owner is not a failure: the file is whole, it keeps the restoring user as owner.
    if (owner !== undefined) {
      try {
        fsSync.fchownSync(this.fd, owner.uid, owner.gid)
      } catch (e) {
        ownerRefused(e)
      }
    }
    if (owner !== undefined || needsChmod(mode)) fsSync.fchmodSync(this.fd, mode & 0o7777)
    fsSync.futimesSync(this.fd, fsTime(mtimeMs), fsTime(mtimeMs))
    this.closed = true
    fsSync.closeSync(this.fd)
    fsSync.renameSync(this.tmp, this.target)
  }

  abort() {
    if (!this.closed) {
      this.closed = true
      try {
        fsSync.closeSync(this.fd)
      } catch {
        // nothing more to release
      }
    }
    fsSync.rmSync(this.tmp, { force: true })
  }
}

/**
 * The files and symlinks of `entries` that an `--overwrite` policy leaves as they are under `dest`
 * (which may not exist yet): with `never`, any that exists; with `if-changed`, a regular file of
 * the entry's size and mtime (to the millisecond: restore sets it from the same number), or a
 * symlink to the same target.
 *
 * With `never`, a file or symlink standing where the backup has a directory is kept too: the
 * directory is added to `blocked` (kept across windows) and returned with everything under it,
 * which cannot be restored without removing what is there.
 */
const keptInPlace = (dest: string, entries: ReadonlyArray<FileEntry>, overwrite: "always" | "if-changed" | "never", blocked: Set<string>) =>
  Effect.sync(() => {
    const kept = new Set<string>()
    if (overwrite === "always" || !fsSync.existsSync(dest)) return kept
    for (const f of entries) {
      if (overwrite === "never" && blocked.size > 0 && ancestors(f.path).some((a) => blocked.has(a))) {
        kept.add(f.path)
        continue
      }
      let st: fsSync.Stats | undefined
      try {
        st = fsSync.lstatSync(joinStored(dest, f.path))
      } catch (e) {
        // Something that is not a directory stands on the way to it (one the selection left out).
        if (overwrite === "never" && (e as NodeJS.ErrnoException).code === "ENOTDIR") kept.add(f.path)
        continue
      }
      if (f.kind === "dir") {
        if (overwrite === "never" && !st.isDirectory()) {
          blocked.add(f.path)
          kept.add(f.path)
        }
        continue
      }
      const same = f.kind === "file"
        ? st.isFile() && st.size === f.size && Math.abs(st.mtimeMs - f.mtimeMs) < 1
        : f.kind === "symlink"
        ? st.isSymbolicLink() && storedName(fsSync.readlinkSync(joinStored(dest, f.path), { encoding: "buffer" })) === (f.target ?? "")
        : specialKindOf(st) === f.kind && (f.rdev === undefined || st.rdev === f.rdev)
      if (overwrite === "never" || same) kept.add(f.path)
    }
    return kept
  })

/** A selection option as a list: none, one, or several (any of them selects). */
const listOf = (o: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> => (o === undefined ? [] : typeof o === "string" ? [o] : o)

/** What is wrong with a restore's selection options, in one line, or undefined. */
export const restoreProblem = (options: RestoreOptions): string | undefined => {
  for (const g of listOf(options.glob)) {
    const problem = globProblem(g)
    if (problem !== undefined) return problem
  }
  const excludes = parseBothExcludes(options.exclude ?? [], options.iexclude ?? [])
  if ("error" in excludes) return excludes.error
  const includes = parseIncludes(options)
  if ("error" in includes) return includes.error
  for (const [flag, patterns] of [["--exclude-xattr", options.excludeXattr], ["--include-xattr", options.includeXattr]] as const) {
    for (const p of patterns ?? []) {
      const problem = globProblem(p, flag)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

/** Whether a restore sets the extended attribute `name` (--include-xattr, --exclude-xattr). */
const xattrSelector = (options: RestoreOptions) => {
  const include = options.includeXattr ?? []
  const exclude = options.excludeXattr ?? []
  return (name: string) => (include.length === 0 || include.some((g) => matchesGlob(name, g))) && !exclude.some((g) => matchesGlob(name, g))
}

const parseIncludes = (options: RestoreOptions) =>
  parseBothExcludes(options.include ?? [], options.iinclude ?? [], { exact: "--include", folded: "--iinclude" })

/**
 * Which entries a selection picks, by path and kind alone (`picks`). With a glob or an include
 * (`byFiles`) every directory passes `picks`; restore and `list` then keep only the directories
 * that hold a selected file or symlink, or that `standAlone`: an included directory (an empty
 * one too) is restored as itself.
 */
export const entrySelection = (options: RestoreOptions, places?: RootPlaces) => {
  const excludes = parseBothExcludes(options.exclude ?? [], options.iexclude ?? [])
  if ("error" in excludes) throw new Error(excludes.error) // checked by restoreProblem first
  const includes = parseIncludes(options)
  if ("error" in includes) throw new Error(includes.error)
  const prefixes = listOf(options.pathPrefix)
  const globs = listOf(options.glob)
  const picks = (p: string, kind: FileEntry["kind"]): boolean =>
    (prefixes.length === 0 || prefixes.some((prefix) => matchesPrefix(p, prefix))) &&
    (globs.length === 0 || kind === "dir" || globs.some((g) => matchesGlob(p, g))) &&
    (includes.length === 0 || kind === "dir" || storedPathMatches(includes, p, places)) &&
    // An entry is left out when it, or a directory it is in, matches an exclude.
    (excludes.length === 0 || !storedPathMatches(excludes, p, places))
  const byFiles = globs.length > 0 || includes.length > 0
  const standsAlone = (p: string, kind: FileEntry["kind"]): boolean =>
    !byFiles || kind !== "dir" || (globs.length === 0 && storedPathMatches(includes, p, places))
  return { picks, byFiles, standsAlone }
}

/** Adds to `into` every directory above `p` (for `a/b/c`: `a/b` and `a`); stops at one it holds. */
const addDirsAbove = (into: Set<string>, p: string) => {
  for (let at = p.lastIndexOf("/"); at > 0; at = p.lastIndexOf("/", at - 1)) {
    const dir = p.slice(0, at)
    if (into.has(dir)) return
    into.add(dir)
  }
}

/**
 * Restores a backup (or part of it) under a destination directory. Every file is written to a
 * temp name beside its final name and renamed into place once complete, so a crash or a full
 * disk never leaves a partial file where a complete one was. Entries whose stored path would
 * escape the destination are refused. Directory modes and mtimes are set last, deepest first.
 */
export class Restore extends Context.Service<Restore, {
  readonly run: (
    backupId: string,
    dest: string,
    options: RestoreOptions
  ) => Effect.Effect<RestoreResult, UserError | NotFound | ChunkCorrupt | RestoreWriteError | RestoreIncomplete>
  /**
   * The entries of a backup a selection picks (as `restore --list` shows them), in path order,
   * given to `visit` a window at a time; returns how many there were. Memory holds one window.
   */
  /** What `run` would do, without writing anything (`restore --dry-run`). */
  readonly plan: (backupId: string, dest: string, options: RestoreOptions) => Effect.Effect<RestorePlan, UserError | RestoreWriteError>
  readonly list: <E>(
    backupId: string,
    options: RestoreOptions,
    visit: (entries: ReadonlyArray<FileEntry>) => Effect.Effect<void, E>
  ) => Effect.Effect<number, E>
  /**
   * restic's `dump`: the bytes of one file of a backup, or a directory (or with `""` the whole
   * backup) as a tar archive, given to `write` in order, each chunk verified before any of its
   * bytes. `write` may keep nothing past its effect. `archives: false` refuses a directory (stdout
   * is a terminal, say).
   */
  readonly dump: <E>(
    backupId: string,
    path: string,
    write: (bytes: Uint8Array) => Effect.Effect<void, E>,
    options?: { readonly archives?: boolean; readonly windowEntries?: number }
  ) => Effect.Effect<{ readonly path: string; readonly bytes: number; readonly archive: boolean }, UserError | NotFound | ChunkCorrupt | E>
}>()("enigma/services/restore/Restore") {
  static readonly layer = Layer.effect(Restore)(Effect.gen(function*() {
    const manifest = yield* Manifest
    const chunks = yield* ChunkStore
    const repo = yield* Repository
    const ownFiles = repositoryOwnFiles(repo)

    /**
     * The selection, less the repository's own files where they lie in the destination (a
     * restore of a home directory in place, with the repository in ~/.enigma): those are neither
     * written over nor removed, and `keptOwn` collects the ones the restore met.
     */
    /** Where the backup's roots were, for patterns that name the original paths. */
    const placesOf = (backupId: string) =>
      Effect.map(Effect.option(manifest.resolveBackup(backupId)), (b) => rootPlacesOf(b._tag === "Some" ? b.value.paths : []))

    const selectionAt = (backupId: string, destAbs: string, exists: boolean, options: RestoreOptions) =>
      Effect.gen(function*() {
        const selection = entrySelection(options, yield* placesOf(backupId))
        const present = presentOwnFiles(ownFiles)
        const holding = ownFileHolding(present, destAbs)
        if (holding !== undefined) {
          return yield* new UserError({ detail: `restore destination ${destAbs} is inside this repository's ${holding.what} ${holding.path}: restore somewhere else` })
        }
        const destReal = exists ? yield* Effect.tryPromise({ try: () => fs.realpath(destAbs), catch: writeError(destAbs) }) : undefined
        const own = ownFilesGuard(destReal !== undefined ? ownFilesBelow(present, destReal) : [])
        const keptOwn = new Set<string>()
        const picks = (p: string, kind: FileEntry["kind"]): boolean => {
          if (!selection.picks(p, kind)) return false
          const cover = own.any ? own.coverOf(p) : undefined
          if (cover === undefined) return true
          keptOwn.add(cover.rel)
          return false
        }
        /** Whether `--delete` must leave directory `p` whole: it is or holds one of the repository's files. */
        const holdsOwn = (p: string): boolean => {
          if (!own.any || !own.holds(p)) return false
          keptOwn.add(p)
          return true
        }
        return { ...selection, picks, holdsOwn, keptOwn }
      })

    const run = (backupId: string, dest: string, options: RestoreOptions) =>
      restoreTo(backupId, dest, options).pipe(Effect.scoped, Effect.provideService(ReadTarget, backupId))
    const restoreTo = Effect.fn("Restore.run")(function*(backupId: string, dest: string, options: RestoreOptions) {
      const problem = restoreProblem(options)
      if (problem !== undefined) return yield* new UserError({ detail: problem })
      const destAbs = path.resolve(dest)
      const destStat = yield* Effect.promise(() => fs.stat(destAbs).then((s) => s, () => undefined))
      if (destStat && !destStat.isDirectory()) {
        return yield* new UserError({ detail: `restore destination ${dest} exists and is not a directory; give a directory` })
      }
      /** With globs or includes (`byFiles`), a directory is restored only if it holds a selected file or symlink, or stands alone. */
      const { picks, byFiles, standsAlone, holdsOwn, keptOwn } = yield* selectionAt(backupId, destAbs, destStat !== undefined, options)
      const windowSize = options.windowEntries ?? restoreWindow
      // The entries come a window at a time (path order), so that memory does not grow with the
      // backup. What must hold for all of them is checked first, when there is more than one
      // window: an entry that would escape the destination refuses the whole restore before
      // anything is written.
      let page = yield* manifest.filePage(backupId, undefined, windowSize)
      if (page.length === windowSize) {
        let unsafe: string | undefined
        yield* manifest.eachEntryHead(backupId, (e) => {
          if (unsafe === undefined && picks(e.path, e.kind) && !isSafeRelativePath(e.path)) unsafe = e.path
        })
        if (unsafe !== undefined) return yield* new UserError({ detail: `backup entry "${unsafe}" would escape the destination; refusing to restore it` })
      }
      const refused = { count: 0, code: undefined as string | undefined }
      const ownerRefused = (e: unknown) => {
        refused.count++
        refused.code ??= (e as { code?: string }).code
      }
      const xattrRefusals = { count: 0, code: undefined as string | undefined }
      /**
       * Sets `f`'s extended attributes on `target`, after its owner (a chown clears
       * security.capability). A file or directory without its owner's write bit takes none from
       * anyone but root: it gets the bit for as long as that takes.
       */
      const setsXattr = xattrSelector(options)
      const restoreXattrs = async (f: FileEntry, target: FsPath) => {
        const xattrs = f.xattrs?.filter(([name]) => setsXattr(name))
        if (xattrs === undefined || xattrs.length === 0) return
        let r = writeXattrs(target, xattrs)
        if (r.refused > 0 && r.code === "EACCES" && f.kind !== "symlink" && (f.mode & 0o200) === 0) {
          const mode = (await fs.stat(target)).mode & 0o7777
          await fs.chmod(target, mode | 0o200)
          try {
            r = writeXattrs(target, xattrs)
          } finally {
            await fs.chmod(target, mode)
          }
        }
        xattrRefusals.count += r.refused
        xattrRefusals.code ??= r.code
      }
      /** Restored files with extended attributes, set once every file is in place. */
      const xattrFiles: Array<FileEntry> = []
      // A hard link whose first file is restored too becomes a link to it once that is written.
      const linkTargets = yield* manifest.linkTargets(backupId)
      const linksToRestored = (f: FileEntry) => f.linkTo !== undefined && linkTargets.get(f.linkTo) === true && picks(f.linkTo, "file")
      const batched = (f: FileEntry) => f.extents.length <= 2 && f.size <= batchedFileMax
      // Threads start now, so they boot while the directories are made: each takes ~25 ms of
      // CPU, and the first chunk read and the first small file would otherwise wait for them.
      warmChunkWorkers()
      /** Made with the first window that has enough small files; it serves every later window. */
      let writer: SmallFileWriter | undefined
      /** The destination, made (and resolved) when the first selected entry comes. */
      let destReal: string | undefined
      /** Directories made or found in the destination so far. */
      const madeDirs = new Set<string>()

      const largeFileSlots = yield* Semaphore.make(largeFileConcurrency)
      // Shared, bounded chunk cache: small files share chunks, so neighbours hit it.
      const cache = new ChunkCache(chunks.load, cachedChunks)

      let restoredFiles = 0
      let restoredBytes = 0
      /** Counted once written, or for a batched file once queued (the flush below waits for it). */
      /** `f` is in place; `asLink`: as a hard link to a file restored before (whose attributes it shares). */
      const done = (f: FileEntry, asLink = false) => {
        if (f.xattrs !== undefined && !asLink) xattrFiles.push(f)
        restoredFiles++
        restoredBytes += f.size
        options.onProgress?.(restoredFiles, restoredBytes)
      }
      const failed = (e: SmallFileFailure) => writeError(e.path)({ code: e.code, message: e.message })

      // Files whose bytes lie in a chunk that is missing or damaged are left out (none is left
      // half written) and the restore goes on with the others: with the only copy of someone's
      // data, every file that can be restored must be. A chunk that could not be read at all (a
      // provider down, cold storage) stops the restore instead: it may be readable later.
      /** Files left out, by path (a hard link to one is left out with it). */
      const damaged = new Map<string, DamagedFile>()
      const leaveOut = (f: FileEntry, e: ChunkCorrupt) =>
        e.unreadable === true
          ? Effect.fail(e)
          : Effect.sync(() => {
            damaged.set(f.path, { path: f.path, chunk: e.chunkId, problem: e.message })
            return false
          })

      // Batched files share chunks and come in chunk order: while one chunk's files are written,
      // the next chunk is fetched and verified.
      const nextChunk = new Map<string, string>()
      const fetchedAhead = new Set<string>()
      const fetchAhead = (id: string) =>
        Effect.suspend(() => {
          const ahead: Array<string> = []
          let next = nextChunk.get(id)
          for (let distance = 0; next !== undefined && distance < chunksAhead; distance++, next = nextChunk.get(next)) {
            if (!fetchedAhead.has(next) && !cache.has(next)) ahead.push(next)
          }
          for (const next of ahead) fetchedAhead.add(next)
          // A failure here is met again, and reported, when a file needs the chunk.
          return Effect.forEach(ahead, (next) => Effect.forkScoped(Effect.ignore(cache.use(next, () => Effect.void))), { discard: true })
        })

      /** `f`'s bytes from `extents[i]` on, as views that stay valid until `k`'s effect ends. */
      const withPieces = <A, E, R>(
        f: FileEntry,
        i: number,
        pieces: ReadonlyArray<Uint8Array>,
        k: (pieces: ReadonlyArray<Uint8Array>) => Effect.Effect<A, E, R>
      ): Effect.Effect<A, E | ChunkCorrupt | UserError, R> => {
        if (i === f.extents.length) return k(pieces)
        const e = f.extents[i]!
        return cache.use(e[0], (plain) => Effect.flatMap(extentBytes(f, plain, e), (bytes) => withPieces(f, i + 1, [...pieces, bytes], k)))
      }

      const smallFile = (f: FileEntry, target: FsPath, pieces: ReadonlyArray<Uint8Array>): SmallFile => {
        const owner = ownerOf(f)
        return {
          target,
          tmp: tmpNameFor(target),
          mode: f.mode,
          chmod: needsChmod(f.mode),
          mtimeMs: f.mtimeMs,
          uid: owner?.uid,
          gid: owner?.gid,
          pieces
        }
      }

      /** A small file through the worker: its bytes (checked like any file's) are copied into a batch. */
      const writeBatched = (writer: SmallFileWriter, f: FileEntry, target: FsPath) =>
        Effect.gen(function*() {
          if (f.extents.length > 0) yield* fetchAhead(f.extents[f.extents.length - 1]![0])
          const written = yield* withPieces(f, 0, [], (pieces) => writer.write(smallFile(f, target, pieces)).pipe(Effect.mapError(failed))).pipe(
            Effect.as(true),
            Effect.catchTag("ChunkCorrupt", (e) => leaveOut(f, e))
          )
          if (written) done(f)
        })

      /**
       * Batched files in order, a chunk at a time: each file whose bytes all lie in the chunk in
       * hand is queued with no effect of its own (18,000 files made the effects per file a third
       * of the main thread's work). Files of no chunk, or of two, take `writeBatched`.
       */
      const writeBatchedRun = (writer: SmallFileWriter, destReal: string, list: ReadonlyArray<FileEntry>) =>
        Effect.gen(function*() {
          let i = 0
          while (i < list.length) {
            const f = list[i]!
            const id = f.extents[0]?.[0]
            if (id === undefined || f.extents.some((e) => e[0] !== id)) {
              yield* writeBatched(writer, f, joinStored(destReal, f.path))
              i++
              continue
            }
            yield* fetchAhead(id)
            const start = i
            i = yield* cache.use(id, (plain) => writeFromChunk(writer, destReal, list, start, id, plain)).pipe(
              Effect.catchTag("ChunkCorrupt", (e) =>
                Effect.gen(function*() {
                  let j = start
                  for (; j < list.length && list[j]!.extents.length > 0 && list[j]!.extents.every((x) => x[0] === id); j++) yield* leaveOut(list[j]!, e)
                  return j
                }))
            )
          }
        })

      /** From `list[start]` on, the files that lie wholly in chunk `id`; gives the index of the first one left. */
      const writeFromChunk = (writer: SmallFileWriter, destReal: string, list: ReadonlyArray<FileEntry>, start: number, id: string, plain: Uint8Array) =>
        Effect.gen(function*() {
          let j = start
          for (; j < list.length; j++) {
            const f = list[j]!
            if (f.extents.length === 0 || f.extents.some((e) => e[0] !== id)) break
            const pieces: Array<Uint8Array> = []
            for (const e of f.extents) {
              const view = extentView(f, plain, e)
              if (view instanceof UserError) return yield* view
              pieces.push(view)
            }
            const file = smallFile(f, joinStored(destReal, f.path), pieces)
            if (!writer.offer(file)) yield* writer.write(file).pipe(Effect.mapError(failed))
            done(f)
          }
          return j
        })

      /** Files one by one (several at once), each through an AtomicFile on this thread. */
      const writeFiles = (destReal: string, files: ReadonlyArray<FileEntry>) => Effect.forEach(files, (f) =>
        Effect.gen(function*() {
          const target = joinStored(destReal, f.path)
          // Writes are synchronous: for small files the syscalls take microseconds, while each
          // async fs call would be a thread-pool round trip. Chunks are fetched (and verified)
          // one at a time, so a large file never sits in memory whole.
          //
          // Large files go through the page cache too, as with restic and tar. Written with
          // O_DIRECT they cost less CPU (0.7 s of system time per GiB against 2–2.5 s here) but
          // wait for the device, which also serves the chunk reads: restore of the 1 GiB random
          // set took 4.3–6.1 s direct against 3.4–4.0 s buffered (alternating runs), 4.85 s
          // against 3.54 s in `bench/backup.ts --sets random` (restic: 4.5 s in both runs).
          const large = f.extents.length > 2
          const out = yield* Effect.try({ try: () => AtomicFile.open(target, f.mode, large && options.sparse === true), catch: writeError(target) })
          const writeExtent = (plain: Uint8Array, e: Extent, async = false): Effect.Effect<void, UserError | RestoreWriteError> =>
            Effect.flatMap(extentBytes(f, plain, e), (bytes) =>
              async
                ? Effect.tryPromise({ try: () => out.writeAsync(bytes), catch: writeError(target) })
                : Effect.try({ try: () => out.write(bytes), catch: writeError(target) }))
          // Small files share chunks: go through the shared cache. A large file owns most of its
          // chunks: fetch a few ahead (in order) while the current one is written.
          const body = (!large
            ? Effect.forEach(f.extents, (e) => cache.use(e[0], (plain) => writeExtent(plain, e)), { discard: true })
            : Stream.fromIterable(f.extents).pipe(
              Stream.mapEffect((e) => Effect.map(chunks.load(e[0]), (plain) => [plain, e] as const), { concurrency: readAhead }),
              // Each load returned a buffer of its own, which nothing reads after its write.
              Stream.runForEach(([plain, e]) => Effect.tap(writeExtent(plain, e, true), () => Effect.sync(() => releaseBuffers([plain])))),
              Effect.andThen(Effect.try({ try: () => out.finish(), catch: writeError(target) })),
              largeFileSlots.withPermits(1)
            )).pipe(
              Effect.andThen(Effect.try({ try: () => out.commit(f.mode, f.mtimeMs, ownerOf(f), ownerRefused), catch: writeError(target) }))
            )
          const written = yield* body.pipe(
            Effect.onError(() => Effect.sync(() => out.abort())),
            Effect.as(true),
            Effect.catchTag("ChunkCorrupt", (e) => leaveOut(f, e))
          )
          if (written) done(f)
        }), { concurrency: fileConcurrency, discard: true })

      // What the windows leave for the end: entries written after every file, and the counts.
      /** Hard links to files restored here: made once every file is complete. */
      const hardLinks: Array<FileEntry> = []
      /** Symlinks after files, so no file is ever written through a restored link. */
      const links: Array<FileEntry> = []
      /** FIFOs and device nodes, made beside the symlinks. */
      const specials: Array<FileEntry> = []
      /** Directories selected, whose mode and mtime are set last. */
      const dirEntries: Array<FileEntry> = []
      /** With a glob: the directories that hold a selected file or symlink (only those are restored). */
      const holding = new Set<string>()
      let selectedAny = false
      let skipped = 0
      /** --overwrite never: directories of the backup where a file or symlink stands, kept with all under them. */
      const blockedDirs = new Set<string>()

      /** Stored paths removed from the destination (`delete`). */
      const deleted: Array<string> = []
      /** Directories `delete` left because another filesystem is mounted in them. */
      const keptMounted: Array<string> = []
      const holdsMount = makeMountCheck()
      /**
       * `delete`: a directory where one of `entries` (files, symlinks) goes is removed first, as
       * restic's --delete does; not one holding a mounted filesystem: the restore stops there.
       */
      const clearDirsInPlace = (entries: ReadonlyArray<FileEntry>) =>
        Effect.forEach(entries, (f) => {
          const target = joinStored(destAbs, f.path)
          return Effect.tryPromise({
            try: async () => {
              const st = await fs.lstat(target).catch(() => undefined)
              if (st?.isDirectory() !== true) return
              if (await holdsMount(target)) {
                throw Object.assign(new Error(mountedInIt), { code: "EISDIR" })
              }
              if (holdsOwn(f.path)) throw Object.assign(new Error(`it holds ${holdsRepository}`), { code: "EISDIR" })
              await fs.rm(target, { recursive: true, force: true })
              deleted.push(f.path)
            },
            catch: writeError(target)
          })
        }, { discard: true })

      /** Restores the files of one window's selected entries, and keeps what comes last. */
      const restoreSelected = (selected: ReadonlyArray<FileEntry>) =>
        Effect.gen(function*() {
          for (const f of selected) {
            if (!isSafeRelativePath(f.path)) {
              return yield* new UserError({ detail: `backup entry "${f.path}" would escape the destination; refusing to restore it` })
            }
          }
          // What is already there and stays (--overwrite never / if-changed), found before anything is written.
          const kept = yield* keptInPlace(destAbs, selected, options.overwrite ?? "always", blockedDirs)
          skipped += kept.size
          if (options.delete === true) yield* clearDirsInPlace(selected.filter((f) => f.kind !== "dir" && !kept.has(f.path)))
          const files = selected.filter((f) => f.kind === "file" && !linksToRestored(f) && !kept.has(f.path))
          for (const f of selected) {
            if (f.kind === "file" && linksToRestored(f) && !kept.has(f.path)) hardLinks.push(f)
            else if (f.kind === "symlink" && !kept.has(f.path)) links.push(f)
            else if (isSpecialKind(f.kind) && !kept.has(f.path)) specials.push(f)
            else if (f.kind === "dir" && !kept.has(f.path)) dirEntries.push(f)
            if (byFiles && standsAlone(f.path, f.kind)) {
              addDirsAbove(holding, f.path)
              if (f.kind === "dir") holding.add(f.path)
            }
          }
          // With a glob, directories alone make nothing (nor the destination) until a file in them comes.
          if (!selected.some((f) => standsAlone(f.path, f.kind))) return
          const small = files.filter(batched)
          if (writer === undefined && small.length >= batchedFilesFrom) {
            writer = yield* makeSmallFileWriter(small.length >= twoWritersFrom ? Math.min(2, availableParallelism()) : 1)
          }
          if (destReal === undefined) {
            yield* Effect.try({ try: () => makeDirectories(destAbs), catch: writeError(destAbs) })
            destReal = yield* Effect.tryPromise({ try: () => fs.realpath(destAbs), catch: writeError(destAbs) })
          }
          const root = destReal

          // Directories first (and every ancestor an entry needs), outermost first. With a glob,
          // only those holding a selected file: a directory entry alone makes none.
          // Ancestors of each distinct parent, not of each entry: 18,000 files share ~150 parents.
          const dirs = new Set<string>()
          for (const f of selected) {
            if (kept.has(f.path)) continue
            if (f.kind === "dir") {
              if (standsAlone(f.path, f.kind) && !madeDirs.has(f.path)) dirs.add(f.path)
            } else {
              const slash = f.path.lastIndexOf("/")
              if (slash > 0 && !madeDirs.has(f.path.slice(0, slash))) dirs.add(f.path.slice(0, slash))
            }
          }
          for (const p of [...dirs]) for (const a of ancestors(p)) if (!madeDirs.has(a)) dirs.add(a)
          for (const d of [...dirs].sort()) {
            const target = joinStored(root, d)
            yield* Effect.tryPromise({
              try: async () => {
                const st = await fs.lstat(target).catch(() => undefined)
                if (st?.isSymbolicLink()) throw new Error("is a symlink in the destination; refusing to write through it")
                if (st && !st.isDirectory()) await fs.rm(target)
                if (!st || !st.isDirectory()) await fs.mkdir(target, { mode: 0o700 })
                // A directory restored into before: what an earlier restore killed there left.
                else if (typeof target === "string") await removeDeadRestoreTemps(target)
              },
              catch: writeError(target)
            })
            madeDirs.add(d)
          }

          nextChunk.clear()
          let previous: string | undefined
          for (const f of small) {
            for (const [id] of f.extents) {
              if (previous !== undefined && previous !== id && !nextChunk.has(previous)) nextChunk.set(previous, id)
              previous = id
            }
          }
          if (writer !== undefined) {
            // The small files in one run beside the others (which take turns through largeFileSlots).
            yield* Effect.all([writeBatchedRun(writer, root, small), writeFiles(root, files.filter((f) => !batched(f)))], {
              concurrency: 2,
              discard: true
            })
          } else {
            yield* Effect.scoped(writeFiles(root, files))
          }
        })

      // A full collection now and then once RSS is high (GarbagePacer.ts): the entries of earlier
      // windows are garbage V8 otherwise lets pile up (300,000 files: a ~31 MB live heap grew to
      // ~134 MB before each full collection).
      const pace = makeGarbagePacer(manyFilesPacing)
      for (let after: string | undefined; page.length > 0; page = yield* manifest.filePage(backupId, after, windowSize)) {
        pace(page.length)
        after = page[page.length - 1]!.path
        const selected = page.filter((f) => picks(f.path, f.kind))
        // With a glob, a directory counts only once a file or symlink in it is selected.
        if (selected.some((f) => standsAlone(f.path, f.kind))) selectedAny = true
        if (selected.length > 0) yield* restoreSelected(selected)
        if (page.length < windowSize) break
      }
      if (!selectedAny && (listOf(options.pathPrefix).length > 0 || byFiles || (options.exclude ?? []).length > 0 || (options.iexclude ?? []).length > 0)) {
        const filters = [
          ...listOf(options.pathPrefix).map((p) => `--path ${p}`),
          ...listOf(options.glob).map((g) => `--glob ${g}`),
          ...(options.include ?? []).map((i) => `--include ${i}`),
          ...(options.iinclude ?? []).map((i) => `--iinclude ${i}`),
          ...(options.exclude ?? []).map((e) => `--exclude ${e}`),
          ...(options.iexclude ?? []).map((e) => `--iexclude ${e}`)
        ].join(" with ")
        return yield* new UserError({
          detail: `nothing in backup ${backupId} matches ${filters}; stored paths begin with the name of the directory backed up (see \`enigma restore ${backupId.slice(0, 8)} --list\`)`
        })
      }
      if (writer !== undefined) yield* writer.flush.pipe(Effect.mapError(failed))
      // A backup with no entries at all restores as an empty destination.
      if (destReal === undefined) yield* Effect.try({ try: () => makeDirectories(destAbs), catch: writeError(destAbs) })
      const root = destReal ?? destAbs

      // Every file is complete: hard links to them, beside their place then renamed into it.
      for (const f of hardLinks) {
        const first = damaged.get(f.linkTo!)
        if (first !== undefined) {
          damaged.set(f.path, { ...first, path: f.path })
          continue
        }
        const target = joinStored(root, f.path)
        yield* Effect.tryPromise({
          try: async () => {
            const tmp = tmpNameFor(target)
            await fs.link(joinStored(root, f.linkTo!), tmp)
            await fs.rename(tmp, target)
            // A rename between two links to the same file does nothing, and leaves the temp.
            await fs.rm(tmp, { force: true })
          },
          catch: writeError(target)
        })
        done(f, true)
      }

      for (const l of links) {
        const target = joinStored(root, l.path)
        yield* Effect.tryPromise({
          try: async () => {
            const tmp = besidePath(target, ".", `.enigma-${randomBytes(4).toString("hex")}`)
            await fs.symlink(fsPathOf(l.target ?? ""), tmp)
            try {
              const owner = ownerOf(l)
              if (owner !== undefined) await fs.lchown(tmp, owner.uid, owner.gid).catch(ownerRefused)
              await restoreXattrs(l, tmp)
              await fs.lutimes(tmp, fsTime(l.mtimeMs), fsTime(l.mtimeMs)).catch(() => {})
              await fs.rename(tmp, target)
            } catch (e) {
              // A directory in the way (rename refuses it), a full disk: no temp link left behind.
              await fs.rm(tmp, { force: true })
              throw e
            }
          },
          catch: writeError(target)
        })
      }

      // FIFOs and device nodes: made under a temp name, given their owner, attributes, mode and
      // time, then renamed into place, as symlinks are. One that needs root where there is none
      // is counted and left out (one warning, exit 3), as tar leaves it.
      const nodesRefused = { paths: [] as Array<string>, detail: undefined as string | undefined }
      for (const n of specials) {
        const kind = n.kind
        if (!isSpecialKind(kind)) continue
        const target = joinStored(root, n.path)
        // A command takes text: a name that is not UTF-8 is made under the destination's root and moved.
        const tmp = besidePath(typeof target === "string" ? target : root, typeof target === "string" ? "." : "", `.enigma-${randomBytes(4).toString("hex")}`)
        yield* Effect.tryPromise({
          try: async () => {
            try {
              await makeNode(shownPath(tmp), kind, n.rdev)
            } catch (e) {
              if (!(e instanceof NodeNotPermitted)) throw new Error(`cannot make ${specialKindName[kind]}: ${(e as Error).message}`)
              nodesRefused.paths.push(n.path)
              nodesRefused.detail ??= e.message
              return
            }
            try {
              const owner = ownerOf(n)
              if (owner !== undefined) await fs.lchown(tmp, owner.uid, owner.gid).catch(ownerRefused)
              await restoreXattrs(n, tmp)
              await fs.chmod(tmp, n.mode & 0o7777)
              await fs.lutimes(tmp, fsTime(n.mtimeMs), fsTime(n.mtimeMs))
              await fs.rename(tmp, target)
            } catch (e) {
              await fs.rm(tmp, { force: true })
              throw e
            }
          },
          catch: writeError(target)
        })
      }

      // Extended attributes, once every file is in place (the small ones are renamed there by the writer).
      for (const f of xattrFiles) {
        const target = joinStored(root, f.path)
        yield* Effect.tryPromise({ try: () => restoreXattrs(f, target), catch: writeError(target) })
      }

      const restoredDirs = dirEntries.filter((d) => !byFiles || holding.has(d.path)).sort((a, b) => b.path.length - a.path.length)
      // --delete: once everything is written, what the backup does not hold (before the
      // directories' mtimes are set: removing changes them).
      if (options.delete === true) {
        const removal = yield* removeExtraneous(
          root,
          restoredDirs.map((d) => d.path),
          (stored) => Effect.map(manifest.fileAt(backupId, stored), (e) => e !== undefined),
          picks,
          { byFiles, dryRun: false, holdsMount, keep: holdsOwn },
          writeError
        )
        deleted.push(...removal.removed)
        keptMounted.push(...removal.keptMounted)
      }

      // Directory metadata last, deepest first (writing into a directory changes its mtime).
      for (const d of restoredDirs) {
        const target = joinStored(root, d.path)
        yield* Effect.tryPromise({
          try: async () => {
            const owner = ownerOf(d)
            if (owner !== undefined) await fs.lchown(target, owner.uid, owner.gid).catch(ownerRefused)
            await restoreXattrs(d, target)
            await fs.chmod(target, d.mode & 0o7777)
            await fs.utimes(target, fsTime(d.mtimeMs), fsTime(d.mtimeMs))
          },
          catch: writeError(target)
        })
      }
      if (damaged.size > 0) return yield* new RestoreIncomplete({ backupId, restoredFiles, damaged: [...damaged.values()] })
      const fromWriter = writer?.ownersRefused() ?? { count: 0, code: undefined }
      const ownersRefused = refused.count + fromWriter.count
      const ownerError = refused.code ?? fromWriter.code
      return {
        files: restoredFiles,
        dirs: restoredDirs.length,
        symlinks: links.length,
        specials: specials.length - nodesRefused.paths.length,
        nodesRefused: nodesRefused.paths,
        ...(nodesRefused.detail !== undefined ? { nodeError: nodesRefused.detail } : {}),
        bytes: restoredBytes,
        skipped,
        ownersRefused,
        ...(ownerError !== undefined ? { ownerError } : {}),
        xattrsRefused: xattrRefusals.count,
        ...(xattrRefusals.code !== undefined ? { xattrError: xattrRefusals.code } : {}),
        deleted,
        keptMounted,
        keptOwn: [...keptOwn],
        // With a glob, only those that hold a selected file (a directory alone is not restored).
        blocked: [...blockedDirs].filter((d) => !byFiles || holding.has(d))
      }
    })

    const dump = <E>(backupId: string, wanted: string, write: (bytes: Uint8Array) => Effect.Effect<void, E>, options: { readonly archives?: boolean; readonly windowEntries?: number } = {}) =>
      Effect.gen(function*() {
        const stored = wanted.replace(/^\/+|\/+$/g, "")
        const entry = stored === "" ? undefined : yield* manifest.fileAt(backupId, stored)
        if (stored !== "" && entry === undefined) {
          return yield* new NotFound({ what: `${wanted} in backup ${backupId}`, hint: `paths begin with the name of the directory backed up; see \`enigma restore ${backupId.slice(0, 8)} --list\`` })
        }
        if (entry?.kind === "symlink") return yield* new UserError({ detail: `${stored} is a symlink to ${entry.target ?? ""}; dump writes a file's bytes or a directory's tar archive` })
        if (entry !== undefined && isSpecialKind(entry.kind)) {
          return yield* new UserError({ detail: `${stored} is a ${specialKindName[entry.kind]}, which holds no bytes; dump writes a file's bytes or a directory's tar archive (dump its directory to get it as a tar entry)` })
        }
        const cache = new ChunkCache(chunks.load, 2)
        const contentOf = (f: FileEntry) =>
          Effect.gen(function*() {
            if (f.extents.reduce((n, e) => n + e[2], 0) !== f.size) {
              return yield* new UserError({ detail: `file ${f.path}: its extents do not add up to its size; the manifest is damaged` })
            }
            for (const e of f.extents) yield* cache.use(e[0], (plain) => Effect.flatMap(extentBytes(f, plain, e), write))
          })
        if (entry !== undefined && entry.kind === "file") {
          yield* contentOf(entry)
          return { path: stored, bytes: entry.size, archive: false }
        }
        if (options.archives === false) {
          return yield* new UserError({ detail: `${stored || "the backup"} is a directory, written as a tar archive: redirect stdout, e.g. \`enigma dump ${backupId.slice(0, 8)} ${stored || "/"} > dump.tar\`, or pipe it to \`tar x\`` })
        }
        // The directory and everything below it, in path order, as tar (StoredName: names as their
        // bytes), read a window of entries at a time. Its contents (`stored/…`) lie together in path
        // order, after names like `stored-x` that sort between it and them.
        const linkTargets = yield* manifest.linkTargets(backupId)
        /** First links written so far, for the hard links after them. */
        const written = new Set<string>()
        let bytes = 0
        const inside = `${stored}/`
        const windowSize = options.windowEntries ?? listWindow
        let seenInside = false
        // The directory's own entry first (it sorts before its contents), then its contents.
        let page: ReadonlyArray<FileEntry> = entry !== undefined ? [entry] : []
        let after = stored === "" ? undefined : stored
        let more = true
        pages: while (more) {
          const fetched = yield* manifest.filePage(backupId, after, windowSize)
          more = fetched.length === windowSize
          page = page.length === 0 ? fetched : [...page, ...fetched]
          for (const f of page) {
            if (f !== entry && stored !== "" && !f.path.startsWith(inside)) {
              if (seenInside) break pages
              continue
            }
            if (f !== entry) seenInside = true
            const name = bytesOfStored(f.path)
            const xattrs = f.xattrs?.map(([k, v]) => [k, Buffer.from(v, "base64")] as const)
            const base = { name, mode: f.mode, mtimeMs: f.mtimeMs, uid: f.uid, gid: f.gid, xattrs }
            if (f.kind === "dir") yield* write(Tar.entryHeader({ ...base, kind: "dir", size: 0 }))
            else if (f.kind === "symlink") yield* write(Tar.entryHeader({ ...base, kind: "symlink", size: 0, linkName: bytesOfStored(f.target ?? "") }))
            else if (isSpecialKind(f.kind)) {
              yield* write(Tar.entryHeader({ ...base, kind: f.kind, size: 0, ...(f.rdev !== undefined ? { device: deviceNumbers(f.rdev) } : {}) }))
            }
            else if (f.linkTo !== undefined && written.has(f.linkTo)) {
              yield* write(Tar.entryHeader({ ...base, kind: "hardlink", size: 0, linkName: bytesOfStored(f.linkTo) }))
            } else {
              yield* write(Tar.entryHeader({ ...base, kind: "file", size: f.size }))
              yield* contentOf(f)
              yield* write(Tar.padding(f.size))
              if (linkTargets.has(f.path)) written.add(f.path)
              bytes += f.size
            }
          }
          if (page.length > 0) after = page[page.length - 1]!.path
          page = []
        }
        yield* write(Tar.end())
        return { path: stored, bytes, archive: true }
      }).pipe(Effect.withSpan("Restore.dump"), Effect.provideService(ReadTarget, backupId))

    const list = <E>(backupId: string, options: RestoreOptions, visit: (entries: ReadonlyArray<FileEntry>) => Effect.Effect<void, E>) =>
      Effect.gen(function*() {
        const { picks, byFiles, standsAlone } = entrySelection(options, yield* placesOf(backupId))
        // With a glob or include, a directory is listed only if it holds a selected file or
        // symlink (or stands alone): which do is known from a first pass over paths alone (it
        // holds directories, not entries).
        let holding: Set<string> | undefined
        if (byFiles) {
          const dirs = new Set<string>()
          yield* manifest.eachEntryHead(backupId, (e) => {
            if (!standsAlone(e.path, e.kind) || !picks(e.path, e.kind)) return
            addDirsAbove(dirs, e.path)
            if (e.kind === "dir") dirs.add(e.path)
          })
          holding = dirs
        }
        const windowSize = options.windowEntries ?? listWindow
        let count = 0
        yield* manifest.eachFilePage(backupId, windowSize, (page) => {
          const selected = page.filter((f) => picks(f.path, f.kind) && (holding === undefined || f.kind !== "dir" || holding.has(f.path)))
          count += selected.length
          return selected.length > 0 ? visit(selected) : Effect.void
        })
        return count
      }).pipe(Effect.withSpan("Restore.list"))

    const plan = Effect.fn("Restore.plan")(function*(backupId: string, dest: string, options: RestoreOptions) {
      const problem = restoreProblem(options)
      if (problem !== undefined) return yield* new UserError({ detail: problem })
      const destAbs = path.resolve(dest)
      const destIsDir = yield* Effect.promise(() => fs.stat(destAbs).then((s) => s.isDirectory(), () => false))
      const { picks, byFiles, standsAlone, holdsOwn, keptOwn } = yield* selectionAt(backupId, destAbs, destIsDir, options)
      // As `run` selects: directories (with a glob or include, those that hold a selected file or
      // symlink, or stand alone), files and symlinks.
      const dirs: Array<string> = []
      const holding = new Set<string>()
      const others: Array<{ readonly path: string; readonly size: number; readonly file: boolean }> = []
      yield* manifest.eachEntryHead(backupId, (e) => {
        if (!picks(e.path, e.kind)) return
        if (e.kind === "dir") dirs.push(e.path)
        else others.push({ path: e.path, size: e.size, file: e.kind === "file" })
        if (byFiles && standsAlone(e.path, e.kind)) {
          addDirsAbove(holding, e.path)
          if (e.kind === "dir") holding.add(e.path)
        }
      })
      const restoredDirs = dirs.filter((d) => !byFiles || holding.has(d))
      const deleted: Array<string> = []
      const keptMounted: Array<string> = []
      if (options.delete === true) {
        // Directories where a file or symlink goes (kept under --overwrite never), then what the backup does not hold.
        const holdsMount = makeMountCheck()
        if (options.overwrite !== "never") {
          for (const o of others) {
            const target = joinStored(destAbs, o.path)
            const st = yield* Effect.promise(() => fs.lstat(target).catch(() => undefined))
            if (st?.isDirectory() !== true) continue
            const mounted = yield* Effect.tryPromise({ try: () => holdsMount(target), catch: writeError(target) })
            if (mounted) keptMounted.push(o.path)
            else if (!holdsOwn(o.path)) deleted.push(o.path)
          }
        }
        const removal = yield* removeExtraneous(
          destAbs,
          restoredDirs,
          (stored) => Effect.map(manifest.fileAt(backupId, stored), (e) => e !== undefined),
          picks,
          { byFiles, dryRun: true, holdsMount, keep: holdsOwn },
          writeError
        )
        deleted.push(...removal.removed)
        keptMounted.push(...removal.keptMounted)
      }
      const files = others.filter((o) => o.file)
      return {
        entries: restoredDirs.length + others.length,
        files: files.length,
        bytes: files.reduce((n, f) => n + f.size, 0),
        deleted,
        keptMounted,
        keptOwn: [...keptOwn]
      } satisfies RestorePlan
    })

    return Restore.of({ run, plan, list, dump })
  }))
}
