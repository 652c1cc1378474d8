import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { chmodSync, chownSync, linkSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { enigma, enigmaBin, initRepo, json, passphrase, prng, snapshotTree } from "../support/cli.ts"

/** The same native module enigma uses (l*xattr calls: a symlink's own attributes). */
const xattr = createRequire(import.meta.url)("@napi-rs/xattr") as {
  listAttributesSync(p: string): Array<string>
  getAttributeSync(p: string, name: string): Buffer | null
  setAttributeSync(p: string, name: string, value: Uint8Array | string): void
}
/** A path's attributes as name → hex value, by name. */
const xattrsOf = (p: string): Record<string, string> =>
  Object.fromEntries(xattr.listAttributesSync(p).sort().map((n) => [n, xattr.getAttributeSync(p, n)!.toString("hex")]))

const isRoot = process.getuid?.() === 0
/** A valid security.capability value (VFS_CAP_REVISION_2): cap_net_raw, permitted and effective. */
const capNetRaw = Buffer.from("0100000200200000000000000000000000000000", "hex")

/** A tree whose entries carry attributes: small and large files, a directory, a read-only file, a symlink. */
const makeTree = (src: string) => {
  mkdirSync(path.join(src, "dir"), { recursive: true })
  writeFileSync(path.join(src, "small.txt"), "small\n")
  writeFileSync(path.join(src, "large.bin"), prng(5)(9 * 1024 * 1024))
  writeFileSync(path.join(src, "readonly.txt"), "read only\n")
  writeFileSync(path.join(src, "plain.txt"), "no attributes\n")
  symlinkSync("small.txt", path.join(src, "link"))
  xattr.setAttributeSync(path.join(src, "small.txt"), "user.comment", "héllo wörld")
  xattr.setAttributeSync(path.join(src, "small.txt"), "user.binary", Buffer.from([0, 1, 2, 255]))
  xattr.setAttributeSync(path.join(src, "large.bin"), "user.origin", "https://example.org/large.bin")
  xattr.setAttributeSync(path.join(src, "dir"), "user.tag", "blue")
  xattr.setAttributeSync(path.join(src, "readonly.txt"), "user.note", "kept though the file is 0444")
  chmodSync(path.join(src, "readonly.txt"), 0o444)
}

/** Every entry's attributes under `root`, by relative path. */
const treeXattrs = (root: string, rels: ReadonlyArray<string>) => Object.fromEntries(rels.map((r) => [r, xattrsOf(path.join(root, r))]))
const rels = ["", "dir", "small.txt", "large.bin", "readonly.txt", "plain.txt", "link"]

describe("extended attributes", () => {
  it("are backed up and restored on files (small and large), directories and read-only files; an unchanged re-backup keeps them; diff --metadata sees a change", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    if (isRoot) {
      // Root's namespaces too: trusted.*, and a file capability, which a chown clears (the restore sets it after).
      xattr.setAttributeSync(path.join(src, "small.txt"), "trusted.origin", "root only")
      xattr.setAttributeSync(path.join(src, "large.bin"), "security.capability", capNetRaw)
    }
    const before = treeXattrs(src, rels)
    assert.strictEqual(before["small.txt"]!["user.comment"], Buffer.from("héllo wörld").toString("hex"))
    const first = json(enigma([...g, "backup", src, "--json"]))
    const out = path.join(root, "out")
    const restored = enigma([...g, "restore", first.backupId, out])
    assert.strictEqual(restored.code, 0, restored.stderr)
    assert.strictEqual(restored.stderr, "")
    assert.deepStrictEqual(treeXattrs(path.join(out, "data"), rels), before)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    assert.strictEqual(statSync(path.join(out, "data", "readonly.txt")).mode & 0o777, 0o444)
    // --exclude-xattr and --include-xattr choose which are set, by name.
    const some = path.join(root, "some")
    assert.strictEqual(enigma([...g, "restore", first.backupId, some, "--exclude-xattr", "user.bin*", "--exclude-xattr", "trusted.*"]).code, 0)
    assert.deepStrictEqual(Object.keys(xattrsOf(path.join(some, "data", "small.txt"))), ["user.comment"])
    const only = path.join(root, "only")
    assert.strictEqual(enigma([...g, "restore", first.backupId, only, "--include-xattr", "user.t*"]).code, 0)
    assert.deepStrictEqual(treeXattrs(path.join(only, "data"), ["dir", "small.txt", "large.bin"]), { dir: { "user.tag": Buffer.from("blue").toString("hex") }, "small.txt": {}, "large.bin": {} })
    const bad = enigma([...g, "restore", first.backupId, path.join(root, "bad"), "--include-xattr", "[z-a]"])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /^enigma: --include-xattr \[z-a\] is not a valid pattern/)
    // ls --json shows them (values as base64); dump's tar carries them as GNU tar --xattrs reads them.
    const listed = json(enigma([...g, "ls", "latest", "data/small.txt", "--json"]))
    assert.strictEqual(listed[0].xattrs["user.binary"], "AAEC/w==")
    const untarred = path.join(root, "untarred")
    mkdirSync(untarred)
    const tar = spawnSync("sh", ["-c", `"${process.execPath}" "${enigmaBin}" ${g.join(" ")} dump latest / | tar --xattrs --xattrs-include='*' -x -C "${untarred}"`], {
      encoding: "utf8",
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase }
    })
    assert.strictEqual(tar.status, 0, tar.stderr)
    assert.deepStrictEqual(treeXattrs(path.join(untarred, "data"), rels.filter((r) => r !== "")), Object.fromEntries(rels.filter((r) => r !== "").map((r) => [r, before[r]!])))

    // A hard link restored without the file it links to is a copy of its own, with the attributes.
    const linked = path.join(root, "linked")
    mkdirSync(path.join(linked, "a"), { recursive: true })
    mkdirSync(path.join(linked, "b"))
    writeFileSync(path.join(linked, "a", "first"), "shared inode\n")
    linkSync(path.join(linked, "a", "first"), path.join(linked, "b", "second"))
    xattr.setAttributeSync(path.join(linked, "a", "first"), "user.shared", "by both names")
    assert.strictEqual(enigma([...g, "backup", linked]).code, 0)
    const partial = path.join(root, "partial")
    assert.strictEqual(enigma([...g, "restore", "latest", partial, "--path", "linked/b"]).code, 0)
    assert.deepStrictEqual(xattrsOf(path.join(partial, "linked", "b", "second")), { "user.shared": Buffer.from("by both names").toString("hex") })
    const whole = path.join(root, "whole")
    assert.strictEqual(enigma([...g, "restore", "latest", whole]).code, 0)
    assert.strictEqual(statSync(path.join(whole, "linked", "b", "second")).ino, statSync(path.join(whole, "linked", "a", "first")).ino)
    assert.deepStrictEqual(xattrsOf(path.join(whole, "linked", "b", "second")), { "user.shared": Buffer.from("by both names").toString("hex") })

    // Unchanged files are not read again, and keep their attributes in the new backup.
    const second = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(second.bytesRead, 0)
    const again = path.join(root, "again")
    assert.strictEqual(enigma([...g, "restore", second.backupId, again]).code, 0)
    assert.deepStrictEqual(treeXattrs(path.join(again, "data"), rels), before)

    // An attribute changed alone (content and mtime the same) is a metadata change.
    xattr.setAttributeSync(path.join(src, "plain.txt"), "user.added", "later")
    const third = json(enigma([...g, "backup", src, "--json"]))
    const diff = json(enigma([...g, "diff", second.backupId, third.backupId, "--metadata", "--json"]))
    assert.deepStrictEqual(diff.changes.map((c: { change: string; path: string }) => [c.change, c.path]), [["U", "data/plain.txt"]])
    assert.deepStrictEqual(json(enigma([...g, "diff", second.backupId, third.backupId, "--json"])).changes, [])
  })

  it("a restore by a user the filesystem refuses some attributes to: the data and the rest are restored, one warning, exit 3", (ctx) => {
    if (!isRoot) return ctx.skip()
    // Backed up by root (trusted.* needs it), restored by nobody into its own directory.
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    xattr.setAttributeSync(path.join(src, "small.txt"), "trusted.origin", "root only")
    xattr.setAttributeSync(path.join(src, "dir"), "trusted.origin", "root only")
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const nobody = { uid: 65534, gid: 65534 }
    const parent = path.dirname(root)
    chmodSync(parent, statSync(parent).mode | 0o011)
    chmodSync(root, 0o755)
    const outRoot = path.join(root, "nobody")
    mkdirSync(outRoot)
    chownSync(outRoot, nobody.uid, nobody.gid)
    // nobody reads the repository through a copy of its config dir it owns.
    const repoCopy = path.join(outRoot, "repo")
    spawnSync("cp", ["-a", g[1]!, repoCopy])
    spawnSync("chown", ["-R", `${nobody.uid}:${nobody.gid}`, repoCopy])
    const config = path.join(repoCopy, "enigma.toml")
    writeFileSync(config, readFileSync(config, "utf8").replaceAll(g[1]!, repoCopy))
    const out = path.join(outRoot, "out")
    const r = spawnSync(process.execPath, [enigmaBin, "--config-dir", repoCopy, "restore", "latest", out], {
      encoding: "utf8",
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, HOME: outRoot },
      ...nobody
    })
    assert.strictEqual(r.status, 3, r.stderr)
    assert.match(r.stderr.trim(), /^warning: 2 extended attributes were not restored: the filesystem refused them \(EPERM; security\.\* and trusted\.\* need root/)
    const user = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([n]) => n.startsWith("user.")))
    const want = treeXattrs(src, rels)
    const got = treeXattrs(path.join(out, "data"), rels)
    for (const rel of rels) assert.deepStrictEqual(got[rel], user(want[rel]!), rel)
    assert.strictEqual(statSync(path.join(out, "data", "readonly.txt")).mode & 0o777, 0o444)
    assert.isTrue(readFileSync(path.join(out, "data", "large.bin")).equals(readFileSync(path.join(src, "large.bin"))))
  })
})
