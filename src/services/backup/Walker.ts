import * as fs from "node:fs"
import type { Stats } from "node:fs"
import { type FsPath, joinStored, shownPath, storedName } from "../../domain/StoredName.ts"

/** One thing found by the walk, in walk order (depth-first, names sorted bytewise). */
export interface WalkEntry {
  /** The path stored in the backup: root name + relative path, `/`-separated (StoredName.ts). */
  readonly path: string
  /** Where it is: a string, or bytes below a name that is not UTF-8. */
  readonly abs: FsPath
  readonly stat: Stats
  readonly kind: "file" | "dir" | "symlink"
}

export interface WalkWarning {
  readonly path: string
  readonly detail: string
}

/**
 * Walks each root without following symlinks. The order is deterministic (sorted names), which
 * keeps the concatenated content stream — and so its chunk boundaries — stable between runs.
 * Unreadable directories and special files become warnings; the walk goes on.
 *
 * The fs calls are synchronous on purpose: with the metadata cached they take microseconds,
 * while each async call is a thread-pool round trip; on trees of small files that dominated.
 */
export function* walk(
  roots: ReadonlyArray<{ readonly abs: string; readonly name: string }>,
  warn: (w: WalkWarning) => void
): Generator<WalkEntry> {
  for (const root of roots) {
    let st: Stats
    try {
      st = fs.lstatSync(root.abs)
    } catch (e) {
      warn({ path: root.abs, detail: (e as Error).message })
      continue
    }
    yield* visit(root.abs, root.name, st, warn)
  }
}

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

function* visit(
  abs: FsPath,
  rel: string,
  st: Stats,
  warn: (w: WalkWarning) => void
): Generator<WalkEntry> {
  if (st.isSymbolicLink()) {
    yield { path: rel, abs, stat: st, kind: "symlink" }
    return
  }
  if (st.isFile()) {
    yield { path: rel, abs, stat: st, kind: "file" }
    return
  }
  if (!st.isDirectory()) {
    warn({ path: shownPath(abs), detail: "special file (socket, fifo or device) skipped" })
    return
  }
  yield { path: rel, abs, stat: st, kind: "dir" }
  let names: Array<string>
  try {
    names = namesIn(abs)
  } catch (e) {
    warn({ path: shownPath(abs), detail: `cannot read directory: ${(e as Error).message}` })
    return
  }
  names.sort(byName)
  for (const name of names) {
    const childAbs = joinStored(abs, name)
    let s: Stats
    try {
      s = fs.lstatSync(childAbs)
    } catch (e) {
      warn({ path: shownPath(childAbs), detail: (e as Error).message })
      continue
    }
    yield* visit(childAbs, `${rel}/${name}`, s, warn)
  }
}
