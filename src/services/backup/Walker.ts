import * as fs from "node:fs"
import type { Stats } from "node:fs"
import { cacheDirTag, cacheDirTagSignature, type ExcludeRule, isExcluded } from "../../domain/ExcludeRules.ts"
import { type FsPath, joinStored, shownPath, storedName } from "../../domain/StoredName.ts"
import type { EntryKind } from "../../domain/Events.ts"
import { specialKindOf } from "../../domain/SpecialFiles.ts"
import type { LeftOut } from "../OwnFiles.ts"

/** One thing found by the walk, in walk order (depth-first, names sorted bytewise). */
export interface WalkEntry {
  /** The path stored in the backup: root name + relative path, `/`-separated (StoredName.ts). */
  readonly path: string
  /** Where it is: a string, or bytes below a name that is not UTF-8. */
  readonly abs: FsPath
  readonly stat: Stats
  readonly kind: EntryKind
}

export interface WalkWarning {
  readonly path: string
  readonly detail: string
}

/** What to leave out (backup --exclude, --exclude-caches, --one-file-system). */
export interface WalkOptions {
  readonly excludes?: ReadonlyArray<ExcludeRule> | undefined
  /** A directory tagged with a valid CACHEDIR.TAG keeps only the tag. */
  readonly excludeCaches?: boolean | undefined
  /** A directory holding one of these files (starting with `header`, when given) keeps only that file. */
  readonly excludeIfPresent?: ReadonlyArray<{ readonly name: string; readonly header?: string | undefined }> | undefined
  /** Regular files larger than this many bytes are left out. */
  readonly maxFileSize?: number | undefined
  /** Directories on another filesystem than their root are recorded, not entered. */
  readonly oneFileSystem?: boolean | undefined
  /**
   * Entries left out by identity (device and inode): the repository's own storage and database
   * (OwnFiles.ts), which a backup of the directory holding them would otherwise store again.
   */
  readonly leaveOut?: LeftOut | undefined
}

/**
 * Walks each root without following symlinks. The order is deterministic (sorted names), which
 * keeps the concatenated content stream — and so its chunk boundaries — stable between runs.
 * FIFOs and device nodes are recorded as themselves (SpecialFiles.ts), sockets left out.
 * Unreadable directories become warnings; the walk goes on. A root an exclude
 * pattern matches is left out, as restic leaves it (`backup /home/* --exclude /home/guest`).
 *
 * The fs calls are synchronous on purpose: with the metadata cached they take microseconds,
 * while each async call is a thread-pool round trip; on trees of small files that dominated.
 */
export function* walk(
  roots: ReadonlyArray<{ readonly abs: string; readonly name: string }>,
  warn: (w: WalkWarning) => void,
  options: WalkOptions = {}
): Generator<WalkEntry> {
  for (const root of roots) {
    if (rootExcluded(root.abs, options.excludes)) continue
    let st: Stats
    try {
      st = fs.lstatSync(root.abs)
    } catch (e) {
      warn({ path: root.abs, detail: (e as Error).message })
      continue
    }
    // A file named on the command line is taken whatever its size.
    yield* visit(root.abs, root.name, st, warn, { ...options, rootDev: st.dev, ...(st.isFile() ? { maxFileSize: undefined } : {}) })
  }
}

/** Whether an exclude pattern matches a path named to back up (absolute, as `path.resolve` gives it). */
export const rootExcluded = (abs: string, excludes: ReadonlyArray<ExcludeRule> | undefined): boolean =>
  excludes !== undefined && excludes.length > 0 && isExcluded(excludes, abs, abs.slice(abs.lastIndexOf("/") + 1))

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * A directory's names, stored form (StoredName.ts). Node decodes names as UTF-8, an invalid byte
 * as U+FFFD: only a directory where that happened is read again as bytes.
 */
const namesIn = (abs: FsPath): Array<string> => {
  const names = fs.readdirSync(abs)
  if (!names.some((n) => n.includes("\uFFFD"))) return names
  return fs.readdirSync(abs, { encoding: "buffer" }).map(storedName)
}

/** Whether file `name` in `dir` is a marker: there, and (with a header) starting with it. */
const isMarker = (dir: FsPath, name: string, header: string | undefined): boolean => {
  try {
    const fd = fs.openSync(joinStored(dir, name), "r")
    try {
      if (header === undefined) return true
      const want = Buffer.from(header, "utf8")
      const head = Buffer.alloc(want.length)
      return fs.readSync(fd, head, 0, head.length, 0) === head.length && head.equals(want)
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return false
  }
}

function* visit(
  abs: FsPath,
  rel: string,
  st: Stats,
  warn: (w: WalkWarning) => void,
  options: WalkOptions & { readonly rootDev: number }
): Generator<WalkEntry> {
  if (options.leaveOut !== undefined && options.leaveOut.whatIs(st) !== undefined) return
  if (st.isSymbolicLink()) {
    yield { path: rel, abs, stat: st, kind: "symlink" }
    return
  }
  if (st.isFile()) {
    if (options.maxFileSize === undefined || st.size <= options.maxFileSize) yield { path: rel, abs, stat: st, kind: "file" }
    return
  }
  // A socket is an endpoint a running program made, with nothing in it to keep: left out quietly,
  // as borg and GNU tar do (a user's ~/.gnupg or a service's /run holds some), so that it does not
  // turn every backup of a home directory into "completed with warnings".
  if (st.isSocket()) return
  const special = specialKindOf(st)
  if (special !== undefined) {
    yield { path: rel, abs, stat: st, kind: special }
    return
  }
  if (!st.isDirectory()) {
    warn({ path: shownPath(abs), detail: "a kind of file that cannot be backed up; skipped" })
    return
  }
  yield { path: rel, abs, stat: st, kind: "dir" }
  if (options.oneFileSystem && st.dev !== options.rootDev) return
  let names: Array<string>
  try {
    names = namesIn(abs)
  } catch (e) {
    warn({ path: shownPath(abs), detail: `cannot read directory: ${(e as Error).message}` })
    return
  }
  names.sort(byName)
  const markers = [
    ...(options.excludeCaches ? [{ name: cacheDirTag, header: cacheDirTagSignature }] : []),
    ...(options.excludeIfPresent ?? [])
  ]
  for (const m of markers) {
    if (names.includes(m.name) && isMarker(abs, m.name, m.header)) {
      names = [m.name]
      break
    }
  }
  const excludes = options.excludes !== undefined && options.excludes.length > 0 ? options.excludes : undefined
  for (const name of names) {
    const childAbs = joinStored(abs, name)
    if (excludes !== undefined && isExcluded(excludes, shownPath(childAbs), name)) continue
    let s: Stats
    try {
      s = fs.lstatSync(childAbs)
    } catch (e) {
      warn({ path: shownPath(childAbs), detail: (e as Error).message })
      continue
    }
    yield* visit(childAbs, `${rel}/${name}`, s, warn, options)
  }
}
