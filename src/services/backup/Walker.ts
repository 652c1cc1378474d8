import * as fs from "node:fs"
import type { Stats } from "node:fs"
import * as path from "node:path"

/** One thing found by the walk, in walk order (depth-first, names sorted bytewise). */
export interface WalkEntry {
  /** The path stored in the backup: root name + relative path, `/`-separated. */
  readonly path: string
  readonly abs: string
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

function* visit(
  abs: string,
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
    warn({ path: abs, detail: "special file (socket, fifo or device) skipped" })
    return
  }
  yield { path: rel, abs, stat: st, kind: "dir" }
  let names: Array<string>
  try {
    names = fs.readdirSync(abs)
  } catch (e) {
    warn({ path: abs, detail: `cannot read directory: ${(e as Error).message}` })
    return
  }
  names.sort(byName)
  for (const name of names) {
    const childAbs = path.join(abs, name)
    let s: Stats
    try {
      s = fs.lstatSync(childAbs)
    } catch (e) {
      warn({ path: childAbs, detail: (e as Error).message })
      continue
    }
    yield* visit(childAbs, `${rel}/${name}`, s, warn)
  }
}
