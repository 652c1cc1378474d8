import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import type { FileEntry } from "../../domain/Events.ts"
import { type FsPath, joinStored, storedName } from "../../domain/StoredName.ts"

/** What a restore with `--delete` (restic's) removes: entries in its directories that the backup does not hold. */
export interface Extraneous {
  /** Stored paths (as the backup would name them) of what was, or (dry run) would be, removed. */
  readonly removed: Array<string>
  /** Stored paths of directories left in place because another filesystem is mounted at or below them. */
  readonly keptMounted: Array<string>
}

/** Why `--delete` leaves a directory, or stops at one. */
export const mountedInIt = "another filesystem is mounted in it, and --delete does not reach across filesystems"

/** Why a restore leaves one of the repository's own files (OwnFiles.ts), or a directory holding one, or stops at it. */
export const holdsRepository = "this repository's own files (its config, keyfile, manifest database, Local storage, or a directory holding them), which a restore neither writes over nor removes"

/**
 * The mount points of this process's view (real paths, from /proc/self/mountinfo's fifth field,
 * whose space, tab, newline and backslash are octal escapes); undefined where there is no such
 * file (not Linux).
 */
const readMountPoints = (): Promise<ReadonlyArray<string> | undefined> =>
  fs.readFile("/proc/self/mountinfo", "utf8").then(
    (text) =>
      text.split("\n").flatMap((line) => {
        const field = line.split(" ")[4]
        return field === undefined ? [] : [field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))]
      }),
    () => undefined
  )

/**
 * A check of whether a filesystem other than its parent's is mounted at a directory or anywhere
 * below it: a device differing from the parent's (any platform), or a mount point at or under its
 * real path. The mount points are read once, at the first check.
 */
export const makeMountCheck = (): ((dir: FsPath) => Promise<boolean>) => {
  let mounts: Promise<ReadonlyArray<string> | undefined> | undefined
  return async (dir) => {
    // A name that is not UTF-8 comes as bytes (StoredName.ts): its parent is reached through "..".
    const parentDir = typeof dir === "string" ? path.dirname(dir) : Buffer.concat([dir, Buffer.from("/..")])
    const [st, parent] = await Promise.all([fs.lstat(dir), fs.lstat(parentDir)])
    if (st.dev !== parent.dev) return true
    const points = await (mounts ??= readMountPoints())
    if (points === undefined) return false
    const real = await fs.realpath(dir)
    const below = real.endsWith("/") ? real : `${real}/`
    return points.some((m) => m === real || m.startsWith(below))
  }
}

const kindOf = (st: { isDirectory(): boolean; isSymbolicLink(): boolean }): FileEntry["kind"] =>
  st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "file"

/**
 * Finds, and unless `dryRun` removes, what lies in the destination's copies of the backup's
 * directories `dirs` (stored paths) but is not in the backup (`inBackup`), of what the restore's
 * selection would restore (`picks`): an entry the selection leaves out is left alone, as restic's
 * `--delete` does. The destination itself is never looked at, only the directories the backup
 * holds: whatever else lies beside them in DEST is not the backup's.
 *
 * With `byFiles` (a --glob or --include), a directory the backup does not hold is entered, and
 * only the files and symlinks in it the selection picks are removed (then the directory, if that
 * emptied it): a glob picks files, never a whole tree.
 *
 * A directory with another filesystem mounted at or below it is left whole (`keptMounted`), as
 * `rm --one-file-system` and `rsync -x` would: a restore of one tree must not empty a disk that
 * happens to be mounted inside it. The backup's own directories are not checked: what the restore
 * writes into one, it also cleans.
 */
export const removeExtraneous = <E>(
  root: FsPath,
  dirs: Iterable<string>,
  inBackup: (stored: string) => Effect.Effect<boolean>,
  picks: (stored: string, kind: FileEntry["kind"]) => boolean,
  /**
   * `holdsMount`: the restore's check (makeMountCheck), so the mount points are read once. `keep`:
   * whether an entry (stored path) must stay whole whatever the backup holds: one that is or holds
   * the repository's own files (the restore notes it).
   */
  options: {
    readonly byFiles: boolean
    readonly dryRun: boolean
    readonly holdsMount: (dir: FsPath) => Promise<boolean>
    readonly keep: (stored: string) => boolean
  },
  onError: (target: FsPath) => (e: unknown) => E
) =>
  Effect.gen(function*() {
    const removed: Array<string> = []
    const keptMounted: Array<string> = []
    const mounted = (dir: FsPath) => Effect.tryPromise({ try: () => options.holdsMount(dir), catch: onError(dir) })
    const entriesOf = (dir: FsPath) =>
      Effect.tryPromise({
        // Names as bytes: they need not be UTF-8 (StoredName.ts).
        try: () => fs.readdir(dir, { encoding: "buffer" }).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" || e.code === "ENOTDIR" ? [] : Promise.reject(e))),
        catch: onError(dir)
      })
    const remove = (target: FsPath, recursive: boolean) =>
      options.dryRun ? Effect.void : Effect.tryPromise({ try: () => fs.rm(target, { recursive, force: true }), catch: onError(target) })
    /** Picked files and symlinks inside a directory the backup does not hold; whether it was emptied. */
    const removeInside = (dir: FsPath, stored: string): Effect.Effect<boolean, E> =>
      Effect.gen(function*() {
        let left = 0
        for (const name of yield* entriesOf(dir)) {
          const childStored = `${stored}/${storedName(name)}`
          const child = joinStored(root, childStored)
          const st = yield* Effect.tryPromise({ try: () => fs.lstat(child), catch: onError(child) })
          const kind = kindOf(st)
          if (options.keep(childStored)) left++
          else if (kind === "dir") {
            if (yield* removeInside(child, childStored)) {
              yield* remove(child, true)
              removed.push(childStored)
            } else left++
          } else if (picks(childStored, kind)) {
            yield* remove(child, false)
            removed.push(childStored)
          } else left++
        }
        return left === 0
      })
    for (const dir of dirs) {
      for (const name of yield* entriesOf(joinStored(root, dir))) {
        const stored = `${dir}/${storedName(name)}`
        if (yield* inBackup(stored)) continue
        const target = joinStored(root, stored)
        const st = yield* Effect.tryPromise({ try: () => fs.lstat(target), catch: onError(target) })
        const kind = kindOf(st)
        if (!picks(stored, kind) || options.keep(stored)) continue
        if (kind === "dir" && (yield* mounted(target))) {
          keptMounted.push(stored)
          continue
        }
        if (kind === "dir" && options.byFiles) {
          if (yield* removeInside(target, stored)) {
            yield* remove(target, true)
            removed.push(stored)
          }
          continue
        }
        yield* remove(target, kind === "dir")
        removed.push(stored)
      }
    }
    return { removed, keptMounted } satisfies Extraneous
  })
