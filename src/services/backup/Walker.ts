import * as fs from "node:fs/promises"
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
 */
export async function* walk(
  roots: ReadonlyArray<{ readonly abs: string; readonly name: string }>,
  warn: (w: WalkWarning) => void
): AsyncGenerator<WalkEntry> {
  for (const root of roots) {
    let st: Stats
    try {
      st = await fs.lstat(root.abs)
    } catch (e) {
      warn({ path: root.abs, detail: (e as Error).message })
      continue
    }
    yield* visit(root.abs, root.name, st, warn)
  }
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

async function* visit(
  abs: string,
  rel: string,
  st: Stats,
  warn: (w: WalkWarning) => void
): AsyncGenerator<WalkEntry> {
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
    names = await fs.readdir(abs)
  } catch (e) {
    warn({ path: abs, detail: `cannot read directory: ${(e as Error).message}` })
    return
  }
  names.sort(byName)
  // lstat the directory's entries concurrently: on trees of small files this is most of the walk.
  const stats = await Promise.all(names.map((n) => fs.lstat(path.join(abs, n)).then((s) => s, (e: Error) => e)))
  for (let i = 0; i < names.length; i++) {
    const s = stats[i]!
    const childAbs = path.join(abs, names[i]!)
    if (s instanceof Error) {
      warn({ path: childAbs, detail: s.message })
      continue
    }
    yield* visit(childAbs, `${rel}/${names[i]}`, s, warn)
  }
}
