/**
 * What changed between two backups, as restic's `diff`: for each path in either, `+` (only in
 * the second), `-` (only in the first), `T` (its kind changed), `M` (a file's content changed:
 * other extents, or a symlink's target) and, when asked, `U` (only metadata changed: mode, mtime,
 * owner). Paths are compared as stored, so two backups of the same directory line up. A file whose
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
  if (a.kind !== "file") return true
  if (a.size !== b.size || a.extents.length !== b.extents.length) return false
  return a.extents.every((e, i) => {
    const o = b.extents[i]!
    return e[0] === o[0] && e[1] === o[1] && e[2] === o[2]
  })
}

export const sameMetadata = (a: FileEntry, b: FileEntry): boolean =>
  a.mode === b.mode && a.mtimeMs === b.mtimeMs && a.uid === b.uid && a.gid === b.gid

/** The differences, in path order. `metadata`: also list entries whose metadata alone changed. */
export const diffEntries = (
  first: ReadonlyArray<FileEntry>,
  second: ReadonlyArray<FileEntry>,
  options: { readonly metadata?: boolean } = {}
): Array<DiffLine> => {
  const before = new Map(first.map((f) => [f.path, f]))
  const after = new Map(second.map((f) => [f.path, f]))
  const lines: Array<DiffLine> = []
  for (const a of first) if (!after.has(a.path)) lines.push({ change: "-", path: a.path, kind: a.kind })
  for (const b of second) {
    const a = before.get(b.path)
    if (a === undefined) lines.push({ change: "+", path: b.path, kind: b.kind })
    else if (a.kind !== b.kind) lines.push({ change: "T", path: b.path, kind: b.kind })
    else if (!sameContent(a, b)) lines.push({ change: "M", path: b.path, kind: b.kind })
    else if (options.metadata && !sameMetadata(a, b)) lines.push({ change: "U", path: b.path, kind: b.kind })
  }
  return lines.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))
}
