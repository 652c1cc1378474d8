/**
 * What changed between two backups, as restic's `diff`: for each path in either, `+` (only in
 * the second), `-` (only in the first), `T` (its kind changed), `M` (a file's content changed:
 * other extents, a symlink's target, a device node's number) and, when asked, `U` (only metadata changed: mode, mtime,
 * owner, extended attributes). Paths are compared as stored, so two backups of the same directory line up. A file whose
 * extents differ may still hold the same bytes (small files share chunks, so a file read again
 * lands elsewhere): Maintenance.diff compares those bytes before calling it `M`.
 */
import type { FileEntry } from "./Events.ts"

export type DiffChange = "+" | "-" | "T" | "M" | "U"

export interface DiffLine {
  readonly change: DiffChange
  readonly path: string
  readonly kind: FileEntry["kind"]
}

const sameContent = (a: FileEntry, b: FileEntry): boolean => {
  if (a.kind === "symlink") return a.target === b.target
  // A device node's content is which device it opens.
  if (a.kind === "chardev" || a.kind === "blockdev") return a.rdev === b.rdev
  if (a.kind !== "file") return true
  if (a.size !== b.size || a.extents.length !== b.extents.length) return false
  return a.extents.every((e, i) => {
    const o = b.extents[i]!
    return e[0] === o[0] && e[1] === o[1] && e[2] === o[2]
  })
}

const sameXattrs = (a: FileEntry["xattrs"], b: FileEntry["xattrs"]): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every(([name, value], i) => b![i]![0] === name && b![i]![1] === value)

export const sameMetadata = (a: FileEntry, b: FileEntry): boolean =>
  a.mode === b.mode && a.mtimeMs === b.mtimeMs && a.uid === b.uid && a.gid === b.gid && sameXattrs(a.xattrs, b.xattrs)

/**
 * Stored paths in the manifest's order: SQLite compares TEXT as UTF-8 bytes, which is code point
 * order. JavaScript's `<` compares UTF-16 code units, which puts a character above U+FFFF (a
 * surrogate pair, 0xD800–0xDFFF) before one in U+E000–U+FFFF: two path-ordered lists from the
 * manifest merged with `<` would fall out of step on such names.
 */
export const compareStoredPaths = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    // A surrogate (a code point above U+FFFF) against a unit at or above U+E000: the surrogate is larger.
    if (xs !== ys && (xs ? y : x) >= 0xe000) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/**
 * How the entry at one path changed from the first backup (`a`) to the second (`b`), either
 * absent; undefined when it did not (or, without `metadata`, only its metadata did).
 */
export const entryChange = (a: FileEntry | undefined, b: FileEntry | undefined, metadata = false): DiffLine | undefined => {
  if (a === undefined) return b === undefined ? undefined : { change: "+", path: b.path, kind: b.kind }
  if (b === undefined) return { change: "-", path: a.path, kind: a.kind }
  if (a.kind !== b.kind) return { change: "T", path: b.path, kind: b.kind }
  if (!sameContent(a, b)) return { change: "M", path: b.path, kind: b.kind }
  if (metadata && !sameMetadata(a, b)) return { change: "U", path: b.path, kind: b.kind }
  return undefined
}
