import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, initRepo, json, makeTree, snapshotTree } from "../support/cli.ts"

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

/** A backup of a sample tree, restored once into `out`, which is then littered. */
const restoredThenLittered = () => {
  const { root, g } = initRepo()
  const src = path.join(root, "data")
  makeTree(src)
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
})
