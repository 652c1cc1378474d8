import * as fs from "node:fs/promises"
import { Effect } from "effect"
import type { FileEntry } from "../../domain/Events.ts"
import { type FsPath, joinStored, storedName } from "../../domain/StoredName.ts"

/** What a restore with `--delete` (restic's) removes: entries in its directories that the backup does not hold. */
export interface Extraneous {
  /** Stored paths (as the backup would name them) of what was, or (dry run) would be, removed. */
  readonly removed: Array<string>
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
 */
export const removeExtraneous = <E>(
  root: FsPath,
  dirs: Iterable<string>,
  inBackup: (stored: string) => Effect.Effect<boolean>,
  picks: (stored: string, kind: FileEntry["kind"]) => boolean,
  options: { readonly byFiles: boolean; readonly dryRun: boolean },
  onError: (target: FsPath) => (e: unknown) => E
) =>
  Effect.gen(function*() {
    const removed: Array<string> = []
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
          if (kind === "dir") {
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
        if (!picks(stored, kind)) continue
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
    return { removed } satisfies Extraneous
  })
