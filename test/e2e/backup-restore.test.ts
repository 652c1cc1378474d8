import { assert, describe, it } from "@effect/vitest"
import { chmodSync, chownSync, closeSync, cpSync, ftruncateSync, openSync, writeSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { enigma, enigmaBin, enigmaPipe, initRepo, json, makeTree, passphrase, prng, snapshotTree, tempDir, testArgon } from "../support/cli.ts"

/** A tree by the bytes of its names: each entry's kind, mode, mtime and content (or target), hex-keyed. */
const byteTree = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const visit = (abs: Buffer, rel: string) => {
    for (const name of readdirSync(abs, { encoding: "buffer" })) {
      const child = Buffer.concat([abs, Buffer.from("/"), name])
      const key = `${rel}/${name.toString("hex")}`
      const st = lstatSync(child)
      const meta = `${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs)}`
      if (st.isSymbolicLink()) out[key] = `link ${readlinkSync(child, { encoding: "buffer" }).toString("hex")}`
      else if (st.isDirectory()) {
        out[key] = `dir ${meta}`
        visit(child, key)
      } else out[key] = `file ${meta} ${readFileSync(child).toString("hex")}`
    }
  }
  visit(Buffer.from(dir), "")
  return out
}

describe("enigma backup → restore on the Local provider", () => {
  it("restores a tree exactly: content, modes, mtimes, symlinks, empty dirs and files", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const b = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(b.files, 34)
    assert.strictEqual(b.symlinks, 2)
    const list = json(enigma([...g, "list", "--json"]))
    assert.deepStrictEqual(list.map((x: { id: string }) => x.id), [b.backupId])
    const dest = path.join(root, "out")
    const r = enigma([...g, "restore", b.backupId.slice(0, 6), dest])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
    // no temp files left behind
    assert.isFalse(JSON.stringify(snapshotTree(dest)).includes(".enigma-"))
  })

  it("times before 1970 and after 2242 survive backup, restore (one file at a time and batched) and dump", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "old-dir"), { recursive: true })
    // Times in seconds, as numeric strings (Node takes a negative number as "now"; see FsTime.ts).
    const times: Record<string, string> = { "old-dir": "-86400.25", "1960.txt": "-315619199.876543", "2400.txt": "13582598400.5", "1970.txt": "0" }
    // 70 files (more than restore writes one at a time) take the batched writer's path.
    for (let i = 0; i < 70; i++) times[path.join("old-dir", `f${i}`)] = String(-1000 * i - 0.5)
    for (const [name, t] of Object.entries(times).reverse()) {
      if (!name.endsWith("old-dir")) writeFileSync(path.join(src, name), name)
      utimesSync(path.join(src, name), t, t)
    }
    const mtimes = (dir: string) => Object.fromEntries(Object.keys(times).map((n) => [n, lstatSync(path.join(dir, n)).mtimeMs]))
    const before = mtimes(src)
    assert.isBelow(before["1960.txt"]!, 0)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    const r = enigma([...g, "restore", "latest", dest])
    assert.strictEqual(r.code, 0, r.stderr)
    for (const [name, ms] of Object.entries(mtimes(path.join(dest, "data")))) assert.approximately(ms, before[name]!, 0.001, name)
    const tar = enigmaPipe([...g, "dump", "latest", "data"])
    assert.strictEqual(tar.code, 0, tar.stderr)
    const x = path.join(root, "x")
    mkdirSync(x)
    const extract = spawnSync("tar", ["-x", "-C", x], { input: tar.stdout, encoding: "utf8" })
    assert.strictEqual(extract.status, 0, extract.stderr)
    for (const [name, ms] of Object.entries(mtimes(path.join(x, "data")))) assert.approximately(ms, before[name]!, 0.001, name)
  })

  it("names that are not UTF-8 (Latin-1 files, dirs, symlink targets) back up and restore byte for byte", () => {
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
    const src = path.join(root, "data")
    const at = (...names: Array<string>) => Buffer.concat([Buffer.from(src), ...names.map((n) => Buffer.from(`/${n}`, "latin1"))])
    const bytes = prng(11)
    mkdirSync(at("d\xe9j\xe0"), { recursive: true })
    // Enough small files for the batched writer's workers; one large file written with O_DIRECT.
    for (let i = 0; i < 70; i++) writeFileSync(at("d\xe9j\xe0", `f${i}\xff`), bytes(100 + i))
    writeFileSync(at("d\xe9j\xe0", "big\xfe.bin"), bytes(1024 * 1024 + 3))
    writeFileSync(path.join(src, "real\uFFFDname"), "a real U+FFFD")
    writeFileSync(path.join(src, "plain.txt"), "plain")
    symlinkSync(Buffer.from("d\xe9j\xe0/f1\xff", "latin1"), at("link\xe9"))
    chmodSync(at("d\xe9j\xe0", "f3\xff"), 0o600)
    utimesSync(at("d\xe9j\xe0", "f4\xff"), 1_700_000_000, 1_700_000_000)

    const b = enigma([...g, "backup", src, "--json"])
    assert.strictEqual(b.code, 0, b.stderr)
    assert.strictEqual(b.stderr, "")
    assert.strictEqual(json(b).files, 73)
    const listed = enigma([...g, "restore", "latest", "--list"]).stdout
    assert.include(listed, "data/d\uFFFDe9j\uFFFDe0/f0\uFFFDff")
    assert.include(listed, "data/real\uFFFD\uFFFDname")
    for (const over of [false, true]) {
      // A fresh destination, then the same one again (files replaced through temp names).
      const dest = path.join(root, "out")
      const r = enigma([...g, "restore", "latest", dest])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.deepStrictEqual(byteTree(path.join(dest, "data")), byteTree(src), over ? "over an existing tree" : "into a new directory")
    }
  })

  // Only root may give files away: run as anyone else, restore leaves files to whoever runs it.
  it.skipIf(process.getuid?.() !== 0)("run as root, restore gives files, dirs and symlinks their recorded owners, set-ID bits kept", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "home", "alice"), { recursive: true })
    const bytes = prng(5)
    for (let i = 0; i < 80; i++) writeFileSync(path.join(src, "home", "alice", `note${i}`), bytes(50))
    writeFileSync(path.join(src, "home", "alice", "big.bin"), bytes(9 * 1024 * 1024))
    writeFileSync(path.join(src, "tool"), "#!/bin/sh\n")
    symlinkSync("note1", path.join(src, "home", "alice", "link"))
    chownSync(path.join(src, "home", "alice"), 1234, 5678)
    for (const n of ["note7", "big.bin"]) chownSync(path.join(src, "home", "alice", n), 1234, 5678)
    lchownSync(path.join(src, "home", "alice", "link"), 1234, 5678)
    chownSync(path.join(src, "tool"), 0, 4321)
    chmodSync(path.join(src, "tool"), 0o6755)
    const b = enigma([...g, "backup", src])
    assert.strictEqual(b.code, 0, b.stderr)
    const listed = json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string; uid?: number; gid?: number }>
    assert.deepInclude(listed.find((e) => e.path === "data/home/alice/note7"), { uid: 1234, gid: 5678 })
    const dest = path.join(root, "out")
    for (const round of ["new", "over"]) {
      const r = enigma([...g, "restore", "latest", dest])
      assert.strictEqual(r.code, 0, r.stderr)
      const owner = (p: string) => {
        const st = lstatSync(path.join(dest, "data", p))
        return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`
      }
      assert.deepStrictEqual(
        ["home/alice", "home/alice/note7", "home/alice/note8", "home/alice/big.bin", "home/alice/link", "tool"].map(owner),
        ["1234:5678 755", "1234:5678 644", "0:0 644", "1234:5678 644", "1234:5678 777", "0:4321 6755"],
        round
      )
    }
  })

  // A user namespace (unshare -r) maps only this user: a restore there runs as "root", and every
  // other owner is refused (EINVAL), as on exFAT or NFS with root squash.
  it("set-user-ID and set-group-ID bits survive a restore by a user other than root (the kernel clears them on write)", () => {
    // As root, every command runs as nobody; otherwise as the user running the tests.
    const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined
    const root = tempDir()
    const run = (args: ReadonlyArray<string>) => {
      const r = spawnSync(process.execPath, [enigmaBin, "--config-dir", path.join(root, "repo"), ...args], {
        encoding: "utf8",
        env: { ...process.env, ENIGMA_PASSPHRASE: passphrase, HOME: root },
        ...user
      })
      return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr }
    }
    const src = path.join(root, "src")
    mkdirSync(src)
    // A small file (restored through the batched writer) and one of several chunks (on its own).
    writeFileSync(path.join(src, "small"), "#!/bin/sh\n")
    writeFileSync(path.join(src, "large"), prng(21)(12 * 1024 * 1024))
    if (user) {
      // The tests' temp dir (0700) must let that user through to its own directory.
      const parent = path.dirname(root)
      chmodSync(parent, statSync(parent).mode | 0o011)
      for (const p of [root, src, path.join(src, "small"), path.join(src, "large")]) chownSync(p, user.uid, user.gid)
    }
    chmodSync(path.join(src, "small"), 0o4755)
    chmodSync(path.join(src, "large"), 0o6750)
    const init = run(["init"])
    assert.strictEqual(init.code, 0, init.stderr)
    const backup = run(["backup", src, "--json"])
    assert.strictEqual(backup.code, 0, backup.stderr)
    const out = path.join(root, "out")
    const restored = run(["restore", JSON.parse(backup.stdout).backupId, out])
    assert.strictEqual(restored.code, 0, restored.stderr)
    assert.strictEqual(statSync(path.join(out, "src", "small")).mode & 0o7777, 0o4755)
    assert.strictEqual(statSync(path.join(out, "src", "large")).mode & 0o7777, 0o6750)
    assert.isTrue(readFileSync(path.join(out, "src", "large")).equals(readFileSync(path.join(src, "large"))))
  })

  it("a filesystem that refuses the recorded owners: the restore completes with the data, warns once, exits 3", (ctx) => {
    if (process.getuid?.() !== 0 || spawnSync("unshare", ["-r", "true"]).status !== 0) return ctx.skip()
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "d"), { recursive: true })
    for (let i = 0; i < 80; i++) writeFileSync(path.join(src, "d", `f${i}`), `file ${i}`)
    writeFileSync(path.join(src, "d", "big"), prng(3)(9 * 1024 * 1024))
    symlinkSync("f1", path.join(src, "d", "link"))
    for (const n of ["f3", "big"]) chownSync(path.join(src, "d", n), 1234, 5678)
    lchownSync(path.join(src, "d", "link"), 1234, 5678)
    chownSync(path.join(src, "d"), 1234, 5678)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    const r = spawnSync("unshare", ["-r", process.execPath, enigmaBin, ...g, "restore", "latest", dest], {
      encoding: "utf8",
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase }
    })
    assert.strictEqual(r.status, 3, r.stderr)
    assert.match(r.stderr.trim(), /^warning: 4 restored entries keep the restoring user as owner: the filesystem refused their recorded owner \(EINVAL\)$/)
    assert.match(r.stdout, /restored backup .*: 81 files, 2 dirs, 1 symlinks/)
    const contents = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.replace(/^(file|dir) \S+/, "$1")]))
    assert.deepStrictEqual(contents(snapshotTree(path.join(dest, "data"))), contents(snapshotTree(src)))
  })

  it("hard links restore as hard links; one restored without the file it links to gets its content", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "a"), { recursive: true })
    mkdirSync(path.join(src, "b"), { recursive: true })
    const bytes = prng(9)
    writeFileSync(path.join(src, "a", "one"), "shared small file")
    linkSync(path.join(src, "a", "one"), path.join(src, "a", "two"))
    linkSync(path.join(src, "a", "one"), path.join(src, "b", "three"))
    writeFileSync(path.join(src, "a", "big"), bytes(9 * 1024 * 1024))
    linkSync(path.join(src, "a", "big"), path.join(src, "b", "big-link"))
    writeFileSync(path.join(src, "b", "alone"), "not linked")
    const b = enigma([...g, "backup", src, "--json"])
    assert.strictEqual(b.code, 0, b.stderr)
    assert.strictEqual(json(b).files, 6)
    const dest = path.join(root, "out")
    const inode = (p: string) => lstatSync(path.join(dest, "data", p)).ino
    const nlink = (p: string) => lstatSync(path.join(dest, "data", p)).nlink
    for (const round of ["new", "over"]) {
      const r = enigma([...g, "restore", "latest", dest])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src), round)
      assert.strictEqual(inode("a/two"), inode("a/one"), round)
      assert.strictEqual(inode("b/three"), inode("a/one"), round)
      assert.strictEqual(nlink("a/one"), 3, round)
      assert.strictEqual(inode("b/big-link"), inode("a/big"), round)
      assert.strictEqual(nlink("b/alone"), 1, round)
      assert.isFalse(JSON.stringify(snapshotTree(dest)).includes(".enigma-"), round)
    }
    // Only b/: its links are restored from their own extents.
    const part = path.join(root, "part")
    const r = enigma([...g, "restore", "latest", part, "--path", "data/b"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual(readFileSync(path.join(part, "data", "b", "three"), "utf8"), "shared small file")
    assert.isTrue(readFileSync(path.join(part, "data", "b", "big-link")).equals(readFileSync(path.join(src, "a", "big"))))
    assert.strictEqual(lstatSync(path.join(part, "data", "b", "three")).nlink, 1)
  })

  it("backup --exclude, --exclude-file, --exclude-caches, --exclude-if-present and --exclude-larger-than leave out what they match, as restic's", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    const put = (rel: string, text = rel) => {
      mkdirSync(path.dirname(path.join(src, rel)), { recursive: true })
      writeFileSync(path.join(src, rel), text)
    }
    for (const rel of ["app/node_modules/x/i.js", "app/build/tmp/t", "app/build/out", "logs/a.log", "logs/keep.txt", "app/cache/blob", "deep/build/tmp/u", "top.log", "app/secrets/key"]) put(rel)
    put("app/cache/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n")
    put("fake/CACHEDIR.TAG", "not a signature")
    put("fake/blob")
    put("vm/.nobackup", "")
    put("vm/disk.img", "x".repeat(5000))
    put("marked/.keep-out", "v2 marker")
    put("marked/blob")
    put("unmarked/.keep-out", "v1 marker")
    put("unmarked/huge.bin", "y".repeat(3000))
    const excludeFile = path.join(root, "excludes.txt")
    // $VARS expand as restic expands them: ${SECRETS_DIR} here, an unset one to nothing.
    writeFileSync(excludeFile, "# build trees\n\n  build/tmp  \n*.log\n${SECRETS_DIR}/key$UNSET_IN_TESTS\n")
    const b = enigma([...g, "backup", src, "--exclude", "node_modules", "--exclude-file", excludeFile, "--exclude-caches", "--exclude", `${src}/fake/blob`,
      "--exclude-if-present", ".nobackup", "--exclude-if-present", ".keep-out:v2", "--exclude-larger-than", "2K", "--json"], { SECRETS_DIR: `${src}/app/secrets` })
    assert.strictEqual(b.code, 0, b.stderr)
    const files = (json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string; kind: string }>)
      .filter((e) => e.kind === "file").map((e) => e.path)
    assert.deepStrictEqual(files, [
      "data/app/build/out",
      "data/app/cache/CACHEDIR.TAG",
      "data/fake/CACHEDIR.TAG",
      "data/logs/keep.txt",
      "data/marked/.keep-out",
      "data/unmarked/.keep-out",
      "data/vm/.nobackup"
    ])
    // A file named as a path is kept whatever its size.
    const named = enigma([...g, "backup", path.join(src, "unmarked", "huge.bin"), "--exclude-larger-than", "1K", "--json"])
    assert.strictEqual(json(named).files, 1)
    // A path named on the command line that a pattern matches is left out, as restic leaves it
    // (`backup /home/* --exclude /home/guest`); the others are backed up, under the paths kept.
    const roots = enigma([...g, "backup", path.join(src, "app"), path.join(src, "logs"), path.join(src, "vm"), "--exclude", `${src}/logs`, "--iexclude", "VM", "--json"])
    assert.strictEqual(roots.code, 0, roots.stderr)
    const rootsId = (json(roots) as { backupId: string }).backupId
    const listedPaths = (json(enigma([...g, "restore", rootsId, "--list", "--json"])) as Array<{ path: string }>).map((e) => e.path)
    assert.ok(listedPaths.includes("app/build/out"), listedPaths.join(","))
    assert.deepStrictEqual(listedPaths.filter((p) => p.startsWith("logs") || p.startsWith("vm")), [])
    const recorded = (json(enigma([...g, "list", "--json"])) as Array<{ id: string; paths: Array<string> }>).find((x) => x.id === rootsId)
    assert.deepStrictEqual(recorded?.paths, [path.join(src, "app")])
    // Bad patterns and files: one line, exit 1, no backup recorded.
    const before = json(enigma([...g, "list", "--json"]))
    for (const [args, message] of [
      [["--exclude", "!keep"], /^enigma: --exclude !keep: negated patterns .* are not supported/],
      [["--exclude", "[z-a]"], /^enigma: --exclude \[z-a\] is not a valid pattern/],
      [["--exclude-file", path.join(root, "missing.txt")], /^enigma: --exclude-file .*missing\.txt: cannot read it \(ENOENT\)/],
      [["--exclude-larger-than", "big"], /^enigma: --exclude-larger-than "big" is not a size/],
      [["--exclude-if-present", "a/b"], /^enigma: --exclude-if-present a\/b: give a file name/],
      [["--iexclude", "!keep"], /^enigma: --iexclude !keep: negated patterns .* are not supported/],
      [["--iexclude-file", path.join(root, "missing.txt")], /^enigma: --iexclude-file .*missing\.txt: cannot read it \(ENOENT\)/],
      // Every path given left out: nothing to back up, said rather than an empty backup recorded.
      [["--exclude", "data"], /^enigma: an --exclude\/--iexclude pattern matches the path given \(.*data\): nothing to back up; drop or narrow that pattern$/m]
    ] as const) {
      const r = enigma([...g, "backup", src, ...args])
      assert.strictEqual(r.code, 1, r.stderr)
      assert.match(r.stderr, message)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
    }
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), before)
    const r = enigma([...g, "restore", "latest", path.join(root, "out"), "--glob", "[z-a]"])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, /^enigma: --glob \[z-a\] is not a valid pattern/)
  })

  it("restore --exclude, rewrite --exclude and find take the original absolute path as restic does, besides the stored one", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "t")
    mkdirSync(path.join(src, "sub"), { recursive: true })
    writeFileSync(path.join(src, "sub", ".env"), "SECRET=1")
    writeFileSync(path.join(src, "keep.txt"), "kept")
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const out = path.join(root, "out")
    const r = enigma([...g, "restore", backupId, out, "--exclude", path.join(src, "sub")])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(readdirSync(path.join(out, "t")), ["keep.txt"])
    for (const pattern of [path.join(src, "sub", ".env"), "sub/.env", "/t/sub/.env", ".env"]) {
      const hits = json(enigma([...g, "find", pattern, "--json"])) as Array<{ path: string }>
      assert.deepStrictEqual(hits.map((h) => h.path), ["t/sub/.env"], pattern)
    }
    const rewritten = json(enigma([...g, "rewrite", backupId, "--exclude", path.join(src, "sub", ".env"), "--json"]))
    assert.strictEqual(rewritten.backups[0].removed, 1, JSON.stringify(rewritten))
  })

  it("backup and restore --iexclude (and --iexclude-file) leave out what matches in any case; --exclude keeps to the case given", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "photos")
    mkdirSync(path.join(src, "Thumbs"), { recursive: true })
    for (const name of ["a.jpg", "B.JPG", "c.Jpg", "notes.txt", "Thumbs/x.png"]) writeFileSync(path.join(src, name), name)
    const stored = (args: ReadonlyArray<string>) => {
      const b = json(enigma([...g, "backup", src, "--force", "--json", ...args]))
      return (json(enigma([...g, "restore", b.backupId, "--list", "--json"])) as Array<{ path: string; kind: string }>).filter((e) => e.kind === "file").map((e) => e.path)
    }
    assert.deepStrictEqual(stored(["--exclude", "*.jpg"]), ["photos/B.JPG", "photos/Thumbs/x.png", "photos/c.Jpg", "photos/notes.txt"])
    assert.deepStrictEqual(stored(["--iexclude", "*.jpg"]), ["photos/Thumbs/x.png", "photos/notes.txt"])
    const list = path.join(root, "iexcludes.txt")
    writeFileSync(list, "# any case\n*.JPG\nthumbs\n")
    const all = stored(["--iexclude-file", list])
    assert.deepStrictEqual(all, ["photos/notes.txt"])
    // restore --iexclude, as backup's.
    const everything = json(enigma([...g, "backup", src, "--json"]))
    const restoredList = (json(enigma([...g, "restore", everything.backupId, "--list", "--json", "--iexclude", "*.JPG", "--iexclude", "/PHOTOS/thumbs"])) as Array<{ path: string; kind: string }>)
      .filter((e) => e.kind === "file").map((e) => e.path)
    assert.deepStrictEqual(restoredList, ["photos/notes.txt"])
  })

  it("restore --include and --iinclude (restic's): only what matches and what is in it, with the directories above; an included empty directory too", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const listed = (args: ReadonlyArray<string>) => {
      const r = enigma([...g, "restore", backupId, "--list", "--json", ...args])
      assert.strictEqual(r.code, 0, r.stderr)
      return (JSON.parse(r.stdout) as Array<{ path: string }>).map((e) => e.path)
    }
    assert.deepStrictEqual(listed(["--include", "*.rs"]), ["data", "data/docs", "data/docs/deep", "data/docs/deep/er", "data/docs/deep/er/main.rs"])
    assert.deepStrictEqual(listed(["--include", "/data/docs/deep"]), ["data", "data/docs", "data/docs/deep", "data/docs/deep/er", "data/docs/deep/er/main.rs"])
    assert.deepStrictEqual(listed(["--include", "empty"]), ["data", "data/empty"])
    assert.deepStrictEqual(listed(["--iinclude", "NOTE1.TXT", "--include", "script.sh"]), ["data", "data/docs", "data/docs/note1.txt", "data/script.sh"])
    assert.deepStrictEqual(listed(["--include", "docs", "--exclude", "note*"]), ["data", "data/docs", "data/docs/deep", "data/docs/deep/er", "data/docs/deep/er/main.rs"])
    // A restore makes the same: the files, their directories (with their modes), an included empty one.
    const out = path.join(root, "out")
    const r = enigma([...g, "restore", backupId, out, "--include", "deep", "--include", "empty"])
    assert.strictEqual(r.code, 0, r.stderr)
    const tree = snapshotTree(path.join(out, "data"))
    assert.deepStrictEqual(Object.keys(tree).sort(), ["", "docs", "docs/deep", "docs/deep/er", "docs/deep/er/main.rs", "empty"])
    assert.strictEqual(tree["docs/deep/er/main.rs"], snapshotTree(src)["docs/deep/er/main.rs"])
    // Bad input: one line, exit 1, nothing written.
    for (const [args, message] of [
      [["--include", "nothing-here"], /^enigma: nothing in backup [0-9a-f]{16} matches --include nothing-here/],
      [["--include", "!docs"], /^enigma: --include !docs: negated patterns \(starting with !\) are not supported/],
      [["--iinclude", "[z-a]"], /^enigma: --iinclude \[z-a\]/]
    ] as const) {
      const bad = enigma([...g, "restore", backupId, path.join(root, "bad"), ...args])
      assert.strictEqual(bad.code, 1, bad.stderr)
      assert.match(bad.stderr, message)
      assert.strictEqual(bad.stderr.trim().split("\n").length, 1)
      assert.isFalse(existsSync(path.join(root, "bad", "data")))
    }
  })

  it("a backup of the directory that holds the repository (backup ~ with ~/.enigma) leaves out its storage and database, run after run", () => {
    const { root, dir, g } = initRepo()
    makeTree(path.join(root, "data"))
    for (let run = 0; run < 2; run++) {
      const b = enigma([...g, "backup", root, "--json"])
      assert.strictEqual(b.code, 0, b.stderr)
      assert.strictEqual(json(b).warnings, 0)
    }
    const home = path.basename(root)
    const paths = (json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string }>).map((e) => e.path)
    const inRepo = paths.filter((p) => p.startsWith(`${home}/repo/`))
    // The config and keyfile are kept; the Local provider's directory and the SQLite files are not.
    assert.deepStrictEqual(inRepo, [`${home}/repo/enigma.toml`, `${home}/repo/keys.enc`])
    assert.ok(paths.includes(`${home}/data`), paths.join(","))
    // Named on purpose, one of them is refused with what it is: nothing recorded.
    const before = json(enigma([...g, "list", "--json"]))
    for (const [own, what] of [[path.join(dir, "storage"), "Local provider local's storage"], [path.join(dir, "enigma.db"), "manifest database"]] as const) {
      const r = enigma([...g, "backup", own])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stderr, `enigma: backup path ${own} is this repository's ${what} ${own}: a backup leaves it out; back up the directories that hold your data\n`)
    }
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), before)
  })

  it("backup --dry-run says what would be backed up and read, and records and stores nothing", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const chunkCount = () => readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).length
    const first = json(enigma([...g, "backup", src, "--dry-run", "--json"]))
    assert.deepStrictEqual([first.dryRun, first.files, first.symlinks, first.readFiles, first.parent], [true, 34, 2, 34, null])
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
    assert.strictEqual(existsSync(path.join(dir, "storage", "chunks")) ? chunkCount() : 0, 0)
    const b = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(first.bytes, b.bytes)
    writeFileSync(path.join(src, "docs", "note1.txt"), "changed")
    const before = chunkCount()
    const again = json(enigma([...g, "backup", src, "-n", "--exclude", "*.rs", "--json"]))
    assert.deepStrictEqual([again.files, again.readFiles, again.read, again.parent], [33, 1, ["data/docs/note1.txt"], b.backupId])
    assert.strictEqual(chunkCount(), before)
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 1)
    const text = enigma([...g, "backup", src, "--dry-run"])
    assert.match(text.stdout, /^dry run: would back up 34 files \(.*\), \d+ dirs, 2 symlinks\n  would read 1 new or changed files/)
    assert.match(enigma([...g, "backup", src, "--dry-run", "--force"]).stdout, /\n  would read all 34 files \(.*\): --force$/m)
  })

  it("backup --ignore-inode / --ignore-ctime: a file of the same size and mtime is not read again despite a new inode or ctime", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    const [f, h] = [path.join(src, "f"), path.join(src, "h")]
    writeFileSync(f, "content of f")
    writeFileSync(h, "content of h")
    // Whole seconds, which utimes gives back exactly.
    utimesSync(f, 1_700_000_000, 1_700_000_000)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    // f: copied and renamed over itself with its mtime, as a FUSE or CIFS mount shows it afresh
    // (new inode, new ctime); h: a chmod and back (new ctime only).
    writeFileSync(`${f}.tmp`, readFileSync(f))
    utimesSync(`${f}.tmp`, 1_700_000_000, 1_700_000_000)
    renameSync(`${f}.tmp`, f)
    chmodSync(h, 0o600)
    chmodSync(h, 0o644)
    const read = (...flags: Array<string>) => json(enigma([...g, "backup", src, "--dry-run", "--json", ...flags])).read
    assert.deepStrictEqual(read(), ["data/f", "data/h"])
    assert.deepStrictEqual(read("--ignore-ctime"), ["data/f"])
    assert.deepStrictEqual(read("--ignore-inode"), ["data/f", "data/h"])
    assert.deepStrictEqual(read("--ignore-inode", "--ignore-ctime"), [])
    const b = json(enigma([...g, "backup", src, "--ignore-inode", "--ignore-ctime", "--json"]))
    assert.strictEqual(b.bytesRead, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", b.backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
  })

  it("backup --force reads every file again, as if there were no earlier backup; what it stores is the same", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--json"]))
    const unchanged = json(enigma([...g, "backup", src, "--json"]))
    assert.deepStrictEqual([unchanged.parent, unchanged.bytesRead], [first.backupId, 0])
    const forced = json(enigma([...g, "backup", src, "--force", "--json"]))
    assert.deepStrictEqual([forced.parent, forced.bytesRead, forced.bytes, forced.newChunks], [null, first.bytes, first.bytes, 0])
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", forced.backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
  })

  it("backup --files-from / --files-from-raw add the paths listed in files (or stdin, -) to those given; a path given twice is one root; link/ is the directory a symlink leads to", () => {
    const { root, g } = initRepo()
    for (const d of ["a", "b", "c", "d"]) {
      mkdirSync(path.join(root, d))
      writeFileSync(path.join(root, d, "f"), d)
    }
    const list = path.join(root, "list.txt")
    writeFileSync(list, `# what to back up\n\n  ${path.join(root, "b")}  \n`)
    const raw = path.join(root, "list.raw")
    writeFileSync(raw, `${path.join(root, "c")}\0${path.join(root, "d")}\0`)
    const r = enigma([...g, "backup", path.join(root, "a"), "--files-from", list, "--files-from-raw", raw])
    assert.strictEqual(r.code, 0, r.stderr)
    const files = (json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string; kind: string }>)
      .filter((e) => e.kind === "file").map((e) => e.path)
    assert.deepStrictEqual(files, ["a/f", "b/f", "c/f", "d/f"])
    // `-` reads the list from stdin, as restic does (NUL-separated too), and --exclude-file too.
    const piped = enigmaPipe([...g, "backup", "--files-from", "-", "--json"], Buffer.from(`${path.join(root, "b")}\n${path.join(root, "c")}\n`))
    assert.strictEqual(piped.code, 0, piped.stderr)
    assert.strictEqual(JSON.parse(piped.stdout.toString()).files, 2)
    const pipedRaw = enigmaPipe([...g, "backup", "--files-from-raw", "-", "--json"], Buffer.from(`${path.join(root, "d")}\0`))
    assert.strictEqual(JSON.parse(pipedRaw.stdout.toString()).files, 1, pipedRaw.stderr)
    writeFileSync(path.join(root, "a", "skip.log"), "log")
    const excluded = enigmaPipe([...g, "backup", path.join(root, "a"), "--exclude-file", "-", "--json"], Buffer.from("# leave out\n*.log\n"))
    assert.strictEqual(JSON.parse(excluded.stdout.toString()).files, 1, excluded.stderr)
    rmSync(path.join(root, "a", "skip.log"))
    // A path given twice (here also with a trailing slash, and in the list) is backed up once.
    const twice = enigma([...g, "backup", path.join(root, "b"), `${path.join(root, "b")}/`, "--files-from", list, "--json"])
    assert.strictEqual(twice.code, 0, twice.stderr)
    assert.strictEqual(json(twice).files, 1)
    // A symlink to a directory given with a trailing slash is the directory, under the link's
    // name (as for ls and cp); without it, the link itself. One that leads to no directory: refused.
    symlinkSync(path.join(root, "b"), path.join(root, "link"))
    const followed = enigma([...g, "backup", `${path.join(root, "link")}/`, "--json"])
    assert.strictEqual(json(followed).files, 1)
    assert.deepStrictEqual((json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string }>).map((e) => e.path), ["link", "link/f"])
    assert.strictEqual(json(enigma([...g, "backup", path.join(root, "link"), "--json"])).symlinks, 1)
    symlinkSync(path.join(root, "b", "f"), path.join(root, "to-file"))
    const notDir = enigma([...g, "backup", `${path.join(root, "to-file")}/`])
    assert.strictEqual(notDir.code, 1)
    assert.strictEqual(notDir.stderr, `enigma: backup path ${path.join(root, "to-file")}/ is a symlink that leads to no directory; give it without the slash to record the link itself\n`)
    // Two different paths with one name would collide in the backup: refused, nothing recorded.
    mkdirSync(path.join(root, "other", "b"), { recursive: true })
    const clash = enigma([...g, "backup", path.join(root, "b"), path.join(root, "other", "b")])
    assert.strictEqual(clash.code, 1)
    assert.strictEqual(clash.stderr, `enigma: ${path.join(root, "b")} and ${path.join(root, "other", "b")} would both be stored as "b"; back them up in separate runs\n`)
    const empty = path.join(root, "empty.txt")
    writeFileSync(empty, "# nothing\n")
    for (const [args, message] of [
      [["--files-from", empty], /^enigma: backup needs at least one path: give paths, or --files-from FILE/],
      [["--files-from", path.join(root, "missing")], /^enigma: --files-from .*missing: cannot read it \(ENOENT\)/]
    ] as const) {
      const bad = enigma([...g, "backup", ...args])
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr, message)
    }
  })

  it("backup --one-file-system records a mount point inside the tree, not what is mounted there", (ctx) => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "mnt"), { recursive: true })
    writeFileSync(path.join(src, "here.txt"), "on the root's filesystem")
    // A tmpfs mounted in the tree: needs root (and a kernel that lets this container mount).
    if (spawnSync("mount", ["-t", "tmpfs", "none", path.join(src, "mnt")]).status !== 0) return ctx.skip()
    try {
      writeFileSync(path.join(src, "mnt", "elsewhere.txt"), "on another filesystem")
      const listed = (args: ReadonlyArray<string>) => {
        assert.strictEqual(enigma([...g, "backup", src, ...args]).code, 0)
        return (json(enigma([...g, "restore", "latest", "--list", "--json"])) as Array<{ path: string }>).map((e) => e.path)
      }
      assert.deepStrictEqual(listed([]), ["data", "data/here.txt", "data/mnt", "data/mnt/elsewhere.txt"])
      assert.deepStrictEqual(listed(["--one-file-system"]), ["data", "data/here.txt", "data/mnt"])
      assert.deepStrictEqual(listed(["-x"]), ["data", "data/here.txt", "data/mnt"])
    } finally {
      spawnSync("umount", [path.join(src, "mnt")])
    }
  })

  it("read-only commands leave the manifest database as it was (no write, so no checkpoint and fsync on exit)", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const b = json(enigma([...g, "backup", src, "--json"]))
    const db = path.join(root, "repo", "enigma.db")
    const before = statSync(db)
    assert.isFalse(existsSync(`${db}-wal`), "the backup checkpointed its log on exit")
    for (const args of [["list"], ["status"], ["verify", b.backupId], ["restore", b.backupId, path.join(root, "out")]]) {
      const r = enigma([...g, ...args])
      assert.strictEqual(r.code, 0, r.stderr)
      const after = statSync(db)
      assert.strictEqual(after.mtimeMs, before.mtimeMs, `${args[0]} wrote to the database`)
      assert.strictEqual(after.size, before.size)
      assert.isFalse(existsSync(`${db}-wal`))
    }
  })

  it("small and large files interleaved restore exactly with small CDC and fixed-size chunks; a copy of the tree stores nothing new", () => {
    for (const strategy of ["[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n", "[enigma.chunk_strategy.Fixed]\nsize = 100000\n"]) {
      const { root, g } = initRepo([], strategy)
      const src = path.join(root, "data")
      makeTree(src)
      // Large files (read in blocks) between runs of small ones (read into arenas), in walk order.
      const bytes = prng(7)
      writeFileSync(path.join(src, "docs", "mid.bin"), bytes(9 * 1024 * 1024 + 5))
      writeFileSync(path.join(src, "docs", "deep", "small-after.bin"), bytes(70_000))
      const first = json(enigma([...g, "backup", src, "--json"]))
      const dest = path.join(root, "out")
      assert.strictEqual(enigma([...g, "restore", first.backupId, dest]).code, 0)
      assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src), strategy)
      // The same bytes under another root are read again and cut at the same places.
      const copy = path.join(root, "copy")
      execFileSync("cp", ["-a", src, copy])
      const second = json(enigma([...g, "backup", copy, "--json"]))
      assert.strictEqual(second.bytesRead, first.bytesRead)
      assert.strictEqual(second.newBytes, 0, `${strategy}: every chunk deduplicated`)
    }
  })

  it("the second backup reads only changed files and stores only new chunks", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--json"]))
    writeFileSync(path.join(src, "docs", "note5.txt"), "changed\n")
    const second = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(second.parent, first.backupId)
    assert.strictEqual(second.bytesRead, "changed\n".length)
    assert.isTrue(second.newBytes <= "changed\n".length)
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", second.backupId, dest]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
    // `latest` names the newest backup, as in restic.
    const listed = enigma([...g, "restore", "latest", "--list", "--json"])
    assert.strictEqual(listed.code, 0, listed.stderr)
    assert.include(listed.stdout, "note5.txt")
    assert.strictEqual(json(enigma([...g, "verify", "latest", "--json"])).backupId, second.backupId)
  })

  it("chunk ids from the WebAssembly BLAKE3 (where the native module cannot load) are the native ones", () => {
    // Small CDC chunks, so that most ids come from the cut worker and one from the main thread.
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
    const src = path.join(root, "data")
    makeTree(src)
    const wasm = { ENIGMA_BLAKE3: "wasm" }
    const first = json(enigma([...g, "backup", src, "--json"], wasm))
    assert.isAbove(first.newChunks, 20)
    // A copy is read in full, natively: the same stream, so the same chunks and none new.
    const copy = path.join(root, "copy")
    cpSync(src, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
    const second = json(enigma([...g, "backup", copy, "--json"]))
    assert.isAbove(second.bytesRead, 3 * 1024 * 1024)
    assert.strictEqual(second.newChunks, 0)
    // Reads re-hash each chunk: natively what the fallback named, and the other way round.
    assert.strictEqual(enigma([...g, "verify", first.backupId, "--read-data"]).code, 0)
    assert.strictEqual(enigma([...g, "verify", second.backupId, "--read-data"], wasm).code, 0)
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", second.backupId, dest], wasm).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "copy")), snapshotTree(copy))
  })

  it("latest in an empty repository, and a misspelt id, are clear errors", () => {
    const { g } = initRepo()
    const none = enigma([...g, "restore", "latest", "/tmp/enigma-never-written"])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr.trim(), /^enigma: .*latest backup.*no completed backup yet/)
    const bad = enigma([...g, "restore", "lastest", "/tmp/enigma-never-written"])
    assert.strictEqual(bad.code, 1)
    assert.include(bad.stderr, "or latest")
  })

  it("selective restore: --path, --glob and --list", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const listed = json(enigma([...g, "restore", backupId, "--list", "--glob", "*.rs", "--json"]))
    assert.deepStrictEqual(listed.filter((e: { kind: string }) => e.kind === "file").map((e: { path: string }) => e.path), ["data/docs/deep/er/main.rs"])
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", backupId, dest, "--path", "data/docs/deep"]).code, 0)
    assert.deepStrictEqual(readdirSync(path.join(dest, "data")), ["docs"])
    assert.strictEqual(readFileSync(path.join(dest, "data/docs/deep/er/main.rs"), "utf8"), "fn main() {}\n")
    assert.isFalse(existsSync(path.join(dest, "data/docs/note1.txt")))
    // Repeated, --path and --glob select what any of them selects.
    const files = (args: ReadonlyArray<string>) =>
      (json(enigma([...g, "restore", backupId, "--list", "--json", ...args])) as Array<{ path: string; kind: string }>).filter((e) => e.kind === "file").map((e) => e.path)
    assert.deepStrictEqual(files(["--path", "data/docs/deep", "--path", "data/script.sh"]), ["data/docs/deep/er/main.rs", "data/script.sh"])
    // A leading slash, as `ls` takes it and a restic user types it: the same selection.
    assert.deepStrictEqual(files(["--path", "/data/docs/deep/"]), ["data/docs/deep/er/main.rs"])
    assert.deepStrictEqual(files(["--glob", "*.rs", "--glob", "*.sh"]), ["data/docs/deep/er/main.rs", "data/script.sh"])
    const two = path.join(root, "two")
    assert.strictEqual(enigma([...g, "restore", backupId, two, "--glob", "*.rs", "--glob", "note2*"]).code, 0)
    assert.deepStrictEqual(readdirSync(path.join(two, "data", "docs")).sort(), ["deep", "note2.txt", "note20.txt", "note21.txt", "note22.txt", "note23.txt", "note24.txt", "note25.txt", "note26.txt", "note27.txt", "note28.txt", "note29.txt"])
    // --exclude, as backup's: a name at any depth, or a path from the backup's root (with what is below it).
    const kept = (args: ReadonlyArray<string>) =>
      (json(enigma([...g, "restore", backupId, "--list", "--json", ...args])) as Array<{ path: string; kind: string }>).filter((e) => e.kind === "file").map((e) => e.path)
    const allFiles = kept([])
    assert.deepStrictEqual(kept(["--exclude", "*.txt"]), allFiles.filter((p) => !p.endsWith(".txt")))
    assert.deepStrictEqual(kept(["--exclude", "/data/docs/deep"]), allFiles.filter((p) => !p.startsWith("data/docs/deep/")))
    assert.deepStrictEqual(kept(["--exclude", "deep", "--exclude", "*.txt"]), allFiles.filter((p) => !p.endsWith(".txt") && !p.includes("/deep/")))
    const excludedOut = path.join(root, "excl")
    assert.strictEqual(enigma([...g, "restore", backupId, excludedOut, "--exclude", "/data/docs"]).code, 0)
    assert.isFalse(existsSync(path.join(excludedOut, "data", "docs")))
    const negated = enigma([...g, "restore", backupId, path.join(root, "neg"), "--exclude", "!x"])
    assert.strictEqual(negated.code, 1)
    assert.match(negated.stderr, /^enigma: --exclude !x: negated patterns/)
    // A filter that matches nothing is an error naming it, and creates nothing.
    const none = path.join(root, "none")
    for (const filter of [["--path", "docs/deep"], ["--glob", "*.zig"]]) {
      const r = enigma([...g, "restore", backupId, none, ...filter])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
      assert.include(r.stderr, `matches ${filter.join(" ")}`)
      assert.include(r.stderr, "--list")
      assert.isFalse(existsSync(none))
    }
  })

  it("zstd compression when enabled: text shrinks, random data is stored uncompressed; both restore", () => {
    const { root, g } = initRepo([], "[enigma.compression]\nenabled = true\nlevel = 3\n")
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "text.txt"), "the same line of text, over and over\n".repeat(50_000))
    const t = json(enigma([...g, "backup", src, "--json"]))
    assert.isBelow(t.storedNewBytes, t.newBytes / 10)
    writeFileSync(path.join(src, "random.bin"), prng(9)(1_000_000))
    const r = json(enigma([...g, "backup", src, "--json"]))
    assert.isAtLeast(r.storedNewBytes, 1_000_000)
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", r.backupId, dest]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
  })

  it("a byte inserted near the start of a large file changes only the chunks around it", () => {
    // A 64 KiB target so a 4 MiB file has ~60 chunks.
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
    const src = path.join(root, "data")
    mkdirSync(src)
    const bytes = prng(21)(4 * 1024 * 1024)
    writeFileSync(path.join(src, "big.bin"), bytes)
    const first = json(enigma([...g, "backup", src, "--json"]))
    assert.isAbove(first.newChunks, 30)
    writeFileSync(path.join(src, "big.bin"), Buffer.concat([bytes.subarray(0, 1000), Buffer.from([42]), bytes.subarray(1000)]))
    const second = json(enigma([...g, "backup", src, "--json"]))
    assert.isAtMost(second.newChunks, 3)
    assert.isBelow(second.newBytes, first.newBytes / 10)
  })

  it("many multi-chunk files among small ones restore exactly (large files take turns reading ahead)", () => {
    // A 16 KiB target: each 300–700 KB file spans dozens of chunks, and there are more large
    // files than restore reads ahead in at once.
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 16384\n")
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "big"), { recursive: true })
    mkdirSync(path.join(src, "small"))
    const bytes = prng(33)
    for (let i = 0; i < 7; i++) writeFileSync(path.join(src, "big", `f${i}.bin`), bytes(300_000 + i * 60_000))
    for (let i = 0; i < 40; i++) writeFileSync(path.join(src, "small", `s${i}.txt`), `small file ${i}\n`.repeat(i + 1))
    const b = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(b.files, 47)
    assert.isAbove(b.newChunks, 7 * 10)
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", b.backupId, dest]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
  })

  it("small files share chunks: 2,000 files become a handful of chunk objects", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "many")
    mkdirSync(src)
    for (let i = 0; i < 2000; i++) writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`.repeat(10))
    const b = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(b.files, 2000)
    assert.isTrue(b.newChunks <= 2, `chunks: ${b.newChunks}`)
    const objects = readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).filter((n) => String(n).length > 60)
    assert.strictEqual(objects.length, b.newChunks)
  })

  it("a tree of many small files restores exactly through the batched file writer, over an existing tree", () => {
    // 1,200 files in 12 directories (restore hands files under 256 KiB to a worker thread when
    // there are 64 or more, to two from 1,000 on), with modes the umask would strip, spread mtimes,
    // empty files and files that span two chunks (16 KiB chunk target).
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 16384\n")
    const src = path.join(root, "tree")
    const bytes = prng(7)
    const modes = [0o644, 0o600, 0o664, 0o755, 0o666, 0o444]
    for (let i = 0; i < 1200; i++) {
      const dir = path.join(src, `d${i % 12}`)
      mkdirSync(dir, { recursive: true })
      const file = path.join(dir, `f${i}.txt`)
      writeFileSync(file, i % 50 === 0 ? Buffer.alloc(0) : bytes(1 + (i * 397) % 40_000))
      chmodSync(file, modes[i % modes.length]!)
      utimesSync(file, 1_600_000_000 + i, 1_600_000_000 + i * 7)
    }
    const b = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(b.files, 1200)
    const dest = path.join(root, "out")
    // Some targets exist already, with other content: each is replaced whole.
    mkdirSync(path.join(dest, "tree", "d3"), { recursive: true })
    writeFileSync(path.join(dest, "tree", "d3", "f3.txt"), "an older version\n")
    const r = enigma([...g, "restore", b.backupId, dest])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "tree")), snapshotTree(src))
    assert.isFalse(JSON.stringify(snapshotTree(dest)).includes(".enigma-"))
  })

  it("providers hold no file names and no plaintext", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "secret-project")
    mkdirSync(src)
    const marker = "THE-PLAINTEXT-MARKER-1234567890"
    writeFileSync(path.join(src, "confidential-name.txt"), `${marker}\n`.repeat(100))
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const storage = path.join(dir, "storage")
    for (const rel of readdirSync(storage, { recursive: true })) {
      const name = String(rel)
      assert.isFalse(/confidential|secret-project/.test(name), name)
      const abs = path.join(storage, name)
      if (!existsSync(abs) || !readdirSync(path.dirname(abs)).length) continue
      try {
        const bytes = readFileSync(abs)
        assert.isFalse(bytes.includes(marker), `${name} contains plaintext`)
        assert.isFalse(bytes.includes("confidential-name"), `${name} contains a file name`)
      } catch (e) {
        if ((e as { code?: string }).code !== "EISDIR") throw e
      }
    }
  })

  it("diff lists what changed between two backups; a file read again with the same bytes is not 'changed'", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "d"), { recursive: true })
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, "d", `f${i}.txt`), `file ${i}\n`)
    writeFileSync(path.join(src, "gone.txt"), "bye")
    writeFileSync(path.join(src, "becomes-dir"), "x")
    symlinkSync("d/f1.txt", path.join(src, "link"))
    const first = json(enigma([...g, "backup", src, "--json"])).backupId
    writeFileSync(path.join(src, "d", "f2.txt"), "FILE 2\n") // same size, other bytes
    writeFileSync(path.join(src, "d", "new.txt"), "new")
    rmSync(path.join(src, "gone.txt"))
    rmSync(path.join(src, "becomes-dir"))
    mkdirSync(path.join(src, "becomes-dir"))
    rmSync(path.join(src, "link"))
    symlinkSync("d/f3.txt", path.join(src, "link"))
    // Same bytes, read again (a new ctime), at other offsets in the stream: not a change of content.
    chmodSync(path.join(src, "d", "f0.txt"), 0o600)
    writeFileSync(path.join(src, "d", "f5.txt"), "file 5\n")
    const second = json(enigma([...g, "backup", src, "--json"])).backupId
    const r = json(enigma([...g, "diff", first, second, "--json"]))
    assert.deepStrictEqual(r.changes.map((c: { change: string; path: string }) => `${c.change} ${c.path}`), [
      "T data/becomes-dir",
      "M data/d/f2.txt",
      "+ data/d/new.txt",
      "- data/gone.txt",
      "M data/link"
    ])
    assert.deepStrictEqual([r.files, r.dirs], [{ new: 1, removed: 1, changed: 3 }, { new: 0, removed: 0 }])
    const withMeta = json(enigma([...g, "diff", first, second, "--metadata", "--json"]))
    const u = withMeta.changes.filter((c: { change: string }) => c.change === "U").map((c: { path: string }) => c.path)
    assert.includeMembers(u, ["data/d/f0.txt", "data/d/f5.txt"])
    const text = enigma([...g, "diff", first.slice(0, 8), "latest"])
    assert.strictEqual(text.code, 0, text.stderr)
    assert.match(text.stdout, /^comparing backup [0-9a-f]{16} to [0-9a-f]{16}:\nT    data\/becomes-dir\/\n/)
    const bad = enigma([...g, "diff", first, "ffff"])
    assert.strictEqual(bad.code, 1)
    assert.strictEqual(bad.stderr.trim().split("\n").length, 1, bad.stderr)
  })

  it("dump of a directory (or /) is a tar archive that tar extracts to the same tree: long and non-UTF-8 names, links", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const deep = path.join(src, "x".repeat(60), "y".repeat(60))
    mkdirSync(deep, { recursive: true })
    writeFileSync(path.join(deep, "z".repeat(120)), "a long path")
    symlinkSync("z".repeat(120), path.join(deep, "long-link"))
    writeFileSync(Buffer.concat([Buffer.from(`${src}/`), Buffer.from("caf\xe9", "latin1")]), "latin-1 name")
    writeFileSync(path.join(src, "first"), "linked")
    linkSync(path.join(src, "first"), path.join(src, "second"))
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    for (const what of ["data", "/"]) {
      const out = enigmaPipe([...g, "dump", "latest", what])
      assert.strictEqual(out.code, 0, out.stderr)
      const dest = path.join(root, `x-${what === "/" ? "all" : "data"}`)
      mkdirSync(dest)
      const x = spawnSync("tar", ["-x", "-C", dest, "--numeric-owner"], { input: out.stdout })
      assert.strictEqual(x.status, 0, x.stderr.toString())
      assert.deepStrictEqual(byteTree(path.join(dest, "data")), byteTree(src))
      assert.strictEqual(lstatSync(path.join(dest, "data", "second")).ino, lstatSync(path.join(dest, "data", "first")).ino)
    }
  })

  it("find lists the entries matching a name or path pattern in every backup, newest first", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "docs"), { recursive: true })
    writeFileSync(path.join(src, "docs", "report.pdf"), "v1")
    const first = json(enigma([...g, "backup", src, "--json"])).backupId
    writeFileSync(path.join(src, "docs", "report.pdf"), "v2, longer")
    writeFileSync(path.join(src, "notes.txt"), "n")
    const second = json(enigma([...g, "backup", src, "--json"])).backupId
    const hits = json(enigma([...g, "find", "*.pdf", "--json"])) as Array<{ backupId: string; path: string; size: number }>
    assert.deepStrictEqual(hits.map((h) => [h.backupId, h.path, h.size]), [[second, "data/docs/report.pdf", 10], [first, "data/docs/report.pdf", 2]])
    assert.deepStrictEqual((json(enigma([...g, "find", "data/*.txt", "--backup", first, "--json"])) as Array<unknown>), [])
    const text = enigma([...g, "find", "notes.txt"])
    assert.match(text.stdout, /data\/notes\.txt\n1 match\(es\) in 1 of 2 backup\(s\)\n$/)
    const bad = enigma([...g, "find", "[z-a]"])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /^enigma: pattern \[z-a\] is not a valid pattern/)
    const empty = enigma([...g, "find", ""])
    assert.strictEqual(empty.code, 1)
    assert.match(empty.stderr, /^enigma: find needs a pattern/)
  })

  it("restore --overwrite if-changed writes only what differs (an interrupted restore resumes); never keeps every file there", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    const first = json(enigma([...g, "restore", "latest", dest, "--json"]))
    const total = first.files + first.symlinks
    const out = (rel: string) => path.join(dest, "data", rel)
    // As if interrupted and meddled with: one file gone, one changed, one symlink pointing elsewhere.
    const [gone, changed] = readdirSync(out("docs")).filter((n) => statSync(out(`docs/${n}`)).isFile()).slice(0, 2).map((n) => `docs/${n}`)
    rmSync(out(gone!))
    writeFileSync(out(changed!), "edited after the restore")
    const link = snapshotTree(src)
    const linkPath = Object.keys(link).find((k) => link[k]!.startsWith("l"))!
    rmSync(out(linkPath))
    symlinkSync("elsewhere", out(linkPath))
    const again = json(enigma([...g, "restore", "latest", dest, "--overwrite", "if-changed", "--json"]))
    assert.strictEqual(again.skipped, total - 3)
    assert.strictEqual(again.files + again.symlinks, 3)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
    writeFileSync(out(changed!), "edited again")
    rmSync(out(gone!))
    const never = enigma([...g, "restore", "latest", dest, "--overwrite", "never"])
    assert.strictEqual(never.code, 0, never.stderr)
    assert.match(never.stdout, new RegExp(`: 1 files, .*; ${total - 1} already there left as they were \\(--overwrite never\\)`))
    assert.strictEqual(readFileSync(out(changed!), "utf8"), "edited again")
    assert.isTrue(existsSync(out(gone!)))
    const bad = enigma([...g, "restore", "latest", dest, "--overwrite", "sometimes"])
    assert.strictEqual(bad.code, 1)
  })

  it("a restore into a directory restored into before removes the temp files of restores killed there (their process gone), not those of one running", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", "latest", dest]).code, 0)
    const docs = path.join(dest, "data", "docs")
    const dead = `.a.txt.enigma-${(999_999_999).toString(36)}0a1b2c-7`
    const live = `.b.txt.enigma-${process.pid.toString(36)}0a1b2c-8`
    writeFileSync(path.join(docs, dead), "half a file")
    writeFileSync(path.join(docs, live), "being written")
    writeFileSync(path.join(docs, ".notes.enigma-draft"), "the user's own")
    const again = enigma([...g, "restore", "latest", dest, "--overwrite", "if-changed"])
    assert.strictEqual(again.code, 0, again.stderr)
    assert.isFalse(existsSync(path.join(docs, dead)))
    assert.isTrue(existsSync(path.join(docs, live)))
    assert.isTrue(existsSync(path.join(docs, ".notes.enigma-draft")))
  })

  it("a directory in the way of a symlink stops the restore naming it, and leaves no temp link behind", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "v")
    mkdirSync(src)
    writeFileSync(path.join(src, "tgt"), "t")
    symlinkSync("tgt", path.join(src, "l"))
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    mkdirSync(path.join(dest, "v", "l"), { recursive: true })
    writeFileSync(path.join(dest, "v", "l", "inside"), "kept")
    const r = enigma([...g, "restore", "latest", dest])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, /^enigma: cannot write .*\/v\/l: a directory is in the way of this file or symlink: /)
    assert.deepStrictEqual(readdirSync(path.join(dest, "v")).sort(), ["l", "tgt"])
    assert.strictEqual(readFileSync(path.join(dest, "v", "l", "inside"), "utf8"), "kept")
  })

  it("restore --overwrite never keeps a file or symlink standing where the backup has a directory, and all under it (exit 3, named); always replaces a file", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "t")
    mkdirSync(path.join(src, "a", "b", "c"), { recursive: true })
    writeFileSync(path.join(src, "a", "b", "f1"), "one")
    writeFileSync(path.join(src, "a", "b", "c", "f2"), "two")
    writeFileSync(path.join(src, "a", "g"), "three")
    mkdirSync(path.join(src, "d"))
    writeFileSync(path.join(src, "d", "h"), "four")
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const dest = path.join(root, "out")
    mkdirSync(path.join(dest, "t", "a"), { recursive: true })
    writeFileSync(path.join(dest, "t", "a", "b"), "PRECIOUS")
    const elsewhere = path.join(root, "elsewhere")
    mkdirSync(elsewhere)
    symlinkSync(elsewhere, path.join(dest, "t", "d"))
    const never = enigma([...g, "restore", "latest", dest, "--overwrite", "never"])
    assert.strictEqual(never.code, 3, never.stderr)
    assert.match(never.stderr, /^warning: directories not restored: t\/a\/b, t\/d: a file or symlink stands at their place, kept by --overwrite never/m)
    assert.strictEqual(readFileSync(path.join(dest, "t", "a", "b"), "utf8"), "PRECIOUS")
    assert.strictEqual(readFileSync(path.join(dest, "t", "a", "g"), "utf8"), "three")
    assert.isTrue(lstatSync(path.join(dest, "t", "d")).isSymbolicLink())
    assert.deepStrictEqual(readdirSync(elsewhere), [], "nothing written through the symlink")
    // The same when only what lies beneath it is selected.
    const glob = enigma([...g, "restore", "latest", dest, "--overwrite", "never", "--glob", "t/a/b/c/*"])
    assert.strictEqual(glob.code, 3, glob.stderr)
    assert.match(glob.stderr, /^warning: directories not restored: t\/a\/b: /m)
    assert.strictEqual(readFileSync(path.join(dest, "t", "a", "b"), "utf8"), "PRECIOUS")
    // always: the file gives way to the directory, as any file in the way of the backup's does.
    rmSync(path.join(dest, "t", "d"))
    const always = enigma([...g, "restore", "latest", dest])
    assert.strictEqual(always.code, 0, always.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(dest, "t")), snapshotTree(src))
  })

  it("restore --sparse leaves the zeros of a large file as holes; the bytes are the same", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    const MiB = 1024 * 1024
    const image = path.join(src, "disk.img")
    const bytes = prng(21)
    // 64 MiB: data, a long run of zeros, data at an odd offset, zeros to the end.
    const fd = openSync(image, "w")
    writeSync(fd, bytes(3 * MiB), 0, 3 * MiB, 0)
    writeSync(fd, bytes(70_001), 0, 70_001, 40 * MiB + 123)
    ftruncateSync(fd, 64 * MiB)
    closeSync(fd)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const expected = readFileSync(image)
    for (const sparse of [true, false]) {
      const dest = path.join(root, sparse ? "sparse" : "dense")
      const r = enigma([...g, "restore", "latest", dest, ...(sparse ? ["--sparse"] : [])])
      assert.strictEqual(r.code, 0, r.stderr)
      const out = path.join(dest, "data", "disk.img")
      assert.isTrue(readFileSync(out).equals(expected))
      const used = statSync(out).blocks * 512
      if (sparse) assert.isBelow(used, 8 * MiB, "holes where the zeros were")
      else assert.isAbove(used, 60 * MiB, "every byte written without --sparse")
    }
  })

  it("restore, ls and dump of latest with --host/--tag take the newest backup those select; an id they do not select is refused", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "who"), "laptop, monthly\n")
    const monthly = json(enigma([...g, "backup", src, "--host", "laptop", "--tag", "monthly", "--json"]))
    writeFileSync(path.join(src, "who"), "laptop\n")
    json(enigma([...g, "backup", src, "--host", "laptop", "--json"]))
    writeFileSync(path.join(src, "who"), "server\n")
    json(enigma([...g, "backup", src, "--host", "server", "--json"]))
    const who = (args: ReadonlyArray<string>) => {
      const r = enigmaPipe([...g, "dump", "latest", "data/who", ...args])
      assert.strictEqual(r.code, 0, r.stderr)
      return r.stdout.toString()
    }
    assert.strictEqual(who([]), "server\n")
    assert.strictEqual(who(["--host", "laptop"]), "laptop\n")
    assert.strictEqual(who(["--host", "laptop", "--tag", "monthly"]), "laptop, monthly\n")
    assert.strictEqual(who(["--tag", "monthly"]), "laptop, monthly\n")
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", "latest", out, "--host", "laptop"]).code, 0)
    assert.strictEqual(readFileSync(path.join(out, "data", "who"), "utf8"), "laptop\n")
    assert.strictEqual(json(enigma([...g, "ls", "latest", "data/who", "--tag", "monthly", "--json"]))[0].size, "laptop, monthly\n".length)
    // Nothing selected, or an id the filter does not select: one line, exit 1, nothing written.
    const none = enigma([...g, "restore", "latest", path.join(root, "none"), "--host", "desktop"])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr, /^enigma: latest backup of host desktop not found: no completed backup is of host desktop; see `enigma list`/)
    assert.isFalse(existsSync(path.join(root, "none")))
    const mismatch = enigma([...g, "ls", monthly.backupId, "--host", "server"])
    assert.strictEqual(mismatch.code, 1)
    assert.match(mismatch.stderr, /^enigma: backup [0-9a-f]{16} is not of host server \(its host is laptop, its labels monthly\)/)
    assert.strictEqual(mismatch.stdout, "")
    assert.strictEqual(enigma([...g, "ls", monthly.backupId, "--host", "laptop"]).code, 0)
  })

  it("backup --time records the backup at that time (local, or ISO with a zone): list, latest and retention place it there; a bad time records nothing", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "f"), "x")
    const utc = { TZ: "UTC" }
    const now = json(enigma([...g, "backup", src, "--json"], utc))
    const old = json(enigma([...g, "backup", src, "--time", "2024-05-01 03:00:00", "--json"], utc))
    const older = json(enigma([...g, "backup", src, "--time", "2023-01-02T03:04:05+02:00", "--json"], utc))
    const listed = json(enigma([...g, "list", "--json"], utc)) as Array<{ id: string; time: string }>
    assert.deepStrictEqual(listed.map((b) => [b.id, b.time]).slice(0, 2), [[older.backupId, "2023-01-02T01:04:05.000Z"], [old.backupId, "2024-05-01T03:00:00.000Z"]])
    assert.strictEqual(listed[2]!.id, now.backupId)
    assert.strictEqual(json(enigma([...g, "ls", "latest", "--json"], utc)).length, 2)
    const kept = json(enigma([...g, "forget", "--keep-last", "1", "--dry-run", "--json"], utc))
    assert.deepStrictEqual(kept.kept.map((k: { id: string }) => k.id), [now.backupId])
    for (const bad of ["2024-02-31 00:00", "yesterday", "2024-13-01 00:00", "2024-05-01T03:00:00+25:00"]) {
      const r = enigma([...g, "backup", src, "--time", bad], utc)
      assert.strictEqual(r.code, 1, bad)
      assert.match(r.stderr, /^enigma: --time ".*": give a time like "2024-05-01 03:00:00" \(local\) or 2024-05-01T03:00:00Z/)
    }
    assert.strictEqual(json(enigma([...g, "list", "--json"], utc)).length, 3)
  })

  it("backup --host records the backup under that host: unchanged files come from its previous backup, not another host's", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--host", "box-a", "--json"]))
    const other = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(other.parent, null, "this machine's name is another host")
    assert.isAbove(other.bytesRead, 0)
    const again = json(enigma([...g, "backup", src, "--host", "box-a", "--json"]))
    assert.strictEqual(again.parent, first.backupId)
    assert.strictEqual(again.bytesRead, 0)
    const hosts = (json(enigma([...g, "list", "--json"])) as Array<{ host: string }>).map((b) => b.host)
    assert.deepStrictEqual(hosts.filter((h) => h === "box-a").length, 2)
    const bad = enigma([...g, "backup", src, "--host", " "])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /^enigma: --host " ": give a name of 1 to 255 characters/)
  })

  it("dump writes one file of a backup to stdout, byte for byte; a missing path is a one-line error", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "d"), { recursive: true })
    const big = prng(8)(9 * 1024 * 1024 + 17)
    writeFileSync(path.join(src, "d", "big.bin"), big)
    writeFileSync(path.join(src, "d", "small.txt"), "small file\n")
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const out = enigmaPipe([...g, "dump", "latest", "data/d/big.bin"])
    assert.strictEqual(out.code, 0, out.stderr)
    assert.isTrue(out.stdout.equals(big))
    assert.strictEqual(enigmaPipe([...g, "dump", "latest", "/data/d/small.txt"]).stdout.toString(), "small file\n")
    for (const [p, message] of [["data/nope", /^enigma: data\/nope in backup [0-9a-f]{16} not found/]] as const) {
      const r = enigma([...g, "dump", "latest", p])
      assert.strictEqual(r.code, 1)
      assert.match(r.stderr, message)
      assert.strictEqual(r.stdout, "")
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
    }
  })

  it("ls lists a backup's paths, a directory's entries (-R: all beneath), -l as ls -l; a missing directory is a one-line error", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    chmodSync(path.join(src, "docs"), 0o1755)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const lines = (r: { code: number; stdout: string; stderr: string }) => {
      assert.strictEqual(r.code, 0, r.stderr)
      return r.stdout.trimEnd().split("\n")
    }
    const all = lines(enigma([...g, "ls", "latest"]))
    assert.lengthOf(all, 1 + 1 + 30 + 3 + 1 + 3 + 2) // data, docs, its notes, deep + er + main.rs, empty, three files, two links
    assert.include(all, "data/docs/deep/er/main.rs")
    assert.include(all, "data/link -> docs/note1.txt")
    assert.deepStrictEqual(lines(enigma([...g, "ls", "latest", "data"])), [
      "data/big.bin", "data/dangling -> /nonexistent/target", "data/docs", "data/empty", "data/empty-file", "data/link -> docs/note1.txt", "data/script.sh"
    ])
    // A leading or trailing slash changes nothing; -R goes all the way down; a file lists itself.
    assert.deepStrictEqual(lines(enigma([...g, "ls", "latest", "/data/docs/deep/"])), ["data/docs/deep/er"])
    assert.deepStrictEqual(lines(enigma([...g, "ls", "latest", "data/docs/deep", "-R"])), ["data/docs/deep/er", "data/docs/deep/er/main.rs"])
    assert.deepStrictEqual(lines(enigma([...g, "ls", "latest", "data/script.sh", "data/empty"])), ["data/script.sh"])
    assert.deepStrictEqual(lines(enigma([...g, "ls", "latest", "/"])), ["data"])
    const long = lines(enigma([...g, "ls", "latest", "data", "-l"]))
    const uid = process.getuid!()
    assert.match(long.find((l) => l.endsWith(" data/script.sh"))!, new RegExp(`^-rwxr-x--- +${uid} +\\d+ +18 \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d data/script\\.sh$`))
    assert.match(long.find((l) => l.endsWith(" data/docs"))!, /^drwxr-xr-t /)
    assert.match(long.find((l) => l.includes(" data/link "))!, /^lrwxrwxrwx .* data\/link -> docs\/note1\.txt$/)
    const asJson = json(enigma([...g, "ls", "latest", "data/docs/deep/er", "--json"]))
    assert.deepStrictEqual(asJson.map((e: { path: string; kind: string; size: number }) => [e.path, e.kind, e.size]), [["data/docs/deep/er/main.rs", "file", 13]])
    // Bad input: one line, exit 1, nothing on stdout but what exists.
    const missing = enigma([...g, "ls", "latest", "data/nope", "data/docs/nope.txt"])
    assert.strictEqual(missing.code, 1)
    assert.match(missing.stderr, /^enigma: backup [0-9a-f]{16} holds no "data\/nope", "data\/docs\/nope.txt"; `enigma ls [0-9a-f]{8}` lists what it holds/)
    assert.strictEqual(missing.stderr.trim().split("\n").length, 1)
    const noBackup = enigma([...g, "ls", "feedbeef"])
    assert.strictEqual(noBackup.code, 1)
    assert.match(noBackup.stderr, /^enigma: .*feedbeef/)
  })

  it("verify with no argument checks every chunk the repository references and names what a bad one affects", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const chunkDir = path.join(dir, "storage", "chunks")
    const chunkFiles = () => new Set(readdirSync(chunkDir, { recursive: true }).map(String).filter((n) => n.length > 60))
    const before = chunkFiles()
    const bytes = prng(3)
    const streamData = bytes(300_000)
    assert.strictEqual(enigmaPipe([...g, "put", "db", "--summary", "none"], streamData).code, 0)
    const streamChunk = [...chunkFiles()].find((n) => !before.has(n))!
    // The same bytes again share the chunk; a --no-encrypt stream is read back as plain.
    assert.strictEqual(enigmaPipe([...g, "put", "db-copy", "--summary", "none"], streamData).code, 0)
    assert.strictEqual(enigmaPipe([...g, "put", "clear", "--no-encrypt", "--summary", "none"], bytes(1000)).code, 0)
    const all = chunkFiles().size
    const ok = enigma([...g, "verify", "--read-data"])
    assert.strictEqual(ok.code, 0, ok.stderr)
    assert.strictEqual(ok.stdout.trim(), `repository: ${all} chunks read, decrypted and re-hashed; no errors`)

    const victim = path.join(chunkDir, streamChunk)
    const flipped = readFileSync(victim)
    flipped[flipped.length - 20] ^= 0xff
    writeFileSync(victim, flipped)
    assert.strictEqual(enigma([...g, "verify"]).code, 0, "a flip keeps the size: only --read-data sees it")
    const v = enigma([...g, "verify", "--read-data"])
    assert.strictEqual(v.code, 1)
    assert.match(v.stdout, new RegExp(`^bad chunk ${path.basename(streamChunk)} on local: authentication failed .*; affects stream\\(s\\) db, db-copy$`, "m"))
    assert.include(v.stdout, `repository: 1 of ${all} chunks are bad`)

    // Subsets: 1/2 and 2/2 read every chunk once between them; the damaged one is in one of them.
    const halves = ["1/2", "2/2"].map((spec) => enigma([...g, "verify", "--read-data-subset", spec, "--json"]))
    assert.strictEqual(halves.reduce((n, r) => n + JSON.parse(r.stdout).subset.read, 0), all)
    assert.deepStrictEqual(halves.map((r) => r.code).sort(), [0, 1])
    const one = halves.find((r) => r.code === 0)!
    assert.deepStrictEqual(JSON.parse(one.stdout).bad, [])
    for (const [args, message] of [
      [["--read-data-subset", "3/2"], /^enigma: --read-data-subset 3\/2: use n\/t with 1 ≤ n ≤ t/],
      [["db", "--read-data-subset", "1/2"], /^enigma: --read-data-subset checks the whole repository/]
    ] as const) {
      const r = enigma([...g, "verify", ...args])
      assert.strictEqual(r.code, 1)
      assert.match(r.stderr, message)
    }

    const backupChunk = path.join(chunkDir, [...before][0]!)
    rmSync(backupChunk)
    const report = JSON.parse(enigma([...g, "verify", "--json"]).stdout)
    assert.strictEqual(report.ok, false)
    assert.deepStrictEqual(report.bad.map((b: { chunk: string; problem: string; backups: Array<string> }) => [b.chunk, b.problem, b.backups]), [
      [path.basename(backupChunk), "missing", [backupId]]
    ])
  })

  it("verify and restore name a corrupted or missing chunk and the files it affects", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)
    const chunkDir = path.join(dir, "storage", "chunks")
    const chunks = readdirSync(chunkDir, { recursive: true }).map(String).filter((n) => n.length > 60)
    const victim = path.join(chunkDir, chunks[0]!)
    const id = path.basename(victim)
    const bytes = readFileSync(victim)
    bytes[bytes.length - 20] ^= 0xff
    writeFileSync(victim, bytes)
    // A byte flip keeps the size: only --read-data can see it.
    assert.strictEqual(enigma([...g, "verify", backupId]).code, 0)
    const v = enigma([...g, "verify", backupId, "--read-data"])
    assert.strictEqual(v.code, 1)
    assert.include(v.stdout, id)
    assert.include(v.stdout, "authentication failed")
    assert.match(v.stdout, /affects \d+ file/)
    const r = enigma([...g, "restore", backupId, path.join(root, "out")])
    assert.strictEqual(r.code, 1)
    assert.include(r.stderr, id)
    assert.match(r.stderr.trim().split("\n").at(-1)!, /^enigma: \d+ file\(s\) could not be restored: their bytes are in 1 missing or damaged chunk\(s\)/)
    rmSync(victim)
    const missing = enigma([...g, "verify", backupId, "--json"])
    assert.strictEqual(missing.code, 1)
    const report = JSON.parse(missing.stdout)
    assert.strictEqual(report.bad[0].chunk, id)
    assert.strictEqual(report.bad[0].problem, "missing")
    assert.isAbove(report.bad[0].files.length, 0)
    // Exactly the files with bytes in that chunk, in path order, as the manifest has them.
    const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
    const holding = db.prepare("SELECT path FROM files WHERE backup_id = ? AND extents LIKE ? ORDER BY path").all(backupId, `%${id}%`) as Array<{ path: string }>
    db.close()
    assert.deepStrictEqual(report.bad[0].files, holding.map((r) => r.path))
  })

  it("restore goes on past a damaged or missing chunk: every other file restored, each left-out file named, none half written, exit 1", () => {
    // Fixed 1 MiB chunks: which files share a chunk does not depend on the repository's CDC secret.
    const { root, dir, g } = initRepo([], ["[enigma.chunk_strategy.Fixed]", "size = 1048576", ""].join("\n"))
    const src = path.join(root, "data")
    makeTree(src)
    const rand = prng(21)
    writeFileSync(path.join(src, "big2.bin"), rand(9 * 1024 * 1024))
    linkSync(path.join(src, "big2.bin"), path.join(src, "hardlink-to-big2"))
    // Enough small files for the batched writer (a chunk holds ~100 of them).
    mkdirSync(path.join(src, "many"))
    for (let i = 0; i < 300; i++) writeFileSync(path.join(src, "many", `f${String(i).padStart(3, "0")}`), rand(10_000))
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
    const rows = db.prepare("SELECT path, extents FROM files WHERE backup_id = ? AND kind = 'file'").all(backupId) as Array<{ path: string; extents: string }>
    db.close()
    const chunksOf = new Map(rows.map((r) => [r.path, (JSON.parse(r.extents) as Array<[string]>).map((e) => e[0])]))
    // Victims: a chunk in the middle of big2.bin, and one in the middle of the small files.
    const big2 = chunksOf.get("data/big2.bin")!
    const many = [...new Set([...chunksOf].filter(([p]) => p.startsWith("data/many/")).flatMap(([, c]) => c))]
    const victims = [big2[4]!, many[1]!]
    // The hard link goes with the file it links to.
    const hit = [...[...chunksOf].filter(([, c]) => c.some((id) => victims.includes(id))).map(([p]) => p), "data/hardlink-to-big2"].sort()
    assert.include(hit, "data/big2.bin")
    assert.isAbove(hit.filter((p) => p.startsWith("data/many/")).length, 50)
    const files = readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String)
    const victimPaths = victims.map((id) => path.join(dir, "storage", "chunks", files.find((n) => n.endsWith(id))!))
    const expected = snapshotTree(src)
    for (const p of hit) delete expected[p.slice("data/".length)]

    for (const [damage, problem] of [
      [(file: string) => {
        const bytes = readFileSync(file)
        bytes[100] ^= 0xff
        writeFileSync(file, bytes)
      }, "authentication failed (tampered or damaged)"],
      [(file: string) => rmSync(file), "missing"]
    ] as const) {
      for (const v of victimPaths) damage(v)
      const out = path.join(root, `out-${problem.split(" ")[0]}`)
      const r = enigma([...g, "restore", backupId, out])
      assert.strictEqual(r.code, 1, r.stderr)
      const lines = r.stderr.trim().split("\n")
      assert.strictEqual(
        lines.pop(),
        `enigma: ${hit.length} file(s) could not be restored: their bytes are in 2 missing or damaged chunk(s); the other ${rows.length - hit.length} file(s) were restored. \`enigma verify ${backupId.slice(0, 8)} --read-data\` checks the whole backup`
      )
      const chunkOf = (p: string) => victims.find((id) => chunksOf.get(p === "data/hardlink-to-big2" ? "data/big2.bin" : p)!.includes(id))!
      assert.deepStrictEqual(lines.sort(), hit.map((p) => `error: ${p}: not restored: chunk ${chunkOf(p)} on provider local: ${problem}`).sort())
      // Everything else byte for byte, with its metadata; nothing of the left-out files, no temp file.
      assert.deepStrictEqual(snapshotTree(path.join(out, "data")), expected)
    }
  })

  it("a provider whose disk fills up during a backup: one line saying so and what to do, nothing committed, gc reclaims what was stored", () => {
    const root = tempDir()
    const store = path.join(root, "store")
    mkdirSync(store)
    const { unmount } = enigmaMount(store)
    try {
      const { g } = initRepo([], ["[[providers]]", 'name = "small"', 'type = "Local"', `bucket = "${store}"`, ""].join("\n"))
      const src = path.join(root, "data")
      mkdirSync(src)
      writeFileSync(path.join(src, "big.bin"), prng(31)(3 * 1024 * 1024))
      const r = enigma([...g, "backup", src])
      assert.strictEqual(r.code, 1)
      assert.match(r.stderr.trim(), /^enigma: .*provider small: put chunks\/.*ENOSPC.* \(the provider's disk is full or over quota: free space there, or add a provider; `enigma gc` reclaims what this attempt stored\)$/)
      assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
      assert.strictEqual(enigma([...g, "gc"]).code, 0)
      assert.deepStrictEqual(readdirSync(path.join(store, "chunks"), { recursive: true }).filter((n) => String(n).length > 60), [])
    } finally {
      unmount()
    }
  })

  it("the disk of the manifest database fills up during a backup: one line naming the database and what to do, nothing committed; with room again, the backup works", () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    mkdirSync(dir)
    const { unmount, remount } = enigmaMount(dir)
    try {
      const store = path.join(root, "store")
      writeFileSync(path.join(dir, "enigma.toml"), ["[[providers]]", 'name = "elsewhere"', 'type = "Local"', `bucket = "${store}"`, ""].join("\n"))
      const g = ["--config-dir", dir] as const
      assert.strictEqual(enigma([...g, "init", ...testArgon]).code, 0)
      const src = path.join(root, "data")
      mkdirSync(src)
      // 4,000 entries with long names: more manifest than the 1 MiB the database's disk has.
      for (let i = 0; i < 4000; i++) writeFileSync(path.join(src, `a-file-with-a-long-name-that-fills-the-manifest-${i}.txt`), `file ${i}\n`)
      const r = enigma([...g, "backup", src])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
      assert.match(r.stderr, new RegExp(`^enigma: manifest database: ${dir}/enigma\\.db: database or disk is full: free space on the disk that holds it \\(or move db_path in the config\\), then run the command again; nothing half-done was committed, and \`enigma gc\` reclaims what this attempt stored\n$`))
      assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
      remount("size=20m")
      const again = enigma([...g, "backup", src, "--json"])
      assert.strictEqual(again.code, 0, again.stderr)
      assert.strictEqual(json(again).files, 4000)
      assert.strictEqual(enigma([...g, "gc"]).code, 0)
      assert.strictEqual(enigma([...g, "verify", json(again).backupId, "--read-data"]).code, 0)
    } finally {
      unmount()
    }
  })

  it("a repository on a disk mounted read-only: list, ls, restore and verify --read-data work; a backup fails in one line saying the disk is read-only", () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    mkdirSync(dir)
    const { unmount, remount } = enigmaMount(dir, "16m")
    try {
      const g = ["--config-dir", dir] as const
      assert.strictEqual(enigma([...g, "init", ...testArgon]).code, 0)
      const src = path.join(root, "data")
      makeTree(src)
      const { backupId } = json(enigma([...g, "backup", src, "--json"]))
      remount("ro")
      assert.deepStrictEqual(json(enigma([...g, "list", "--json"])).map((b: { id: string }) => b.id), [backupId])
      assert.strictEqual(enigma([...g, "ls", backupId]).code, 0)
      const out = path.join(root, "out")
      const restored = enigma([...g, "restore", backupId, out])
      assert.strictEqual(restored.code, 0, restored.stderr)
      assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
      const verified = enigma([...g, "verify", backupId, "--read-data"])
      assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
      const r = enigma([...g, "backup", src])
      assert.strictEqual(r.code, 1)
      assert.match(r.stderr.trim(), /^enigma: provider local: put locks\/.*EROFS.* \(the provider's disk is mounted read-only: list, restore, get and verify work as it is; to write, mount it read-write\)$/)
    } finally {
      unmount()
    }
  })

  it("a disk that fills up during a restore of many small files: a clear error, no temp file, later files untouched", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    const bytes = prng(11)
    // 300 × 8 KiB: more than the 1 MiB tmpfs holds, all through the batched writer.
    for (let i = 0; i < 300; i++) writeFileSync(path.join(src, `f${String(i).padStart(3, "0")}.bin`), bytes(8192))
    writeFileSync(path.join(src, "zz-last.txt"), "new\n")
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    restoreOntoFullDisk(g, backupId, "zz-last.txt", (data, r) => {
      assert.match(r.stderr, /cannot write .*data\/f\d{3}\.bin: disk full/)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
      // Restored in path order, and nothing after the failure: the last file is the old one.
      assert.strictEqual(readFileSync(path.join(data, "zz-last.txt"), "utf8"), "the old complete file\n")
      const names = readdirSync(data)
      assert.deepStrictEqual(names.filter((n) => n.includes(".enigma-")), [])
      // Every file that is there is complete.
      for (const n of names.filter((n) => n.endsWith(".bin"))) {
        assert.deepStrictEqual(readFileSync(path.join(data, n)), readFileSync(path.join(src, n)), n)
      }
    })
  })

  it("a disk that fills up under the two file writers: a clear error, no temp file in any directory", () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    // 1,200 files of 200 bytes in 6 directories: two workers write them, each a directory at a
    // time, and the 1 MiB tmpfs (a page per file) is full after ~250.
    const bytes = prng(12)
    for (let i = 0; i < 1200; i++) {
      const dir = path.join(src, `d${i % 6}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `f${String(i).padStart(4, "0")}.bin`), bytes(200))
    }
    writeFileSync(path.join(src, "zz-last.txt"), "new\n")
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    restoreOntoFullDisk(g, backupId, "zz-last.txt", (data, r) => {
      assert.match(r.stderr, /cannot write .*data\/d\d\/f\d{4}\.bin: disk full/)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
      assert.strictEqual(readFileSync(path.join(data, "zz-last.txt"), "utf8"), "the old complete file\n")
      const written = readdirSync(data, { recursive: true }).map(String)
      assert.deepStrictEqual(written.filter((n) => n.includes(".enigma-")), [])
      const files = written.filter((n) => n.endsWith(".bin"))
      assert.isAbove(files.length, 0)
      assert.isBelow(files.length, 1200)
      for (const n of files) assert.deepStrictEqual(readFileSync(path.join(data, n)), readFileSync(path.join(src, n)), n)
    })
  })

  it("restore keeps a complete file in place when the disk fills up, and leaves no partial file", () => {
    // A 64 KiB chunk target: big.bin has many extents, so it takes the streaming (async) write path.
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "small.txt"), "small\n")
    writeFileSync(path.join(src, "big.bin"), prng(33)(3 * 1024 * 1024))
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    restoreOntoFullDisk(g, backupId, "big.bin", (data, r) => {
      assert.match(r.stderr, /big\.bin: disk full/)
      assert.strictEqual(readFileSync(path.join(data, "big.bin"), "utf8"), "the old complete file\n")
      assert.deepStrictEqual(readdirSync(data).filter((n) => n.includes(".enigma-")), [])
    })
  })
})

import { execFileSync } from "node:child_process"
/** A tmpfs (1 MiB unless told): a real full disk (the tests run as root, as CI does); `remount` changes its size or makes it read-only. */
const enigmaMount = (dir: string, size = "1m") => {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])
  return { unmount: () => execFileSync("umount", [dir]), remount: (options: string) => execFileSync("mount", ["-o", `remount,${options}`, dir]) }
}

/**
 * Restores `backupId` onto a 1 MiB tmpfs whose data/`name` already holds "the old complete file",
 * expects exit 1 (the disk fills up), and runs `check` on the data dir before unmounting.
 */
const restoreOntoFullDisk = (
  g: ReadonlyArray<string>,
  backupId: string,
  name: string,
  check: (data: string, r: ReturnType<typeof enigma>) => void
) => {
  const mnt = tempDir("enigma-full-")
  const mount = enigmaMount(mnt)
  try {
    mkdirSync(path.join(mnt, "data"))
    writeFileSync(path.join(mnt, "data", name), "the old complete file\n")
    const r = enigma([...g, "restore", backupId, mnt])
    assert.strictEqual(r.code, 1, r.stderr)
    check(path.join(mnt, "data"), r)
  } finally {
    mount.unmount()
  }
}
