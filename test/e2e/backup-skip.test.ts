import { assert, describe, it } from "@effect/vitest"
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as path from "node:path"
import { enigma, initRepo, json, makeTree } from "../support/cli.ts"

const eventCount = (dir: string) => {
  const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
  const { n } = db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }
  db.close()
  return Number(n)
}

describe("backup --skip-if-unchanged (restic's)", () => {
  it("records nothing when nothing changed, and a backup after any change: content, mtime, mode, an entry added or removed", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--json"]))
    assert.isFalse(first.skipped)
    const skip = () => json(enigma([...g, "backup", src, "--skip-if-unchanged", "--json"]))

    const events = eventCount(dir)
    const same = skip()
    assert.deepInclude(same, { skipped: true, backupId: first.backupId, parent: first.backupId, files: first.files, bytesRead: 0 })
    assert.strictEqual(eventCount(dir), events, "a skipped run leaves nothing in the log")
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 1)
    assert.match(enigma([...g, "backup", src, "--skip-if-unchanged"]).stdout, new RegExp(`^nothing changed since backup ${first.backupId}: no backup recorded`))

    const changes: Array<[string, () => void]> = [
      ["an mtime", () => utimesSync(path.join(src, "docs", "note1.txt"), 2_000_000, 2_000_000)],
      ["a mode", () => chmodSync(path.join(src, "script.sh"), 0o700)],
      ["a file added", () => writeFileSync(path.join(src, "docs", "new.txt"), "new\n")],
      ["a file removed", () => rmSync(path.join(src, "docs", "note2.txt"))],
      ["an empty directory added", () => mkdirSync(path.join(src, "empty", "inner"))],
      ["a directory's mode", () => chmodSync(path.join(src, "docs", "deep"), 0o700)]
    ]
    let last = first.backupId
    for (const [what, change] of changes) {
      change()
      const r = skip()
      assert.isFalse(r.skipped, what)
      assert.notStrictEqual(r.backupId, last, what)
      assert.strictEqual(r.parent, last, what)
      last = r.backupId
      assert.isTrue(skip().skipped, `${what}: the next run finds nothing new`)
    }

    // Another selection of the same paths is another set of entries.
    const fewer = json(enigma([...g, "backup", src, "--skip-if-unchanged", "--exclude", "*.txt", "--json"]))
    assert.isFalse(fewer.skipped)
    assert.isBelow(fewer.files, first.files)
  })

  it("the same paths given in another order have the same parent, and nothing is read again", () => {
    const { root, g } = initRepo()
    const [a, b] = [path.join(root, "a"), path.join(root, "b")]
    makeTree(a)
    makeTree(b)
    const first = json(enigma([...g, "backup", b, a, "--json"]))
    const again = json(enigma([...g, "backup", a, b, "--json"]))
    assert.strictEqual(again.parent, first.backupId)
    assert.strictEqual(again.bytesRead, 0)
    assert.isTrue(json(enigma([...g, "backup", a, b, "--skip-if-unchanged", "--json"])).skipped)
  })
})
