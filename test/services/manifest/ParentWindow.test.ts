import { assert, describe, it } from "@effect/vitest"
import { DatabaseSync } from "node:sqlite"
import { type ParentRow, ParentWindow } from "../../../src/services/manifest/ParentWindow.ts"

const hex = (i: number) => i.toString(16).padStart(64, "0")

// The parent's files in a real SQLite table shaped as the manifest's (primary key backup_id, path),
// queried as Manifest.parentFiles queries it; a second backup's rows around them must not leak in.
const parentDb = (paths: ReadonlyArray<string>) => {
  const db = new DatabaseSync(":memory:")
  db.exec(`CREATE TABLE files (backup_id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ms REAL NOT NULL, ino INTEGER NOT NULL, ctime_ms REAL NOT NULL, extents TEXT NOT NULL, PRIMARY KEY (backup_id, path)) WITHOUT ROWID`)
  const insert = db.prepare("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
  paths.forEach((p, i) => {
    insert.run("parent", p, "file", i, 1_700_000_000_000.5 + i, 1000 + i, 1_700_000_000_001.25 + i, JSON.stringify([[hex(i), 0, i]]))
    insert.run("other", p, "file", -1, 0, 0, 0, "[]")
  })
  insert.run("parent", "a-dir", "dir", 0, 0, 0, 0, "[]") // not a regular file: never found
  const page = db.prepare("SELECT path, size, mtime_ms, ino, ctime_ms, extents FROM files WHERE backup_id = 'parent' AND kind = 'file' AND path > ? ORDER BY path LIMIT ?")
  const one = db.prepare("SELECT path, size, mtime_ms, ino, ctime_ms, extents FROM files WHERE backup_id = 'parent' AND path = ? AND kind = 'file'")
  const counts = { pages: 0, ones: 0 }
  const window = (pageSize: number) =>
    new ParentWindow(
      (after, limit) => {
        counts.pages++
        return page.iterate(after, limit) as Iterable<ParentRow>
      },
      (path) => {
        counts.ones++
        return one.get(path) as ParentRow | undefined
      },
      pageSize
    )
  return { window, counts, index: new Map(paths.map((p, i) => [p, i])) }
}

/** Paths in the order the backup walk yields them: depth first, each directory's names sorted with `<`. */
const walkOrder = (paths: ReadonlyArray<string>): Array<string> => {
  interface Dir { readonly dirs: Map<string, Dir>; readonly files: Set<string> }
  const root: Dir = { dirs: new Map(), files: new Set() }
  for (const p of paths) {
    const parts = p.split("/")
    let d = root
    for (const part of parts.slice(0, -1)) {
      if (!d.dirs.has(part)) d.dirs.set(part, { dirs: new Map(), files: new Set() })
      d = d.dirs.get(part)!
    }
    d.files.add(parts[parts.length - 1]!)
  }
  const out: Array<string> = []
  const visit = (d: Dir, prefix: string) => {
    for (const name of [...d.dirs.keys(), ...d.files].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const sub = d.dirs.get(name)
      if (sub) visit(sub, `${prefix}${name}/`)
      else out.push(`${prefix}${name}`)
    }
  }
  visit(root, "")
  return out
}

describe("ParentWindow", () => {
  // Names whose walk order and manifest order differ: "a-b" and "a.c" sort before "a/…" in the
  // manifest but after it in the walk; a name above U+FFFF sorts after U+E000–U+FFFF by code point
  // but before them by UTF-16 unit.
  const tricky = ["r/a/x", "r/a/y", "r/a-b", "r/a.c", "r/a-b2/z", "r/\u{1F600}", "r/\uE000", "r/\uFFFD/q", "r/b", "r/ab"]
  const many = Array.from({ length: 500 }, (_, i) => `r/d${i % 7}/f${i}`)
  const paths = [...tricky, ...many]

  it("finds every file of the parent in walk order, whatever the page size, reading the parent about once", () => {
    for (const pageSize of [1, 2, 3, 7, 64, 4096]) {
      const { window, counts, index } = parentDb(paths)
      const w = window(pageSize)
      for (const p of walkOrder(paths)) {
        const got = w.get(p)
        const i = index.get(p)!
        assert.isDefined(got, `${p} (page size ${pageSize})`)
        assert.deepStrictEqual([got!.size, got!.mtimeMs, got!.ino, got!.ctimeMs], [i, 1_700_000_000_000.5 + i, 1000 + i, 1_700_000_000_001.25 + i], p)
        assert.deepStrictEqual(got!.extents(), [[hex(i), 0, i]], p)
      }
      // Pages cover the parent once; only the few paths the walk meets out of the manifest's order
      // are looked up alone.
      assert.isAtMost(counts.pages, Math.ceil(paths.length / pageSize) + 1, `pages, page size ${pageSize}`)
      assert.isAtMost(counts.ones, 6, `single lookups, page size ${pageSize}`)
    }
  })

  it("says a path the parent lacks is new, ahead of, inside and behind the page, and never returns another backup's rows", () => {
    const { window } = parentDb(paths)
    const w = window(3)
    assert.isUndefined(w.get("r/a-dir")) // new, before the first page
    assert.isUndefined(w.get("a-dir")) // a directory row, not a file
    assert.strictEqual(w.get("r/d3/f3")!.size, tricky.length + 3)
    assert.isUndefined(w.get("r/d3/f3-new")) // inside
    assert.isUndefined(w.get("r/a-new")) // behind: looked up alone
    assert.isUndefined(w.get("z/after-everything")) // past the end
    assert.strictEqual(w.get("r/a/x")!.size, 0) // far behind, still found
  })

  it("answers lookups in any order", () => {
    const { window, index } = parentDb(paths)
    const w = window(5)
    const shuffled = [...paths].sort(() => Math.random() - 0.5)
    for (const p of shuffled) assert.strictEqual(w.get(p)?.size, index.get(p), p)
  })

  it("an empty parent finds nothing", () => {
    const { window, counts } = parentDb([])
    const w = window(4)
    assert.isUndefined(w.get("r/a"))
    assert.isUndefined(w.get("r/b"))
    assert.strictEqual(counts.pages, 1)
  })
})
