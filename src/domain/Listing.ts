import type { FileEntry } from "./Events.ts"
import { matchesPrefix } from "./PathFilter.ts"
import { shownDevice } from "./SpecialFiles.ts"

/**
 * What `enigma ls ID [DIR…]` shows (restic's `ls`), pure: which entries a directory argument
 * picks, and how a line of `--long` output looks.
 */

/** A DIR argument as stored paths are written: no leading or trailing slash; `/` (or "") is the root. */
export const normalizeListDir = (dir: string): string => dir.replace(/^\/+/, "").replace(/\/+$/, "")

const parentOf = (p: string): string => {
  const at = p.lastIndexOf("/")
  return at < 0 ? "" : p.slice(0, at)
}

/**
 * Whether `e` is listed for `dir`: without `recursive`, the entries directly in it (or the entry
 * itself when `dir` names a file or symlink, as `ls FILE` does); with it, everything beneath.
 */
export const listedFor = (dir: string, recursive: boolean, e: Pick<FileEntry, "path" | "kind">): boolean => {
  if (e.path === dir) return e.kind !== "dir"
  if (recursive) return matchesPrefix(e.path, dir)
  return parentOf(e.path) === dir
}

const typeChars: Record<FileEntry["kind"], string> = { file: "-", dir: "d", symlink: "l", fifo: "p", chardev: "c", blockdev: "b" }

/** The letter ls -l writes for a kind of entry: `-`, `d`, `l`, `p`, `c`, `b`. */
export const typeChar = (kind: FileEntry["kind"]): string => typeChars[kind]

/** What the size column shows: a device node's `major, minor` (as ls -l), else the size in bytes. */
export const sizeColumn = (e: { readonly kind: FileEntry["kind"]; readonly size: number; readonly rdev?: number | undefined }, width: number): string =>
  (e.kind === "chardev" || e.kind === "blockdev" ? shownDevice(e.rdev) : String(e.size)).padStart(width)

/** `drwxr-xr-x`, as ls -l writes the kind and permission bits (setuid, setgid, sticky included). */
export const modeString = (kind: FileEntry["kind"], mode: number): string => {
  const bit = (mask: number, c: string) => ((mode & mask) !== 0 ? c : "-")
  const exec = (x: number, special: number, set: string, unset: string) =>
    (mode & special) !== 0 ? ((mode & x) !== 0 ? set : unset) : bit(x, "x")
  return typeChar(kind) +
    bit(0o400, "r") + bit(0o200, "w") + exec(0o100, 0o4000, "s", "S") +
    bit(0o040, "r") + bit(0o020, "w") + exec(0o010, 0o2000, "s", "S") +
    bit(0o004, "r") + bit(0o002, "w") + exec(0o001, 0o1000, "t", "T")
}

const two = (n: number) => String(n).padStart(2, "0")

/** `2026-11-27 18:39:00`, in the time zone the process runs in. */
export const localTime = (ms: number): string => {
  const d = new Date(ms)
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

/** One line of `ls --long`: mode, owner, group, size, mtime, path (and a symlink's target). */
export const longLine = (e: FileEntry): string =>
  `${modeString(e.kind, e.mode)} ${String(e.uid ?? "?").padStart(6)} ${String(e.gid ?? "?").padStart(6)} ${sizeColumn(e, 12)} ` +
  `${localTime(e.mtimeMs)} ${e.path}${e.target !== undefined ? ` -> ${e.target}` : ""}`
