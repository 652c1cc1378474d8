import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { enigma, initRepo, json, localProviderToml, makeTree, snapshotTree, tempDir } from "../support/cli.ts"

/** What a restore over an old copy of the tree finds there: strays, a file turned into a directory, and things beside the backup's root. */
const litter = (out: string) => {
  const data = path.join(out, "data")
  writeFileSync(path.join(data, "stray.txt"), "not in the backup\n")
  writeFileSync(path.join(data, "docs", "stray.keep"), "excluded: stays\n")
  mkdirSync(path.join(data, "newdir", "inner"), { recursive: true })
  writeFileSync(path.join(data, "newdir", "inner", "a.rs"), "fn a() {}\n")
  writeFileSync(path.join(data, "newdir", "b.txt"), "b\n")
  // A file of the backup that became a non-empty directory.
  rmSync(path.join(data, "script.sh"))
  mkdirSync(path.join(data, "script.sh"))
  writeFileSync(path.join(data, "script.sh", "inside"), "x\n")
  // Beside the backup's root in DEST: not the backup's, never touched.
  writeFileSync(path.join(out, "beside.txt"), "mine\n")
}

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, Linux). */
const canMount = () => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false
  const at = mkdtempSync(path.join(tmpdir(), "enigma-mount-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "enigma-test", at], { stdio: "ignore" })
    execFileSync("umount", [at])
    return true
  } catch {
    return false
  } finally {
    rmSync(at, { recursive: true, force: true })
  }
}

/** A backup of a sample tree, restored once into `out`, which is then littered. */
const restoredThenLittered = (more?: (src: string) => void) => {
  const { root, g } = initRepo()
  const src = path.join(root, "data")
  makeTree(src)
  more?.(src)
  const { backupId } = json(enigma([...g, "backup", src, "--json"]))
  const out = path.join(root, "out")
  assert.strictEqual(enigma([...g, "restore", backupId, out]).code, 0)
  litter(out)
  return { g, src, backupId, out }
}

describe("restore --delete (restic's): the destination's copy of the backup made exactly the backup", () => {
  it("removes what the backup does not hold, of what the selection restores; --dry-run only says so", () => {
    const { g, src, backupId, out } = restoredThenLittered()
    const before = snapshotTree(out)

    const dry = enigma([...g, "restore", backupId, out, "--delete", "--dry-run", "--exclude", "*.keep", "--json"])
    assert.strictEqual(dry.code, 0, dry.stderr)
    const plan = JSON.parse(dry.stdout)
    assert.deepStrictEqual([...plan.deleted].sort(), ["data/newdir", "data/script.sh", "data/stray.txt"])
    assert.isAbove(plan.entries, 30)
    assert.deepStrictEqual(snapshotTree(out), before, "a dry run changes nothing")
    assert.match(enigma([...g, "restore", backupId, out, "--delete", "--dry-run"]).stdout, /^would delete data\/stray\.txt$/m)

    // Excluded: left alone, as restic's --delete does.
    const kept = json(enigma([...g, "restore", backupId, out, "--delete", "--exclude", "*.keep", "--json"]))
    assert.sameMembers(kept.deleted, ["data/newdir", "data/stray.txt", "data/script.sh"])
    assert.isTrue(existsSync(path.join(out, "data", "docs", "stray.keep")))
    rmSync(path.join(out, "data", "docs", "stray.keep"))
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    assert.isTrue(existsSync(path.join(out, "beside.txt")), "DEST beside the backup's root is not the backup's")
  })

  it("with --glob, only the files the glob picks go, inside directories the backup does not hold too", () => {
    const { g, backupId, out } = restoredThenLittered()
    rmSync(path.join(out, "data", "script.sh"), { recursive: true })
    writeFileSync(path.join(out, "data", "docs", "deep", "stray.rs"), "fn s() {}\n")
    const r = json(enigma([...g, "restore", backupId, out, "--delete", "--glob", "*.rs", "--json"]))
    assert.sameMembers(r.deleted, ["data/docs/deep/stray.rs", "data/newdir/inner/a.rs", "data/newdir/inner"])
    assert.isTrue(existsSync(path.join(out, "data", "stray.txt")))
    assert.isTrue(existsSync(path.join(out, "data", "newdir", "b.txt")))

    // With --path, only below it.
    writeFileSync(path.join(out, "data", "docs", "stray2.txt"), "s\n")
    const under = json(enigma([...g, "restore", backupId, out, "--delete", "--path", "data/docs", "--json"]))
    assert.sameMembers(under.deleted, ["data/docs/stray2.txt", "data/docs/stray.keep"])
    assert.isTrue(existsSync(path.join(out, "data", "stray.txt")))
  })

  // A real tmpfs, mounted inside DEST (needs root and mount(2): skipped where either is missing).
  it.skipIf(!canMount())("leaves a directory with another filesystem mounted in it, and says so: exit 3", () => {
    // A directory of the backup whose name is not UTF-8: paths below it are handled as bytes.
    const latin1 = (dir: string) => Buffer.concat([Buffer.from(path.join(dir, "data", "caf")), Buffer.from([0xe9])])
    const { g, backupId, out } = restoredThenLittered((src) => {
      mkdirSync(latin1(path.dirname(src)))
      writeFileSync(Buffer.concat([latin1(path.dirname(src)), Buffer.from("/kept")]), "kept\n")
    })
    // An extraneous directory with a disk mounted below it, and one where a file of the backup goes.
    const disk = path.join(out, "data", "newdir", "inner", "disk")
    const onPlace = path.join(out, "data", "script.sh", "disk")
    const mounted: Array<string> = []
    try {
      for (const at of [disk, onPlace]) {
        mkdirSync(at)
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "enigma-test", at])
        mounted.push(at)
        writeFileSync(path.join(at, "precious"), "on another disk\n")
      }
      const dry = json(enigma([...g, "restore", backupId, out, "--delete", "--dry-run", "--json"]))
      assert.sameMembers(dry.deleted, ["data/stray.txt", "data/docs/stray.keep"])
      assert.sameMembers(dry.keptMounted, ["data/newdir", "data/script.sh"])

      // Where a file of the backup goes: the restore stops there, the disk untouched.
      const r = enigma([...g, "restore", backupId, out, "--delete"])
      assert.strictEqual(r.code, 1, r.stderr)
      assert.match(r.stderr, /^enigma: cannot write .*\/data\/script\.sh: a directory is in the way of this file or symlink: move it aside, or restore into an empty directory \(another filesystem is mounted in it, and --delete does not reach across filesystems\)\n$/)
      for (const at of mounted) assert.strictEqual(readFileSync(path.join(at, "precious"), "utf8"), "on another disk\n")
      execFileSync("umount", [mounted.pop()!])
      rmSync(path.join(out, "data", "script.sh"), { recursive: true })

      // An extraneous directory: left whole, with a warning and exit 3; the rest is done. Also
      // one in the backup's directory whose name is not UTF-8.
      const latin1Disk = Buffer.concat([latin1(out), Buffer.from("/extra/disk")])
      mkdirSync(latin1Disk, { recursive: true })
      // A command line is text: mount reaches the Latin-1 name through a symlink, and resolves it.
      const viaLink = path.join(path.dirname(out), "latin1-disk")
      symlinkSync(latin1Disk, viaLink)
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "enigma-test", viaLink])
      mounted.push(viaLink)
      const again = enigma([...g, "restore", backupId, out, "--delete"])
      assert.strictEqual(again.code, 3, again.stderr)
      assert.match(again.stderr, /^warning: --delete left data\/newdir: another filesystem is mounted in it, and --delete does not reach across filesystems \(unmount it, or remove it yourself\)$/m)
      assert.match(again.stderr, /^warning: --delete left data\/caf.*\/extra: another filesystem is mounted in it/m)
      assert.strictEqual(again.stderr.trim().split("\n").length, 2, again.stderr)
      assert.strictEqual(readFileSync(path.join(disk, "precious"), "utf8"), "on another disk\n")
      assert.isTrue(existsSync(path.join(out, "data", "newdir", "b.txt")), "the directory is left whole")
      assert.isFalse(existsSync(path.join(out, "data", "stray.txt")), "what is not on the other disk still goes")
      assert.isTrue(existsSync(path.join(out, "data", "script.sh")), "the file is restored once the way is clear")
    } finally {
      for (const at of mounted) execFileSync("umount", [at])
    }
  })

  it("bad combinations are one-line errors that change nothing", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const out = path.join(root, "out")
    mkdirSync(out)
    writeFileSync(path.join(out, "x"), "x")
    for (const [args, message] of [
      [["--delete", "--list"], /--delete and --dry-run restore into a destination; --list only lists/],
      [["--dry-run", "--list"], /--delete and --dry-run restore into a destination; --list only lists/]
    ] as const) {
      const r = enigma([...g, "restore", backupId, out, ...args])
      assert.strictEqual(r.code, 1, args.join(" "))
      assert.match(r.stderr, message)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
    }
    assert.deepStrictEqual(Object.keys(snapshotTree(out)), ["", "x"])
  })

  it("a restore in place over the repository's own files neither writes over nor removes its config, keyfile, database or storage", () => {
    // The config dir is root/repo; the database and the Local storage are in root/state. A backup of
    // other directories named "repo" and "state" holds entries at the same stored paths (as a backup
    // of ~ made before the database and storage were left out does); restoring it into root with
    // --delete lands on the live repository.
    const { root, dir, g } = initRepo([], `[enigma]\ndb_path = "../state/enigma.db"\n${localProviderToml("local", "../state/storage")}`)
    const state = path.join(root, "state")
    const elsewhere = tempDir()
    for (const f of ["repo/enigma.toml", "repo/keys.enc", "repo/notes.txt", "state/enigma.db", "state/storage/chunks/stale", "state/docs/a.txt"]) {
      mkdirSync(path.dirname(path.join(elsewhere, f)), { recursive: true })
      writeFileSync(path.join(elsewhere, f), `old ${f}\n`)
    }
    assert.strictEqual(enigma([...g, "backup", path.join(elsewhere, "repo"), path.join(elsewhere, "state")]).code, 0)
    writeFileSync(path.join(state, "stray.txt"), "not in the backup\n")
    /** The repository's files, as they are. */
    const live = () => {
      const tree = { ...snapshotTree(dir), ...Object.fromEntries(Object.entries(snapshotTree(state)).map(([k, v]) => [`state/${k}`, v])) }
      // What the backup restores and --delete removes, and SQLite's own files, which change as it runs.
      for (const k of Object.keys(tree)) if (!/^(enigma\.toml|keys\.enc|state\/enigma\.db|state\/storage(\/.*)?)$/.test(k)) delete tree[k]
      return tree
    }
    const before = live()
    const kept = "repo/enigma.toml, repo/keys.enc, state/enigma.db, state/storage"
    const dry = enigma([...g, "restore", "latest", root, "--delete", "--dry-run"])
    assert.strictEqual(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, new RegExp(`^would keep ${kept}.*: this repository's own files \\(its config, keyfile, manifest database, Local storage, or a directory holding them\\)`, "m"))
    assert.match(dry.stdout, /^would delete state\/stray\.txt$/m)
    const r = enigma([...g, "restore", "latest", root, "--delete"])
    assert.strictEqual(r.code, 3, r.stderr)
    assert.match(r.stderr, new RegExp(`^warning: left ${kept}.* as they were: this repository's own files`))
    assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
    // What is not the repository's is restored and cleaned as asked; the repository is as it was, and opens.
    assert.strictEqual(readFileSync(path.join(dir, "notes.txt"), "utf8"), "old repo/notes.txt\n")
    assert.strictEqual(readFileSync(path.join(state, "docs", "a.txt"), "utf8"), "old state/docs/a.txt\n")
    assert.isFalse(existsSync(path.join(state, "stray.txt")))
    assert.deepStrictEqual(live(), before)
    assert.strictEqual(enigma([...g, "verify", "latest", "--read-data"]).code, 0)
    // Into the storage: refused before anything is written.
    const into = path.join(state, "storage", "restored")
    const bad = enigma([...g, "restore", "latest", into])
    assert.strictEqual(bad.code, 1)
    assert.strictEqual(bad.stderr, `enigma: restore destination ${into} is inside this repository's Local provider local's storage ${path.join(state, "storage")}: restore somewhere else\n`)
    assert.isFalse(existsSync(into))
    // A file of the backup where a directory holding the repository's files stands: the restore stops there.
    const other = path.join(tempDir(), "state")
    writeFileSync(other, "a file named state\n")
    assert.strictEqual(enigma([...g, "backup", other]).code, 0)
    const beforeStop = live()
    const stop = enigma([...g, "restore", "latest", root, "--delete"])
    assert.strictEqual(stop.code, 1)
    assert.match(stop.stderr, /^enigma: cannot write .*\/state: a directory is in the way of this file or symlink: .*\(it holds this repository's own files/)
    assert.deepStrictEqual(live(), beforeStop)
  })
})
