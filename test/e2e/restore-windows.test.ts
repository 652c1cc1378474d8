/**
 * A restore reads a backup's entries a window at a time (Restore.ts, `restoreWindow`), so that its
 * memory does not grow with the number of files. These tests restore the same backup with tiny
 * windows (1, 3, 70 entries) and with the default (the whole backup in one), and compare the trees:
 * hard links whose first link lies in another window, directories made in one window and filled
 * in a later one, their modes and mtimes set at the end, the small-file writer made in one window
 * and used by the next, selections, and the checks that must hold before anything is written.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Enigma from "../../src/runtime/index.ts"
import type { FileEntry } from "../../src/domain/Events.ts"
import { Restore } from "../../src/services/restore/Restore.ts"
import { enigma, json, makeTree, passphrase, snapshotTree, tempDir } from "../support/cli.ts"

/** snapshotTree, plus each directory's mtime and which paths are one inode (hard links). */
const fullSnapshot = (dir: string) => {
  const tree = snapshotTree(dir)
  const dirTimes: Record<string, number> = {}
  const inodes = new Map<number, Array<string>>()
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs)
    if (st.isDirectory()) {
      dirTimes[rel] = Math.floor(st.mtimeMs)
      for (const n of readdirSync(abs)) visit(path.join(abs, n), rel ? `${rel}/${n}` : n)
    } else if (st.isFile() && st.nlink > 1) {
      inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel].sort())
    }
  }
  visit(dir, "")
  return { tree, dirTimes, links: [...inodes.values()].map((l) => l.join(" = ")).sort() }
}

/** makeTree, 100 small files (the batched writer's share), and hard links across windows. */
const makeSource = (src: string) => {
  makeTree(src)
  mkdirSync(path.join(src, "many"))
  for (let i = 0; i < 100; i++) writeFileSync(path.join(src, "many", `f${String(i).padStart(3, "0")}.txt`), `small ${i}\n`.repeat(i % 7 + 1))
  // The walk meets hl/a/x first (its subtree before hl/a-b), but path order puts hl/a-b before
  // hl/a/x: the second link comes in an earlier window than the first.
  mkdirSync(path.join(src, "hl", "a"), { recursive: true })
  writeFileSync(path.join(src, "hl", "a", "x"), "linked bytes\n")
  linkSync(path.join(src, "hl", "a", "x"), path.join(src, "hl", "a-b"))
  linkSync(path.join(src, "hl", "a", "x"), path.join(src, "hl", "z"))
  symlinkSync("a/x", path.join(src, "hl", "sym"))
  for (const d of ["hl/a", "hl", "many", "docs/deep"]) utimesSync(path.join(src, d), 2_000_000, 2_000_000)
}

/** A repository with one backup of makeSource's tree (changed first by `more`). */
const backedUpSource = (more?: (src: string) => void) =>
  Effect.gen(function*() {
    const root = tempDir()
    const repo = { configDir: path.join(root, "repo"), passphrase }
    const src = path.join(root, "data")
    makeSource(src)
    more?.(src)
    yield* Enigma.init(repo)
    const b = yield* Enigma.backup(repo, [src])
    return { root, repo, src, b }
  })

describe("restore a window of entries at a time", () => {
  it.effect("tiny windows restore the same tree as one window: contents, modes, mtimes, links, hard links", () =>
    Effect.gen(function*() {
      const { root, repo, src, b } = yield* backedUpSource()
      const whole = yield* Enigma.restore(repo, b.backupId, path.join(root, "whole"))
      const expected = fullSnapshot(path.join(root, "whole", "data"))
      assert.deepStrictEqual(expected.tree, snapshotTree(src))
      assert.deepStrictEqual(expected.links, ["hl/a-b = hl/a/x = hl/z"])
      assert.strictEqual(expected.dirTimes["hl/a"], 2_000_000_000)
      for (const windowEntries of [1, 3, 70]) {
        const dest = path.join(root, `w${windowEntries}`)
        const r = yield* Enigma.restore(repo, b.backupId, dest, { windowEntries })
        assert.deepStrictEqual(fullSnapshot(path.join(dest, "data")), expected, `window of ${windowEntries}`)
        assert.deepStrictEqual(r, whole, `window of ${windowEntries}`)
      }
    }))

  it.effect("selections (--path, --glob, --exclude) and --overwrite pick the same entries in windows", () =>
    Effect.gen(function*() {
      const { root, repo, b } = yield* backedUpSource()
      const selections = [
        { pathPrefix: "data/hl" },
        { glob: "*.txt" },
        { glob: "data/hl/**" },
        { exclude: ["many", "*.bin"] },
        { pathPrefix: "data/docs", exclude: ["deep"] }
      ]
      for (const [i, selection] of selections.entries()) {
        const one = path.join(root, `one${i}`)
        const windowed = path.join(root, `win${i}`)
        const a = yield* Enigma.restore(repo, b.backupId, one, selection)
        const w = yield* Enigma.restore(repo, b.backupId, windowed, { ...selection, windowEntries: 2 })
        assert.deepStrictEqual(w, a, JSON.stringify(selection))
        // Directories above the selection are made, not restored: only the mtimes set in the source compare.
        const restoredTimes = (dir: string) => {
          const { dirTimes, ...rest } = fullSnapshot(dir)
          return { ...rest, dirTimes: Object.entries(dirTimes).filter(([, t]) => t === 2_000_000_000) }
        }
        assert.deepStrictEqual(restoredTimes(windowed), restoredTimes(one), JSON.stringify(selection))
      }
      // With a glob, a directory holding no selected file is not made, in any window.
      assert.isFalse(existsSync(path.join(root, "win1", "data", "empty")))
      assert.isTrue(existsSync(path.join(root, "win1", "data", "many", "f000.txt")))
      // Run again over itself with if-changed: every file and symlink is left as it was.
      const again = yield* Enigma.restore(repo, b.backupId, path.join(root, "win3"), { exclude: ["many", "*.bin"], overwrite: "if-changed", windowEntries: 2 })
      assert.strictEqual(again.files, 0)
      assert.isAbove(again.skipped, 30)
    }))

  it.effect("nothing matching, and an entry that would escape DEST in a later window, write nothing", () =>
    Effect.gen(function*() {
      const { root, repo, b } = yield* backedUpSource()
      const none = yield* Effect.flip(Enigma.restore(repo, b.backupId, path.join(root, "none"), { glob: "*.nothing", windowEntries: 3 }))
      assert.match(none.message, /nothing in backup .* matches --glob \*\.nothing/)
      assert.isFalse(existsSync(path.join(root, "none")))
      // A damaged (or hostile) manifest: the last entry in path order climbs out of DEST.
      const db = new DatabaseSync(path.join(repo.configDir, "enigma.db"))
      db.prepare("UPDATE files SET path = 'data/zz/../../../escaped' WHERE backup_id = ? AND path = 'data/script.sh'").run(b.backupId)
      db.close()
      const escape = yield* Effect.flip(Enigma.restore(repo, b.backupId, path.join(root, "out"), { windowEntries: 3 }))
      assert.match(escape.message, /would escape the destination; refusing to restore it/)
      assert.isFalse(existsSync(path.join(root, "out")))
      assert.isFalse(existsSync(path.join(root, "escaped")))
    }))

  it.effect("dump reads windows too: the same tar bytes for a directory, one beside names that sort into it, and the whole backup", () =>
    Effect.gen(function*() {
      const { repo, b } = yield* backedUpSource()
      const dumped = (what: string, windowEntries?: number) =>
        Effect.gen(function*() {
          const parts: Array<Uint8Array> = []
          const r = yield* Enigma.dump(repo, b.backupId, what, (bytes) => Effect.sync(() => void parts.push(Uint8Array.from(bytes))), windowEntries === undefined ? {} : { windowEntries })
          return { r, tar: Buffer.concat(parts) }
        })
      // data/hl/a-b sorts between data/hl/a and data/hl/a/x: skipped, and the contents still found.
      for (const what of ["data/hl/a", "data/hl", "data", "/"]) {
        const whole = yield* dumped(what)
        assert.isTrue(whole.r.archive)
        for (const windowEntries of [1, 3]) {
          const windowed = yield* dumped(what, windowEntries)
          assert.deepStrictEqual(windowed.r, whole.r, `${what}, window of ${windowEntries}`)
          assert.isTrue(windowed.tar.equals(whole.tar), `${what}, window of ${windowEntries}`)
        }
      }
      const a = (yield* dumped("data/hl/a", 1)).tar.toString("latin1")
      assert.include(a, "data/hl/a/x")
      assert.notInclude(a, "data/hl/a-b")
    }))

  it.effect("diff merges the two backups a window at a time: the same changes as in one window, names above U+FFFF included", () =>
    Effect.gen(function*() {
      // Names whose order differs between UTF-16 units and UTF-8 bytes (the manifest's order).
      const { repo, src, b: first } = yield* backedUpSource((src) => {
        for (const n of ["a\uffff", "a\u{1F600}", "a\ue000z", "b"]) writeFileSync(path.join(src, "many", n), n)
      })
      writeFileSync(path.join(src, "many", "a\u{1F600}"), "changed")
      unlinkSync(path.join(src, "many", "a\uffff"))
      writeFileSync(path.join(src, "many", "a\u{1F601}"), "new")
      rmSync(path.join(src, "many", "f050.txt"))
      mkdirSync(path.join(src, "many", "f050.txt")) // a file became a directory
      unlinkSync(path.join(src, "hl", "sym"))
      symlinkSync("elsewhere", path.join(src, "hl", "sym"))
      chmodSync(path.join(src, "script.sh"), 0o700) // metadata only
      writeFileSync(path.join(src, "zz-last"), "added at the end")
      const second = yield* Enigma.backup(repo, [src])
      for (const metadata of [false, true]) {
        const whole = yield* Enigma.diff(repo, first.backupId, second.backupId, { metadata })
        const lines = whole.changes.map((l) => `${l.change} ${l.path}`)
        for (const expected of ["M data/many/a\u{1F600}", "- data/many/a\uffff", "+ data/many/a\u{1F601}", "T data/many/f050.txt", "M data/hl/sym", "+ data/zz-last"]) {
          assert.include(lines, expected)
        }
        assert.strictEqual(lines.includes("U data/script.sh"), metadata)
        for (const windowEntries of [1, 2, 7]) {
          assert.deepStrictEqual(yield* Enigma.diff(repo, first.backupId, second.backupId, { metadata, windowEntries }), whole, `window of ${windowEntries}`)
        }
      }
    }))

  it.effect("restore --list shows, window by window, what one window shows; the CLI's JSON is the same list", () =>
    Effect.gen(function*() {
      const { repo, b } = yield* backedUpSource()
      const listed = (options: Record<string, unknown>) =>
        Effect.gen(function*() {
          const out: Array<string> = []
          const count = yield* (yield* Restore).list(b.backupId, options, (entries: ReadonlyArray<FileEntry>) => Effect.sync(() => void out.push(...entries.map((e) => `${e.kind} ${e.path}`))))
          assert.strictEqual(count, out.length)
          return out
        }).pipe(Effect.provide(Enigma.repositoryLayerFor(repo)))
      for (const selection of [{}, { glob: "*.txt" }, { glob: "data/hl/**" }, { pathPrefix: "data/hl" }, { exclude: ["many"] }, { glob: "*.none" }]) {
        const whole = yield* listed(selection)
        for (const windowEntries of [1, 3]) assert.deepStrictEqual(yield* listed({ ...selection, windowEntries }), whole, JSON.stringify(selection))
        // With a glob, only directories holding a selected entry.
        if ("glob" in selection && selection.glob === "*.txt") {
          assert.include(whole, "dir data/many")
          assert.notInclude(whole, "dir data/empty")
        }
      }
      const cli = json(enigma(["--config-dir", repo.configDir, "restore", b.backupId, "--list", "--json", "--glob", "*.txt"])) as Array<{ kind: string; path: string }>
      assert.deepStrictEqual(cli.map((e) => `${e.kind} ${e.path}`), yield* listed({ glob: "*.txt" }))
      assert.deepStrictEqual(json(enigma(["--config-dir", repo.configDir, "restore", b.backupId, "--list", "--json", "--glob", "*.none"])), [])
      assert.strictEqual(enigma(["--config-dir", repo.configDir, "restore", b.backupId, "--list", "--glob", "*.none"]).stdout, "(no entries match)\n")
    }))

  it.effect("the CLI writes a long listing in slices that join up: JSON that parses, lines that match, in path order", () =>
    Effect.gen(function*() {
      // More entries than the CLI formats at a time (2,000), so the listing is written in slices.
      const { repo, b } = yield* backedUpSource((src) => {
        mkdirSync(path.join(src, "wide"))
        for (let i = 0; i < 4_500; i++) writeFileSync(path.join(src, "wide", `w${i}`), "")
      })
      const expected = yield* Effect.gen(function*() {
        const out: Array<FileEntry> = []
        yield* (yield* Restore).list(b.backupId, {}, (entries: ReadonlyArray<FileEntry>) => Effect.sync(() => void out.push(...entries)))
        return out
      }).pipe(Effect.provide(Enigma.repositoryLayerFor(repo)))
      assert.isAbove(expected.length, 4_600)
      const cli = json(enigma(["--config-dir", repo.configDir, "restore", b.backupId, "--list", "--json"])) as Array<{ kind: string; path: string; size: number }>
      assert.deepStrictEqual(cli.map((e) => `${e.kind} ${e.path} ${e.size}`), expected.map((e) => `${e.kind} ${e.path} ${e.size}`))
      const lines = enigma(["--config-dir", repo.configDir, "restore", b.backupId, "--list"]).stdout.split("\n")
      assert.strictEqual(lines.pop(), "")
      assert.deepStrictEqual(lines.map((l) => l.slice(15)), expected.map((e) => `${e.path}${e.target ? ` -> ${e.target}` : ""}`))
    }))
})
