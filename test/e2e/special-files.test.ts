import { assert, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import { chownSync, lstatSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, enigmaBin, enigmaPipe, initRepo, json, passphrase, snapshotTree } from "../support/cli.ts"

const isRoot = process.getuid?.() === 0
/** setpriv (util-linux) drops CAP_MKNOD from a root restore, to see what a restore without it does. */
const hasSetpriv = spawnSync("setpriv", ["--version"]).status === 0

/** A tree with a FIFO (anyone can make one) and, as root, a character and a block device. */
const makeTree = (src: string) => {
  mkdirSync(path.join(src, "sub"), { recursive: true })
  writeFileSync(path.join(src, "file.txt"), "a regular file\n")
  execFileSync("mkfifo", ["-m", "640", path.join(src, "sub", "pipe")])
  utimesSync(path.join(src, "sub", "pipe"), new Date("2020-01-02T03:04:05Z"), new Date("2020-01-02T03:04:05Z"))
  if (isRoot) {
    execFileSync("mknod", ["-m", "620", path.join(src, "null"), "c", "1", "3"])
    // A minor above 255 and a major above 255: both halves of Linux's dev_t encoding.
    execFileSync("mknod", ["-m", "600", path.join(src, "disk"), "b", "259", "70000"])
    chownSync(path.join(src, "sub", "pipe"), 1234, 5678)
  }
}

describe("special files (FIFOs, device nodes)", () => {
  it("are backed up and restored as themselves (kind, device number, mode, owner, mtime), listed, dumped as tar entries, and an unchanged re-backup skips", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const backedUp = enigma([...g, "backup", src, "--json"])
    // The FIFO is recorded, not a warning (it was "special file skipped", exit 3).
    assert.strictEqual(backedUp.code, 0, backedUp.stderr)
    const first = json(backedUp)
    assert.strictEqual(first.specials, isRoot ? 3 : 1)
    assert.strictEqual(first.files, 1)

    const out = path.join(root, "out")
    const restored = enigma([...g, "restore", first.backupId, out, "--json"])
    assert.strictEqual(restored.code, 0, restored.stderr)
    assert.strictEqual(json(restored).specials, isRoot ? 3 : 1)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    assert.isTrue(lstatSync(path.join(out, "data", "sub", "pipe")).isFIFO())
    if (isRoot) {
      const pipe = lstatSync(path.join(out, "data", "sub", "pipe"))
      assert.deepStrictEqual([pipe.uid, pipe.gid], [1234, 5678])
      assert.strictEqual(lstatSync(path.join(out, "data", "disk")).rdev, lstatSync(path.join(src, "disk")).rdev)
    }

    // ls --long and restore --list show the kind as ls -l does, and a device's numbers.
    const long = enigma([...g, "ls", first.backupId, "--long", "--recursive"])
    assert.strictEqual(long.code, 0, long.stderr)
    assert.match(long.stdout, /^prw-r-----\s.*\sdata\/sub\/pipe$/m)
    if (isRoot) {
      assert.match(long.stdout, /^crw--w----\s+0\s+0\s+1, 3 .* data\/null$/m)
      assert.match(long.stdout, /^brw-------\s+0\s+0\s+259, 70000 .* data\/disk$/m)
    }
    assert.match(enigma([...g, "restore", first.backupId, "--list"]).stdout, /^p\s+0 data\/sub\/pipe$/m)

    // dump of the directory: tar entries of their own kind (GNU tar reads them back).
    const tar = enigmaPipe([...g, "dump", first.backupId, "data"])
    assert.strictEqual(tar.code, 0, tar.stderr.toString())
    const listed = spawnSync("tar", ["tvf", "-"], { input: tar.stdout }).stdout.toString()
    assert.match(listed, /^prw-r----- .* data\/sub\/pipe$/m)
    if (isRoot) assert.match(listed, /^brw------- .*259,70000 .* data\/disk$/m)
    // dump of the FIFO alone: it holds no bytes to write.
    const dumpPipe = enigma([...g, "dump", first.backupId, "data/sub/pipe"])
    assert.strictEqual(dumpPipe.code, 1)
    assert.match(dumpPipe.stderr, /data\/sub\/pipe is a FIFO \(named pipe\), which holds no bytes/)

    // Nothing changed: --skip-if-unchanged finds the special files as recorded.
    const again = json(enigma([...g, "backup", src, "--skip-if-unchanged", "--json"]))
    assert.isTrue(again.skipped)
  })

  it("a FIFO replaces a file in its place; --overwrite if-changed leaves one that is already there; diff sees a device whose number changed", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--json"]))
    const out = path.join(root, "out")
    mkdirSync(path.join(out, "data", "sub"), { recursive: true })
    writeFileSync(path.join(out, "data", "sub", "pipe"), "a file where the FIFO goes")
    const over = enigma([...g, "restore", first.backupId, out])
    assert.strictEqual(over.code, 0, over.stderr)
    assert.isTrue(lstatSync(path.join(out, "data", "sub", "pipe")).isFIFO())

    const ino = lstatSync(path.join(out, "data", "sub", "pipe")).ino
    const kept = json(enigma([...g, "restore", first.backupId, out, "--overwrite", "if-changed", "--json"]))
    assert.strictEqual(kept.skipped, isRoot ? 4 : 2) // the file and the special files
    assert.strictEqual(lstatSync(path.join(out, "data", "sub", "pipe")).ino, ino)

    if (isRoot) {
      rmSync(path.join(src, "null"))
      execFileSync("mknod", ["-m", "620", path.join(src, "null"), "c", "1", "5"])
      const second = json(enigma([...g, "backup", src, "--json"]))
      const diff = enigma([...g, "diff", first.backupId, second.backupId])
      assert.strictEqual(diff.code, 0, diff.stderr)
      assert.match(diff.stdout, /^M\s+data\/null$/m)
      assert.notMatch(diff.stdout, /pipe/)
    }
  })

  it.skipIf(!isRoot || !hasSetpriv)("a restore without the privilege to make device nodes makes the rest, names the nodes it left out, and exits 3", () => {
    const { root, dir } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma(["--config-dir", dir, "backup", src, "--json"]))
    const out = path.join(root, "out")
    const r = spawnSync("setpriv", ["--bounding-set=-mknod", "--inh-caps=-mknod", enigmaBin, "--config-dir", dir, "restore", first.backupId, out], {
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      encoding: "utf8"
    })
    assert.strictEqual(r.status, 3, r.stderr)
    assert.strictEqual(r.stderr.trim(), "warning: device nodes not restored: data/disk, data/null: making one needs root (mknod: Operation not permitted)")
    assert.isTrue(lstatSync(path.join(out, "data", "sub", "pipe")).isFIFO())
    assert.strictEqual(spawnSync("ls", ["-A", path.join(out, "data")], { encoding: "utf8" }).stdout, "file.txt\nsub\n")
  })
})
