import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { hostname, userInfo } from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { enigma, enigmaAsync, enigmaPipe, initRepo, json, localProviderToml, makeTree, passphrase, prng, snapshotTree, tempDir, testArgon } from "../support/cli.ts"

const chunkObjects = (dir: string) =>
  readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60)

const lockCount = (dir: string) =>
  existsSync(path.join(dir, "storage", "locks"))
    ? readdirSync(path.join(dir, "storage", "locks")).filter((n) => !n.includes(".tmp-")).length
    : 0

const writeLock = (dir: string, pid: number, host = hostname(), ids: { machine?: string; boot?: string; command?: string; shared?: boolean } = {}) => {
  mkdirSync(path.join(dir, "storage", "locks"), { recursive: true })
  const info = { id: "otherlock", host, pid, command: "backup", createdAt: Date.now(), refreshedAt: Date.now(), ...ids }
  writeFileSync(path.join(dir, "storage", "locks", "otherlock"), JSON.stringify(info))
}

describe("forget, gc, locks, recover, keys", () => {
  it("forget + gc reclaim exactly the chunks no backup references; --dry-run changes nothing", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    writeFileSync(path.join(a, "one.bin"), prng(1)(300_000))
    const first = json(enigma([...g, "backup", a, "--json"]))
    writeFileSync(path.join(a, "one.bin"), prng(2)(300_000))
    const second = json(enigma([...g, "backup", a, "--json"]))
    assert.strictEqual(chunkObjects(dir).length, 2)
    const dry = json(enigma([...g, "forget", first.backupId, "--dry-run", "--json"]))
    assert.deepStrictEqual(dry.removed, [first.backupId])
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 2)
    assert.strictEqual(enigma([...g, "forget", first.backupId]).code, 0)
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 1)
    const gcDry = json(enigma([...g, "gc", "--dry-run", "--json"]))
    assert.strictEqual(gcDry.deletedChunks.length, 1)
    assert.strictEqual(chunkObjects(dir).length, 2)
    // status tells what gc would reclaim, and counts only the rest in the dedup ratio.
    const before = json(enigma([...g, "status", "--json"]))
    assert.deepStrictEqual([before.backups, before.chunks, before.unreferencedChunks, before.logicalBytes], [1, 2, 1, 300_000])
    assert.isAbove(before.unreferencedBytes, 300_000)
    assert.closeTo(before.dedupRatio, 300_000 / (before.storedBytes - before.unreferencedBytes), 1e-9)
    assert.match(enigma([...g, "status"]).stdout, /\n {2}unreferenced: 1 chunks, .* stored \(`enigma gc` reclaims them\)\n/)
    const gc = json(enigma([...g, "gc", "--json"]))
    assert.strictEqual(gc.deletedChunks.length, 1)
    assert.strictEqual(chunkObjects(dir).length, 1)
    assert.deepStrictEqual([json(enigma([...g, "status", "--json"])).unreferencedChunks, json(enigma([...g, "status", "--json"])).unreferencedBytes], [0, 0])
    assert.notInclude(enigma([...g, "status"]).stdout, "unreferenced")
    assert.strictEqual(enigma([...g, "verify", second.backupId, "--read-data"]).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", second.backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "a")), snapshotTree(a))
    // forget --prune: gc in the same run.
    writeFileSync(path.join(a, "one.bin"), prng(3)(300_000))
    json(enigma([...g, "backup", a, "--json"]))
    assert.strictEqual(chunkObjects(dir).length, 2)
    const pruned = json(enigma([...g, "forget", second.backupId, "--prune", "--json"]))
    assert.deepStrictEqual([pruned.removed, pruned.gc.deletedChunks.length], [[second.backupId], 1])
    assert.strictEqual(chunkObjects(dir).length, 1)
    const text = enigma([...g, "forget", "--keep-last", "1", "--prune"])
    assert.strictEqual(text.code, 0, text.stderr)
    assert.match(text.stdout.trim(), /gc: deleted 0 unreferenced chunk\(s\), 0 B$/)
  })

  it("forget by policy keeps what restic would", () => {
    const { root, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    const ids: Array<string> = []
    for (let i = 0; i < 4; i++) {
      writeFileSync(path.join(a, "f"), String(i))
      ids.push(json(enigma([...g, "backup", a, "--json"])).backupId)
    }
    const r = json(enigma([...g, "forget", "--keep-last", "2", "--json"]))
    assert.deepStrictEqual([...r.removed].sort(), [ids[0], ids[1]].sort())
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])).map((b: { id: string }) => b.id), [ids[2], ids[3]])
    assert.strictEqual(enigma([...g, "forget"]).code, 1)
  })

  it("forget --keep-within (from the newest backup) and --keep-tag; a bad span or tag is refused before anything is forgotten", () => {
    const { root, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    const ids: Array<string> = []
    for (const [i, tags] of [[0, ["--tag", "pinned"]], [1, []], [2, []]] as const) {
      writeFileSync(path.join(a, "f"), String(i))
      ids.push(json(enigma([...g, "backup", a, ...tags, "--json"])).backupId)
    }
    for (const [args, message] of [
      [["--keep-within", "2w"], /^enigma: --keep-within "2w": give a span like 30d, 6m, 1y6m or 12h/],
      [["--keep-tag", "a,,b"], /^enigma: --keep-tag "a,,b": give labels of 1 to 255 characters/]
    ] as const) {
      const bad = enigma([...g, "forget", ...args])
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr.trim(), message)
    }
    // The three backups are seconds apart: a span of an hour keeps them all.
    const within = json(enigma([...g, "forget", "--keep-within", "1h", "--json"]))
    assert.deepStrictEqual([within.removed, within.kept.map((k: { reasons: Array<string> }) => k.reasons)], [[], [["within 1h"], ["within 1h"], ["within 1h"]]])
    const r = json(enigma([...g, "forget", "--keep-last", "1", "--keep-tag", "pinned", "--json"]))
    assert.deepStrictEqual(r.removed, [ids[1]])
    assert.deepStrictEqual(r.kept.map((k: { id: string; reasons: Array<string> }) => [k.id, k.reasons]), [[ids[2], ["last"]], [ids[0], ["tag pinned"]]])
  })

  it("forget --group-by: the policy applies to each group of host, paths and/or tags ('' for one group); a bad field is refused", () => {
    const { root, g } = initRepo()
    const a = path.join(root, "a")
    const b = path.join(root, "b")
    mkdirSync(a)
    mkdirSync(b)
    // Two hosts back up a; host one also b; daily and hourly jobs label theirs.
    const made: Array<{ id: string; host: string; dir: string; tag: string }> = []
    for (const [host, dir, tag] of [["one", a, "daily"], ["two", a, "daily"], ["one", b, "hourly"], ["one", a, "hourly"], ["two", a, "daily"]] as const) {
      writeFileSync(path.join(dir, "f"), String(made.length))
      made.push({ id: json(enigma([...g, "backup", dir, "--host", host, "--tag", tag, "--json"])).backupId, host, dir, tag })
    }
    const keptBy = (groupBy: ReadonlyArray<string>) => {
      const r = json(enigma([...g, "forget", "--keep-last", "1", ...groupBy, "--dry-run", "--json"]))
      return new Set((r.kept as Array<{ id: string }>).map((k) => made.findIndex((m) => m.id === k.id)))
    }
    // Default host,paths: one/a (3), two/a (4), one/b (2).
    assert.deepStrictEqual(keptBy([]), new Set([2, 3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", "host,paths"]), new Set([2, 3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", "host"]), new Set([3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", "tags"]), new Set([3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", "paths,tags"]), new Set([2, 3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", "host,tags"]), new Set([0, 3, 4]))
    assert.deepStrictEqual(keptBy(["--group-by", ""]), new Set([4]))
    for (const [args, message] of [
      [["--keep-last", "1", "--group-by", "hosts"], /^enigma: --group-by "hosts": give host, paths or tags, comma-separated/],
      [[made[0]!.id, "--group-by", "host"], /^enigma: --group-by groups backups for a --keep-\* policy/],
      // restic refuses a policy that keeps nothing too ("no policy was specified").
      [["--keep-last", "0"], /^enigma: a --keep-\* policy of zeros keeps nothing \(it would forget every backup\) and is not applied/],
      [["--keep-daily", "0", "--keep-within", "0d"], /^enigma: a --keep-\* policy of zeros keeps nothing/]
    ] as const) {
      const bad = enigma([...g, "forget", ...args])
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr.trim(), message)
    }
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 5, "nothing was forgotten")
  })

  it("rewrite --exclude records backups again without what matches (same time, host, paths, labels + rewrite); --forget, then gc, reclaims the space; bad input changes nothing", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    mkdirSync(path.join(src, "secrets"), { recursive: true })
    mkdirSync(path.join(src, "docs"))
    mkdirSync(path.join(src, "hl"))
    writeFileSync(path.join(src, "big.bin"), prng(31)(24 * 1024 * 1024))
    writeFileSync(path.join(src, "secrets", "key.pem"), "-----BEGIN PRIVATE KEY-----\n")
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, "docs", `d${i}.txt`), `doc ${i}\n`)
    writeFileSync(path.join(src, "hl", "first"), "linked twice\n")
    linkSync(path.join(src, "hl", "first"), path.join(src, "hl", "second"))
    const one = json(enigma([...g, "backup", src, "--tag", "nightly", "--json"]))
    writeFileSync(path.join(src, "docs", "d0.txt"), "changed\n")
    const two = json(enigma([...g, "backup", src, "--tag", "nightly", "--json"]))
    const before = json(enigma([...g, "list", "--json"])) as Array<{ id: string; time: string }>
    const chunks = () => readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60).length
    const chunksBefore = chunks()

    // Bad input first: nothing is written.
    for (const [args, message] of [
      [[], /^enigma: rewrite needs something to leave out: --exclude PATTERN/],
      [["--exclude", "data"], /^enigma: every entry of backup [0-9a-f]{16} matches; rewriting would leave it empty/],
      [["--exclude", "!x"], /^enigma: --exclude !x: negated patterns/],
      [["feedbeef", "--exclude", "x"], /^enigma: backup feedbeef not found/]
    ] as const) {
      const bad = enigma([...g, "rewrite", ...args])
      assert.strictEqual(bad.code, 1, bad.stderr)
      assert.match(bad.stderr, message)
    }
    const excludes = ["--exclude", "secrets", "--exclude", "/data/big.bin", "--exclude", "/data/hl/first"]
    const dry = json(enigma([...g, "rewrite", ...excludes, "--dry-run", "--json"]))
    assert.deepStrictEqual(dry.backups.map((b: { removed: number; newId: string | null }) => [b.removed, b.newId]), [[4, null], [4, null]])
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), before)

    const r = json(enigma([...g, "rewrite", ...excludes, "--json"]))
    assert.strictEqual(r.backups.length, 2)
    const after = json(enigma([...g, "list", "--json"])) as Array<{ id: string; time: string; tags: Array<string>; host: string; paths: Array<string> }>
    assert.strictEqual(after.length, 4)
    const rewritten = after.find((b) => b.id === r.backups[1].newId)!
    const original = before.find((b) => b.id === two.backupId)! as { id: string; time: string; host: string; paths: Array<string> }
    assert.deepStrictEqual([rewritten.time, rewritten.host, rewritten.paths, rewritten.tags], [original.time, original.host, original.paths, ["nightly", "rewrite"]])
    // Its restore is the original's without what matched; the second hard link keeps its content.
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", rewritten.id, out]).code, 0)
    const want = snapshotTree(src)
    for (const k of ["secrets", "secrets/key.pem", "big.bin", "hl/first"]) delete want[k]
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), want)
    assert.strictEqual(enigma([...g, "verify", rewritten.id, "--read-data"]).code, 0)
    // Again: nothing matches any more in the rewritten ones.
    const again = json(enigma([...g, "rewrite", r.backups[0].newId, ...excludes, "--json"]))
    assert.deepStrictEqual(again.backups.map((b: { removed: number; newId: string | null }) => [b.removed, b.newId]), [[0, null]])

    // The originals forgotten (as --forget would), gc deletes big.bin's chunks.
    const forgot = json(enigma([...g, "rewrite", one.backupId, "--exclude", "d1.txt", "--forget", "--json"]))
    assert.isTrue(forgot.backups[0].forgotten)
    assert.isUndefined((json(enigma([...g, "list", "--json"])) as Array<{ id: string }>).find((b) => b.id === one.backupId))
    assert.strictEqual(enigma([...g, "forget", two.backupId]).code, 0)
    const forgotTheRest = json(enigma([...g, "forget", forgot.backups[0].newId, "--json"]))
    assert.strictEqual(forgotTheRest.removed.length, 1)
    assert.strictEqual(enigma([...g, "gc"]).code, 0)
    assert.isBelow(chunks(), chunksBefore)
    assert.strictEqual(enigma([...g, "verify", "--read-data"]).code, 0)
  })

  it("backup --tag labels backups; list --tag and forget --tag select by them", () => {
    const { root, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    const ids: Array<string> = []
    for (const [i, tags] of [[0, ["--tag", "daily,db"]], [1, ["--tag", "daily", "--tag", "db"]], [2, []]] as const) {
      writeFileSync(path.join(a, "f"), String(i))
      ids.push(json(enigma([...g, "backup", a, ...tags, "--json"])).backupId)
    }
    const listed = json(enigma([...g, "list", "--json"])) as Array<{ id: string; tags: Array<string> }>
    assert.deepStrictEqual(listed.map((b) => b.tags), [["daily", "db"], ["daily", "db"], []])
    assert.deepStrictEqual((json(enigma([...g, "list", "--tag", "db,daily", "--json"])) as Array<{ id: string }>).map((b) => b.id), [ids[0], ids[1]])
    assert.match(enigma([...g, "list"]).stdout, /\[daily,db\]/)
    const r = json(enigma([...g, "forget", "--keep-last", "1", "--tag", "daily", "--json"]))
    assert.deepStrictEqual(r.removed, [ids[0]])
    assert.deepStrictEqual((json(enigma([...g, "list", "--json"])) as Array<{ id: string }>).map((b) => b.id), [ids[1], ids[2]])
    for (const [args, message] of [
      [["backup", a, "--tag", "a,,b"], /^enigma: --tag "a,,b": give labels of 1 to 255 characters/],
      [["forget", ids[1]!, "--tag", "daily"], /^enigma: --tag, --host and --path select the backups a --keep-\* policy applies to/],
      [["list", "--tag", " "], /^enigma: --tag " ": give labels/]
    ] as const) {
      const bad = enigma([...g, ...args])
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr, message)
    }
    assert.strictEqual((json(enigma([...g, "list", "--json"])) as Array<unknown>).length, 2, "a refused backup records nothing")
  })

  it("tag --add / --remove / --set changes backups' labels (kept through recover); forget --keep-tag keeps what was labelled", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    const ids: Array<string> = []
    for (const [i, tags] of [[0, ["--tag", "daily"]], [1, ["--tag", "daily"]], [2, []]] as const) {
      writeFileSync(path.join(a, "f"), String(i))
      ids.push(json(enigma([...g, "backup", a, ...tags, "--json"])).backupId)
    }
    const tagsOf = () => (json(enigma([...g, "list", "--json"])) as Array<{ id: string; tags: Array<string> }>).map((b) => b.tags)
    // Bad input: refused before the repository is touched.
    for (const [args, message] of [
      [["tag", ids[0]!], /^enigma: say what to change: --add LABEL, --remove LABEL or --set LABEL/],
      [["tag", "--add", "x"], /^enigma: name the backups to change \(ids, or latest\), or select them with --tag, --host or --path$/],
      [["tag", ids[0]!, "--set", "a", "--add", "b"], /^enigma: --set replaces every label: give it alone/],
      [["tag", ids[0]!, "--add", "x", "--remove", "x"], /^enigma: "x" is both in --add and in --remove/],
      [["tag", ids[0]!, "--add", "a,,b"], /^enigma: --add "a,,b": give labels of 1 to 255 characters/],
      [["tag", "ffff", "--add", "x"], /^enigma: backup ffff not found/]
    ] as const) {
      const bad = enigma([...g, ...args])
      assert.strictEqual(bad.code, 1, bad.stderr)
      assert.match(bad.stderr.trim(), message)
    }
    assert.deepStrictEqual(tagsOf(), [["daily"], ["daily"], []])

    const dry = json(enigma([...g, "tag", ids[0]!, "--add", "pinned", "--dry-run", "--json"]))
    assert.deepStrictEqual(dry.changed, [{ id: ids[0], before: ["daily"], after: ["daily", "pinned"] }])
    assert.deepStrictEqual(tagsOf(), [["daily"], ["daily"], []])
    const pinned = enigma([...g, "tag", ids[0]!, "--add", "pinned,keep", "--remove", "daily"])
    assert.strictEqual(pinned.code, 0, pinned.stderr)
    assert.match(pinned.stdout.trim(), new RegExp(`^tagged ${ids[0]}  .*  \\[daily\\] -> \\[pinned,keep\\]\\n1 backup\\(s\\) changed, 0 already so$`))
    // Every backup --tag selects; one already so is left as it is.
    const renamed = json(enigma([...g, "tag", "--tag", "daily", "--set", "nightly", "--json"]))
    assert.deepStrictEqual([renamed.changed.map((c: { id: string }) => c.id), renamed.unchanged], [[ids[1]], []])
    assert.deepStrictEqual(json(enigma([...g, "tag", "latest", "--set", "", "--json"])).unchanged, [ids[2]])
    assert.deepStrictEqual(tagsOf(), [["pinned", "keep"], ["nightly"], []])

    // The labels are events: a manifest rebuilt from the providers has them.
    rmSync(path.join(dir, "enigma.db"))
    assert.strictEqual(enigma([...g, "recover"]).code, 0)
    assert.deepStrictEqual(tagsOf(), [["pinned", "keep"], ["nightly"], []])

    const r = json(enigma([...g, "forget", "--keep-last", "1", "--keep-tag", "pinned", "--json"]))
    assert.deepStrictEqual(r.removed, [ids[1]])
  })

  it("list, forget and tag select backups by --host and --path (restic's filter); list --latest N per host and paths", () => {
    const { root, g } = initRepo()
    const [a, b] = [path.join(root, "a"), path.join(root, "b")]
    mkdirSync(a)
    mkdirSync(b)
    const made: Array<[string, string]> = []
    for (const [host, dir, i] of [["web", a, 0], ["web", a, 1], ["db", a, 2], ["web", b, 3], ["web", a, 4]] as const) {
      writeFileSync(path.join(dir, "f"), String(i))
      made.push([json(enigma([...g, "backup", dir, "--host", host, "--json"])).backupId, `${host} ${path.basename(dir)}`])
    }
    const ids = (args: Array<string>) => (json(enigma([...g, "list", "--json", ...args])) as Array<{ id: string }>).map((x) => x.id)
    const which = (...n: Array<number>) => n.map((i) => made[i]![0])
    assert.deepStrictEqual(ids(["--host", "web"]), which(0, 1, 3, 4))
    assert.deepStrictEqual(ids(["--host", "web", "--host", "db"]), which(0, 1, 2, 3, 4))
    // --path as given on the command line, relative to the working directory here.
    assert.deepStrictEqual(ids(["--path", a]), which(0, 1, 2, 4))
    assert.deepStrictEqual(ids(["--path", path.relative(process.cwd(), b)]), which(3))
    assert.deepStrictEqual(ids(["--path", a, "--path", b]), [])
    assert.deepStrictEqual(ids(["--latest", "1"]), which(2, 3, 4))
    assert.deepStrictEqual(ids(["--latest", "2", "--host", "web"]), which(1, 3, 4))
    for (const [args, message] of [
      [["list", "--latest", "0"], /^enigma: --latest must be 1 or more$/],
      [["list", "--host", ""], /^enigma: --host "": give a host name/],
      [["forget", made[0]![0], "--host", "web"], /^enigma: --tag, --host and --path select the backups a --keep-\* policy applies to/]
    ] as const) {
      const bad = enigma([...g, ...args])
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr.trim(), message)
    }
    // Retention on web's backups of a only: db's and b's are not considered.
    const r = json(enigma([...g, "forget", "--keep-last", "1", "--host", "web", "--path", a, "--json"]))
    assert.deepStrictEqual([...r.removed].sort(), which(0, 1).sort())
    const typo = enigma([...g, "forget", "--keep-last", "1", "--host", "wbe"])
    assert.strictEqual(typo.code, 0)
    assert.match(typo.stderr, /^warning: no backup matches --host wbe, so the policy applied to none; see `enigma list`/)
    const t = json(enigma([...g, "tag", "--host", "db", "--add", "database", "--json"]))
    assert.deepStrictEqual(t.changed.map((c: { id: string }) => c.id), which(2))
  })

  it("a live lock makes writers exit 11; a stale one is removed; unlock clears", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    writeLock(dir, process.pid) // this test process is alive: the lock is held
    const held = enigma([...g, "backup", a])
    assert.strictEqual(held.code, 11)
    assert.match(held.stderr, /locked by backup \(pid \d+/)
    assert.strictEqual(enigma([...g, "gc"]).code, 11)
    assert.strictEqual(enigma([...g, "list"]).code, 0) // readers are not blocked
    // status says who holds it.
    assert.match(enigma([...g, "status"]).stdout, /\n {2}locked by backup \(pid \d+ on [^,]+, since [^)]+\)\n {2}providers:/)
    const locks = json(enigma([...g, "status", "--json"])).locks
    assert.deepStrictEqual(locks.map((l: { key: string; command: string; pid: number; stale: boolean }) => [l.key, l.command, l.pid, l.stale]), [["locks/otherlock", "backup", process.pid, false]])
    writeLock(dir, 999_999_999) // no such process: stale
    assert.match(enigma([...g, "status"]).stdout, /\n {2}locked by backup \(pid 999999999 .*\) \(stale: its process is gone or silent; `enigma unlock` removes it\)\n/)
    const ok = enigma([...g, "backup", a])
    assert.strictEqual(ok.code, 0, ok.stderr)
    assert.match(ok.stderr, /removing stale lock/)
    writeLock(dir, process.pid, "some-other-host")
    assert.strictEqual(enigma([...g, "backup", a]).code, 11)
    // Where the system names this machine and boot: another machine with this host name holds a
    // live lock whatever pid it names; one from an earlier boot of this machine is stale whatever runs now.
    if (existsSync("/etc/machine-id") && existsSync("/proc/sys/kernel/random/boot_id")) {
      const machine = readFileSync("/etc/machine-id", "utf8").trim()
      writeLock(dir, 999_999_999, hostname(), { machine: `${machine}-other` })
      assert.strictEqual(enigma([...g, "backup", a]).code, 11)
      writeLock(dir, process.pid, hostname(), { machine, boot: "an-earlier-boot" })
      const afterReboot = enigma([...g, "backup", a])
      assert.strictEqual(afterReboot.code, 0, afterReboot.stderr)
      assert.match(afterReboot.stderr, /removing stale lock/)
      writeLock(dir, process.pid, "some-other-host")
    }
    assert.match(enigma([...g, "unlock"]).stdout, /^no stale locks\nleft the live lock of backup \(pid \d+ on some-other-host, since [^)]+\): it is running \(--remove-all removes it all the same\)\n$/)
    assert.match(enigma([...g, "unlock", "--remove-all"]).stdout, /removed lock/)
    assert.strictEqual(enigma([...g, "backup", a]).code, 0)
  })

  it("readers (restore, get, dump, verify) and gc, forget, rewrite keep each other out; backup and other readers run beside a reader", async () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    for (let i = 0; i < 5; i++) writeFileSync(path.join(a, `u${i}.bin`), prng(40 + i)(3 * 1024 * 1024))
    const { backupId } = json(enigma([...g, "backup", a, "--json"]))
    // A restore slowed down to ~7 s, and a forget --prune of its backup while it reads.
    const out = path.join(root, "out")
    const restore = enigmaAsync([...g, "--limit-download", "2M", "restore", backupId, out])
    const restoreErr: Array<Buffer> = []
    restore.stderr.on("data", (b: Buffer) => restoreErr.push(b))
    const restored = new Promise((r) => restore.on("exit", r))
    for (let i = 0; i < 50 && lockCount(dir) === 0; i++) await new Promise((r) => setTimeout(r, 100))
    assert.strictEqual(lockCount(dir), 1, "the restore holds its reader's lock")
    for (const args of [["forget", backupId, "--prune"], ["gc"], ["rewrite", backupId, "--exclude", "u0.bin"]]) {
      const kept = enigma([...g, ...args])
      assert.strictEqual(kept.code, 11, `${args.join(" ")}: ${kept.stderr}`)
      assert.match(kept.stderr, /locked by restore \(reading\) \(pid \d+/)
    }
    // Beside it: a backup, another reader.
    writeFileSync(path.join(a, "new.txt"), "new")
    assert.strictEqual(enigma([...g, "backup", a]).code, 0)
    assert.strictEqual(enigma([...g, "verify", backupId]).code, 0)
    // And a forget that waits (--retry-lock) goes on once the restore is done.
    const forget = enigmaAsync([...g, "--retry-lock", "2m", "forget", backupId, "--prune"])
    const forgotten = new Promise((r) => forget.on("exit", r))
    assert.strictEqual(await restored, 0, Buffer.concat(restoreErr).toString())
    const source = snapshotTree(a)
    delete source["new.txt"]
    assert.deepStrictEqual(snapshotTree(path.join(out, "a")), source)
    assert.strictEqual(await forgotten, 0)
    assert.strictEqual(lockCount(dir), 0)

    // A gc holding the lock keeps readers out (they may wait for it too); a backup's lock does not.
    writeLock(dir, process.pid, hostname(), { command: "gc" })
    for (const args of [["restore", "latest", path.join(root, "out2")], ["verify", "latest"], ["dump", "latest", "a/u1.bin"]]) {
      const r = enigma([...g, ...args])
      assert.strictEqual(r.code, 11, `${args.join(" ")}: ${r.stderr}`)
      assert.match(r.stderr, /locked by gc \(pid \d+/)
    }
    assert.isFalse(existsSync(path.join(root, "out2")), "a reader kept out writes nothing")
    writeLock(dir, process.pid, hostname(), { command: "backup" })
    assert.strictEqual(enigma([...g, "verify", "latest"]).code, 0)
    // A reader's lock left by a process that is gone: stale, removed by the gc that meets it.
    writeLock(dir, 999_999_999, hostname(), { command: "restore", shared: true })
    const gc = enigma([...g, "gc"])
    assert.strictEqual(gc.code, 0, gc.stderr)
    assert.match(gc.stderr, /removing stale lock: restore \(reading\)/)
  })

  it("--retry-lock waits for a held lock: the writer goes on once it is released, or exits 11 when the time is up", async () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    const bad = enigma([...g, "--retry-lock", "5", "backup", a])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr.trim(), /^enigma: --retry-lock "5": give how long to wait for the lock, e.g. 30s, 5m or 2h$/)
    writeLock(dir, process.pid)
    const started = Date.now()
    const timedOut = enigma([...g, "--retry-lock", "3s", "backup", a])
    assert.strictEqual(timedOut.code, 11)
    assert.isAtLeast(Date.now() - started, 2_000)
    assert.match(timedOut.stderr, /^warning: repository is locked by backup \(pid \d+ .*\); waiting for it up to 3 s \(--retry-lock\)\n/)
    // Each of its tries took its own lock object and removed it again: only the holder's is left.
    assert.deepStrictEqual(readdirSync(path.join(dir, "storage", "locks")), ["otherlock"])
    // Released while a writer waits: it takes the lock and backs up.
    const child = enigmaAsync([...g, "--retry-lock", "1m", "backup", a, "--json"])
    const out: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => out.push(b))
    await new Promise((r) => setTimeout(r, 1_500))
    assert.isNull(child.exitCode, "still waiting")
    rmSync(path.join(dir, "storage", "locks", "otherlock"))
    const code = await new Promise((r) => child.on("exit", r))
    assert.strictEqual(code, 0)
    assert.strictEqual(JSON.parse(Buffer.concat(out).toString()).files, 34)
    assert.deepStrictEqual(readdirSync(path.join(dir, "storage", "locks")), [])
  })

  it("kill -9 during a backup: not listed, the next backup and gc work", async () => {
    const { root, dir, g } = initRepo()
    const big = path.join(root, "big")
    mkdirSync(big)
    const bytes = prng(7)
    for (let i = 0; i < 6; i++) writeFileSync(path.join(big, `f${i}.bin`), bytes(16 * 1024 * 1024))
    const child = enigmaAsync([...g, "backup", big])
    // Wait until chunks are landing, then kill it hard.
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && (!existsSync(path.join(dir, "storage", "chunks")) || chunkObjects(dir).length < 2)) {
      await new Promise((r) => setTimeout(r, 20))
    }
    child.kill("SIGKILL")
    await new Promise((r) => child.on("exit", r))
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
    // status says a backup was begun and not committed, and what reclaims it.
    assert.strictEqual(json(enigma([...g, "status", "--json"])).unfinishedBackups, 1)
    assert.match(enigma([...g, "status"]).stdout, /\n {2}unfinished: 1 backup\(s\) begun and not committed: .*`enigma gc` abandons those/)
    const next = enigma([...g, "backup", big, "--json"])
    assert.strictEqual(next.code, 0, next.stderr)
    const gc = json(enigma([...g, "gc", "--json"]))
    assert.strictEqual(gc.abandonedBackups.length, 1)
    assert.strictEqual(json(enigma([...g, "status", "--json"])).unfinishedBackups, 0)
    const { backupId } = JSON.parse(next.stdout)
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)
  })

  it("an upgrade from version 15's query tables adds the device-number column in place, without replaying the log, and the tables match a new database's", () => {
    const { root, dir, g } = initRepo()
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const columns = (file: string) => {
      const d = new DatabaseSync(file)
      try {
        return (d.prepare("PRAGMA table_info(files)").all() as Array<{ name: string; type: string }>).map((c) => `${c.name} ${c.type}`)
      } finally {
        d.close()
      }
    }
    const fresh = columns(path.join(dir, "enigma.db"))
    // Tables as version 15 left them, and a row only they hold: a replay would drop it.
    const db = new DatabaseSync(path.join(dir, "enigma.db"))
    db.exec("ALTER TABLE files DROP COLUMN rdev")
    db.prepare("INSERT INTO logs (seq, at, backup_id, message) VALUES (999999, 0, NULL, 'kept in place')").run()
    db.prepare("UPDATE meta SET value = '15' WHERE key = 'projection_version'").run()
    db.close()
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])).map((b: { id: string }) => b.id), [backupId])
    assert.deepStrictEqual(columns(path.join(dir, "enigma.db")), fresh)
    const after = new DatabaseSync(path.join(dir, "enigma.db"))
    assert.deepStrictEqual(
      [after.prepare("SELECT value FROM meta WHERE key = 'projection_version'").get(), after.prepare("SELECT COUNT(*) AS n FROM logs WHERE message = 'kept in place'").get()].map((r) => ({ ...r as object })),
      [{ value: "16" }, { n: 1 }]
    )
    after.close()
    assert.strictEqual(enigma([...g, "restore", backupId, path.join(root, "out")]).code, 0)
  })

  it("gc refuses, deleting nothing, when the manifest knows too few of the chunk objects (a stale or damaged manifest); a crash's few orphans it deletes", () => {
    const { root, dir, g } = initRepo([], "[enigma.chunk_strategy.Fixed]\nsize = 4096\n")
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "a.bin"), prng(3)(200 * 4096))
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const chunkFiles = () => readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60).sort()
    const stored = chunkFiles()
    assert.strictEqual(stored.length, 200)
    // A manifest that lost most of its chunk records (as empty tables taken for current did).
    const db = new DatabaseSync(path.join(dir, "enigma.db"))
    db.prepare("DELETE FROM chunks WHERE rowid % 4 != 0").run()
    db.close()
    for (const args of [["gc"], ["gc", "--dry-run"]]) {
      const r = enigma([...g, ...args])
      assert.strictEqual(r.code, 1, args.join(" "))
      assert.match(r.stderr.trim(), /^enigma: gc stopped, nothing deleted: the manifest knows none of 15\d of the 200 chunk objects on provider local, more than a crash leaves; it may be missing backups that use them\. Rebuild it from the providers \(`enigma --config-dir NEW recover` with this enigma\.toml\) and run gc from there$/)
    }
    assert.deepStrictEqual(chunkFiles(), stored)
    // Rebuilt from the providers, the manifest knows them all again.
    const again = path.join(root, "again")
    mkdirSync(again)
    writeFileSync(path.join(again, "enigma.toml"), ["[enigma.chunk_strategy.Fixed]", "size = 4096", "[[providers]]", 'name = "local"', 'type = "Local"', `bucket = "${path.join(dir, "storage")}"`, ""].join("\n"))
    const recovered = enigma(["--config-dir", again, "recover"])
    assert.strictEqual(recovered.code, 0, recovered.stderr)
    // Two objects no record names, as a crash between upload and record leaves: deleted, the rest kept.
    const strays = ["ab", "cd"].map((p) => path.join(dir, "storage", "chunks", p, p.repeat(32)))
    for (const f of strays) {
      mkdirSync(path.dirname(f), { recursive: true })
      writeFileSync(f, "left by a crash")
    }
    const gc = json(enigma(["--config-dir", again, "gc", "--json"]))
    assert.deepStrictEqual([gc.deletedChunks.length, gc.orphanObjects.length], [0, 2])
    assert.isFalse(strays.some((f) => existsSync(f)))
    assert.deepStrictEqual(chunkFiles(), stored)
    assert.strictEqual(enigma(["--config-dir", again, "verify", backupId, "--read-data"]).code, 0)
  })

  it("gc deletes only objects where this repository puts chunks: another's nested inside chunks/ (a --repo URL within another) stays", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    assert.strictEqual(enigma([...g, "backup", a]).code, 0)
    const id = "ab" + "0".repeat(62)
    const nested = [path.join(dir, "storage", "chunks", "inner", "chunks", "ab", id), path.join(dir, "storage", "chunks", "cd", id)]
    for (const f of nested) {
      mkdirSync(path.dirname(f), { recursive: true })
      writeFileSync(f, "another repository's chunk")
    }
    const orphan = path.join(dir, "storage", "chunks", "ab", id)
    mkdirSync(path.dirname(orphan), { recursive: true })
    writeFileSync(orphan, "a crash's orphan")
    const r = json(enigma([...g, "gc", "--json"]))
    assert.deepStrictEqual(r.orphanObjects, [`local:chunks/ab/${id}`], "the orphan at its own place only")
    for (const f of nested) assert.isTrue(existsSync(f), f)
    assert.isFalse(existsSync(orphan))
  })

  it("gc removes the temp files writers killed mid-write left once they are an hour old, and only those", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    writeFileSync(path.join(a, "one.bin"), prng(3)(300_000))
    const backup = json(enigma([...g, "backup", a, "--json"]))
    // What a kill -9 between open and rename leaves: KEY.tmp-RANDOM holding part of the object.
    const [chunk] = chunkObjects(dir)
    const chunkPath = path.join(dir, "storage", "chunks", chunk!)
    const stale = `${chunkPath}.tmp-0123456789ab`
    const fresh = `${chunkPath}.tmp-ba9876543210`
    const staleElsewhere = path.join(dir, "storage", "keys", "keystore.tmp-00aa00aa00aa")
    for (const f of [stale, fresh, staleElsewhere]) writeFileSync(f, readFileSync(chunkPath).subarray(0, 1000))
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
    utimesSync(stale, twoHoursAgo, twoHoursAgo)
    utimesSync(staleElsewhere, twoHoursAgo, twoHoursAgo)
    const dry = json(enigma([...g, "gc", "--dry-run", "--json"]))
    assert.deepStrictEqual([...dry.incompleteWrites].sort(), [`local:chunks/${chunk}.tmp-0123456789ab`, "local:keys/keystore.tmp-00aa00aa00aa"])
    assert.isTrue(existsSync(stale))
    const gc = enigma([...g, "gc"])
    assert.strictEqual(gc.code, 0, gc.stderr)
    assert.match(gc.stdout, /removed 2 incomplete write\(s\) left by a killed writer/)
    assert.isFalse(existsSync(stale))
    assert.isFalse(existsSync(staleElsewhere))
    assert.isTrue(existsSync(fresh), "a temp file younger than an hour may belong to a write in progress")
    assert.deepStrictEqual(json(enigma([...g, "gc", "--json"])).incompleteWrites, [])
    assert.strictEqual(enigma([...g, "verify", backup.backupId, "--read-data"]).code, 0)
  })

  it("Ctrl-C (SIGINT) during a backup: exit 130, lock released, nothing listed", async () => {
    const { root, dir, g } = initRepo()
    const big = path.join(root, "big")
    mkdirSync(big)
    const bytes = prng(13)
    for (let i = 0; i < 6; i++) writeFileSync(path.join(big, `f${i}.bin`), bytes(16 * 1024 * 1024))
    const child = enigmaAsync([...g, "backup", big])
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && lockCount(dir) === 0) await new Promise((r) => setTimeout(r, 10))
    child.kill("SIGINT")
    const code = await new Promise((r) => child.on("exit", (c) => r(c)))
    assert.strictEqual(code, 130)
    assert.strictEqual(lockCount(dir), 0)
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
    assert.strictEqual(enigma([...g, "backup", big]).code, 0)
  })

  it("Ctrl-C (SIGINT) during a restore of many small files: exit 130, no temp files, every file there is complete", async () => {
    const { root, g } = initRepo()
    const src = path.join(root, "data")
    for (let d = 0; d < 20; d++) {
      mkdirSync(path.join(src, `d${d}`), { recursive: true })
      for (let i = 0; i < 300; i++) writeFileSync(path.join(src, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`.repeat(50))
    }
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const dest = path.join(root, "out")
    const child = enigmaAsync([...g, "restore", backupId, dest])
    const written = () => (existsSync(path.join(dest, "data")) ? readdirSync(path.join(dest, "data"), { recursive: true }).length : 0)
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && written() < 100) await new Promise((r) => setTimeout(r, 5))
    child.kill("SIGINT")
    const code = await new Promise((r) => child.on("exit", (c) => r(c)))
    const all = readdirSync(dest, { recursive: true }).map(String)
    assert.deepStrictEqual(all.filter((n) => n.includes(".enigma-")), [])
    const files = all.filter((n) => n.endsWith(".txt"))
    for (const n of files) {
      const [, d, i] = /d(\d+)\/f(\d+)\.txt$/.exec(n)!
      assert.strictEqual(readFileSync(path.join(dest, n), "utf8"), `file ${d}/${i}\n`.repeat(50), n)
    }
    // Interrupted: 130. Only a restore that had written every file may have won the race (0);
    // it may also have been stopped after its files, while setting directory times (130).
    if (files.length < 6000) assert.strictEqual(code, 130)
    else assert.include([0, 130], code)
  })

  it("gc concurrent with a running backup cannot delete what the backup is about to reference", async () => {
    const { root, dir, g } = initRepo()
    const data = path.join(root, "data")
    mkdirSync(data)
    const bytes = prng(11)
    for (let i = 0; i < 4; i++) writeFileSync(path.join(data, `f${i}.bin`), bytes(16 * 1024 * 1024))
    // Make every chunk an orphan first: back up, forget, and leave gc for later.
    const first = json(enigma([...g, "backup", data, "--json"]))
    assert.strictEqual(enigma([...g, "forget", first.backupId]).code, 0)
    // Now a backup that will dedup against those orphans runs while gc tries to reclaim them.
    const child = enigmaAsync([...g, "backup", data, "--json"])
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && lockCount(dir) === 0) {
      await new Promise((r) => setTimeout(r, 10))
    }
    // Freeze the backup while it holds the lock (deterministic, no timing luck), then run gc.
    child.kill("SIGSTOP")
    const before = chunkObjects(dir).length
    const gc = enigma([...g, "gc"])
    assert.strictEqual(gc.code, 11, "gc must not run while a backup holds the writer lock")
    assert.strictEqual(chunkObjects(dir).length, before)
    child.kill("SIGCONT")
    const code = await new Promise((r) => child.on("exit", r))
    assert.strictEqual(code, 0)
    const { backupId } = JSON.parse(out)
    assert.strictEqual(enigma([...g, "gc"]).code, 0)
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)
  })

  it("recover rebuilds keystore, log and projections from the providers; list and restore work", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    const { backupId } = json(enigma([...g, "backup", a, "--json"]))
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    // Only the config, naming the same provider directory.
    const toml = readFileSync(path.join(dir, "enigma.toml"), "utf8")
    writeFileSync(path.join(fresh, "enigma.toml"), toml.replaceAll(`${dir}/enigma.db`, `${fresh}/enigma.db`).replaceAll(`${dir}/keys.enc`, `${fresh}/keys.enc`))
    assert.strictEqual(enigma(["--config-dir", fresh, "list"]).code, 10)
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"], { ENIGMA_PASSPHRASE: "nope" }).code, 12)
    const rec = json(enigma(["--config-dir", fresh, "recover", "--json"]))
    assert.strictEqual(rec.committedBackups, 1)
    assert.deepStrictEqual(json(enigma(["--config-dir", fresh, "list", "--json"])).map((b: { id: string }) => b.id), [backupId])
    const out = path.join(root, "out")
    assert.strictEqual(enigma(["--config-dir", fresh, "restore", backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "a")), snapshotTree(a))
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"]).code, 1)
  })

  it("a manifest or keyfile of another repository is never taken for this one's: init, recover and every command refuse it, nothing written", () => {
    const x = initRepo()
    const y = initRepo()
    const a = path.join(x.root, "a")
    makeTree(a)
    assert.strictEqual(enigma([...x.g, "backup", a]).code, 0)
    assert.strictEqual(enigma([...y.g, "backup", a]).code, 0)
    const db = (r: { dir: string }) => path.join(r.dir, "enigma.db")
    const foreign = /manifest database .*enigma\.db is repository [0-9a-f]+'s, not this one's \([0-9a-f]+, as its keyfile says\).*enigma recover/

    // "Starting over" in X's config dir but for its database: init refuses before making anything.
    copyFileSync(path.join(x.dir, "keys.enc"), path.join(x.dir, "keys.enc.aside-test"))
    rmSync(path.join(x.dir, "keys.enc"))
    rmSync(path.join(x.dir, "storage"), { recursive: true })
    const again = enigma([...x.g, "init", ...testArgon])
    assert.strictEqual(again.code, 1)
    assert.match(again.stderr, /^enigma: a manifest database is already at .*enigma\.db, and no keyfile beside it: move it aside/)
    assert.isFalse(existsSync(path.join(x.dir, "storage")))
    assert.isFalse(existsSync(path.join(x.dir, "keys.enc")))

    // Y's config dir given X's database (a config dir copied as a template): every command refuses it.
    copyFileSync(db(x), db(y))
    for (const args of [["backup", a], ["gc"], ["list"], ["restore", "latest", path.join(y.root, "out")]]) {
      const r = enigma([...y.g, ...args])
      assert.strictEqual(r.code, 10, `${args.join(" ")}: ${r.stderr}`)
      assert.match(r.stderr, foreign)
    }
    assert.isFalse(existsSync(path.join(y.root, "out")))
    // recover keeps a database only if it is this repository's.
    rmSync(path.join(y.dir, "keys.enc"))
    const kept = enigma([...y.g, "recover"])
    assert.strictEqual(kept.code, 1, kept.stderr)
    assert.match(kept.stderr, foreign)
    assert.isFalse(existsSync(path.join(y.dir, "keys.enc")), "no keyfile written beside another's database")

    // X's keyfile in a config dir pointed at Y's storage: recover refuses to keep it.
    rmSync(db(y))
    copyFileSync(path.join(x.dir, "keys.enc.aside-test"), path.join(y.dir, "keys.enc"))
    const mixed = enigma([...y.g, "recover"])
    assert.notStrictEqual(mixed.code, 0)
    assert.match(mixed.stderr, /this keyfile is repository [0-9a-f]+'s, but the providers hold repository [0-9a-f]+: move it aside and run `enigma recover` again/)
    assert.isFalse(existsSync(db(y)))
    rmSync(path.join(y.dir, "keys.enc"))
    const rec = enigma([...y.g, "recover"])
    assert.strictEqual(rec.code, 0, rec.stderr)
    assert.strictEqual(json(enigma([...y.g, "list", "--json"])).length, 1)
  })

  it("recover puts the log together from several providers when each lacks a different segment", () => {
    const { root, dir, g } = initRepo([], `[enigma]\n${localProviderToml("one")}${localProviderToml("two")}`)
    const a = path.join(root, "a")
    makeTree(a)
    const ids: Array<string> = []
    for (let i = 0; i < 2; i++) {
      writeFileSync(path.join(a, `round-${i}.txt`), String(i))
      ids.push(json(enigma([...g, "backup", a, "--json"])).backupId)
    }
    const segments = (p: string) => readdirSync(path.join(dir, p, "log")).sort()
    assert.deepStrictEqual(segments("one"), segments("two"))
    assert.isAtLeast(segments("one").length, 3)
    rmSync(path.join(dir, "one", "log", segments("one")[1]!))
    const second = path.join(dir, "two", "log", segments("two")[2]!)
    writeFileSync(second, Buffer.concat([readFileSync(second), Buffer.from("damage")]))
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    const toml = readFileSync(path.join(dir, "enigma.toml"), "utf8")
    writeFileSync(path.join(fresh, "enigma.toml"), toml.replaceAll(`${dir}/enigma.db`, `${fresh}/enigma.db`).replaceAll(`${dir}/keys.enc`, `${fresh}/keys.enc`).replaceAll('bucket = "one"', `bucket = "${dir}/one"`).replaceAll('bucket = "two"', `bucket = "${dir}/two"`))
    const rec = enigma(["--config-dir", fresh, "recover", "--json"])
    assert.strictEqual(rec.code, 0, rec.stderr)
    assert.match(rec.stderr, /no provider holds the whole log .*; it was put together from the segments of several/)
    assert.deepStrictEqual((json(enigma(["--config-dir", fresh, "list", "--json"])) as Array<{ id: string }>).map((b) => b.id).sort(), [...ids].sort())
  })

  it("recover with the manifest in place: writes a missing or damaged keyfile again (keeping the damaged one), and refuses when nothing is wrong", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    const { backupId } = json(enigma([...g, "backup", a, "--json"]))
    const keyfile = path.join(dir, "keys.enc")
    const good = readFileSync(keyfile)
    const nothing = enigma([...g, "recover"])
    assert.strictEqual(nothing.code, 1)
    assert.match(nothing.stderr, /^enigma: nothing to recover: keyfile .* opens and .* exists/)

    // Damaged: opening names the damage and the way out; recover puts the keystore back.
    const damaged = Buffer.from(good)
    damaged.fill(0, 0, 8)
    writeFileSync(keyfile, damaged)
    const broken = enigma([...g, "list"])
    assert.strictEqual(broken.code, 1)
    assert.match(broken.stderr, /keys\.enc: not an Enigma keyfile \(bad magic\); `enigma recover` writes it again from the providers' copy/)
    assert.strictEqual(enigma([...g, "recover"], { ENIGMA_PASSPHRASE: "nope" }).code, 12)
    assert.isTrue(readFileSync(keyfile).equals(damaged), "a wrong passphrase replaces nothing")
    const rec = json(enigma([...g, "recover", "--json"]))
    assert.deepStrictEqual([rec.manifestRebuilt, rec.keyfileWritten], [false, true])
    assert.isTrue(readFileSync(keyfile).equals(good))
    assert.isTrue(readFileSync(rec.damagedKeyfileKeptAs).equals(damaged), "the damaged keyfile is kept")
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)

    // Missing: the same, and the manifest (with its backup) is the one that was there.
    rmSync(keyfile)
    assert.strictEqual(enigma([...g, "list"]).code, 10)
    const again = enigma([...g, "recover"])
    assert.strictEqual(again.code, 0, again.stderr)
    assert.match(again.stdout, /^recovered the keyfile of repository [0-9a-f]+: written from local:keys\/keystore; the manifest database was kept as it was/)
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])).map((b: { id: string }) => b.id), [backupId])
  })

  it("key rotate: new chunks use the new key, old backups stay readable; key list", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    mkdirSync(a)
    writeFileSync(path.join(a, "one"), prng(3)(100_000))
    const b1 = json(enigma([...g, "backup", a, "--json"]))
    const rot = json(enigma([...g, "key", "rotate", "--json"]))
    assert.strictEqual(rot.currentKeyId, 2)
    writeFileSync(path.join(a, "two"), prng(4)(100_000))
    const b2 = json(enigma([...g, "backup", a, "--json"]))
    const keyIds = new Set(chunkObjects(dir).map((n) => readFileSync(path.join(dir, "storage", "chunks", n)).readUInt32BE(2)))
    assert.deepStrictEqual([...keyIds].sort(), [1, 2])
    const keys = json(enigma([...g, "key", "list", "--json"]))
    assert.deepStrictEqual(keys.keys.map((k: { id: number }) => k.id), [1, 2])
    assert.strictEqual(keys.chunkIdHash, "blake3")
    for (const b of [b1, b2]) assert.strictEqual(enigma([...g, "verify", b.backupId, "--read-data"]).code, 0)
    // The provider's copy of the keystore was updated too: recover from it reads both.
    const providerKeystore = readFileSync(path.join(dir, "storage", "keys", "keystore"))
    assert.isTrue(providerKeystore.equals(readFileSync(path.join(dir, "keys.enc"))))
  })

  it("key passwd: the new passphrase opens the repository (here and from the providers), the old one no longer does; enc: tokens follow", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    const { backupId } = json(enigma([...g, "backup", a, "--json"]))
    // A config secret sealed under the passphrase: the gateway's secret key.
    const empty = enigma([...g, "encrypt-cred", ""])
    assert.strictEqual(empty.code, 1)
    assert.match(empty.stderr, /^enigma: encrypt-cred needs the value to encrypt/)
    // From stdin (-), so the secret is not on a command line; the trailing newline is not part of it.
    const token = enigmaPipe([...g, "encrypt-cred", "-"], new TextEncoder().encode("gateway-secret-1234\n")).stdout.toString().trim()
    const config = path.join(dir, "enigma.toml")
    // And a stale one in a comment, sealed under some other passphrase: not in use, left alone.
    const stale = enigma([...g, "encrypt-cred", "old"], { ENIGMA_PASSPHRASE: "another one" }).stdout.trim()
    writeFileSync(config, `${readFileSync(config, "utf8")}\n# secret_key = "${stale}"\n[s3_proxy]\naccess_key = "AKID"\nsecret_key = "${token}"\n`)
    const NEW = "a new passphrase"
    // Refusals change nothing.
    const same = enigma([...g, "key", "passwd", "--new-passphrase", passphrase])
    assert.strictEqual(same.code, 1)
    assert.match(same.stderr, /^enigma: the new passphrase is the current one; nothing was changed/)
    const none = enigma([...g, "key", "passwd"])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr, /^enigma: a new passphrase is required: pass --new-passphrase-file FILE \(or --new-passphrase\), set ENIGMA_NEW_PASSPHRASE/)
    assert.strictEqual(enigma([...g, "key", "passwd", "--new-passphrase", NEW], { ENIGMA_PASSPHRASE: "wrong" }).code, 12)
    assert.strictEqual(enigma([...g, "list"]).code, 0, "still the old passphrase")

    const changed = enigma([...g, "key", "passwd", "--json"], { ENIGMA_NEW_PASSPHRASE: NEW })
    assert.deepStrictEqual(json(changed), { changed: true, providers: 1, credentialTokens: 1 })
    assert.match(changed.stderr.trim(), /^warning: .*enigma\.toml: enc:.{8}… does not open with the current passphrase \(not in use\?\); left as it is$/)
    assert.include(readFileSync(config, "utf8"), stale)
    assert.strictEqual(enigma([...g, "list"]).code, 12, "the old passphrase no longer opens it")
    const withNew = { ENIGMA_PASSPHRASE: NEW }
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", backupId, out], withNew).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "a")), snapshotTree(a))
    // The token was re-sealed: the config loads with the new passphrase and keeps the same secret.
    assert.notInclude(readFileSync(config, "utf8"), token)
    const newToken = /^secret_key = "(enc:[^"]+)"/m.exec(readFileSync(config, "utf8"))![1]!
    assert.strictEqual(enigma([...g, "config"], withNew).code, 0)
    const opened = spawnSync(process.execPath, ["--input-type=module", "-e", `
      import { Effect, Redacted } from "effect"
      import { decryptCredential } from ${JSON.stringify(path.resolve("src/services/keys/Keys.ts"))}
      console.log(await Effect.runPromise(decryptCredential(${JSON.stringify(newToken)}, Redacted.make(${JSON.stringify(NEW)}))))
    `], { encoding: "utf8" })
    assert.strictEqual(opened.stdout.trim(), "gateway-secret-1234", opened.stderr)
    // The providers' copy too: recover into a fresh config dir needs the new passphrase.
    assert.isTrue(readFileSync(path.join(dir, "storage", "keys", "keystore")).equals(readFileSync(path.join(dir, "keys.enc"))))
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    writeFileSync(path.join(fresh, "enigma.toml"), readFileSync(config, "utf8").replaceAll(`${dir}/enigma.db`, `${fresh}/enigma.db`).replaceAll(`${dir}/keys.enc`, `${fresh}/keys.enc`))
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"]).code, 12)
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"], withNew).code, 0)
    assert.deepStrictEqual(json(enigma(["--config-dir", fresh, "list", "--json"], withNew)).map((b: { id: string }) => b.id), [backupId])
  })

  it("key add/remove: a second passphrase opens the repository (here and from the providers on a new machine); removed, it no longer does", () => {
    const { root, dir, g } = initRepo()
    const a = path.join(root, "a")
    makeTree(a)
    const { backupId } = json(enigma([...g, "backup", a, "--json"]))
    const keyfile = path.join(dir, "keys.enc")
    const RECOVERY = "kept in the safe"
    const recovery = { ENIGMA_PASSPHRASE: RECOVERY }
    // Refusals change nothing.
    const before = readFileSync(keyfile)
    const none = enigma([...g, "key", "add"])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr, /^enigma: a new passphrase is required/)
    assert.strictEqual(enigma([...g, "key", "add", "--new-passphrase", RECOVERY], { ENIGMA_PASSPHRASE: "wrong" }).code, 12)
    assert.isTrue(readFileSync(keyfile).equals(before))

    const added = enigma([...g, "key", "add", "--label", "safe", "--json"], { ENIGMA_NEW_PASSPHRASE: RECOVERY })
    assert.deepStrictEqual(json(added), { id: 2, label: "safe", passphrases: 2, providers: 1 })
    assert.isTrue(readFileSync(path.join(dir, "storage", "keys", "keystore")).equals(readFileSync(keyfile)))
    assert.strictEqual(enigma([...g, "list"]).code, 0, "the first passphrase still opens it")
    const listed = json(enigma([...g, "key", "list", "--json"], recovery))
    assert.strictEqual(listed.passphraseId, 2)
    assert.deepStrictEqual(listed.passphrases.map((p: { id: number; label: string }) => [p.id, p.label]), [[1, `${userInfo().username}@${hostname()}`], [2, "safe"]])
    assert.match(enigma([...g, "key", "list"], recovery).stdout, /\n\* passphrase 2 {2}added \S+ {2}safe\n/)
    // --key-hint (or ENIGMA_KEY_HINT) tries that passphrase first; a bad one is a one-line error.
    assert.strictEqual(json(enigma([...g, "--key-hint", "2", "key", "list", "--json"], recovery)).passphraseId, 2)
    assert.strictEqual(json(enigma([...g, "key", "list", "--json"], { ...recovery, ENIGMA_KEY_HINT: "1" })).passphraseId, 2)
    const badHint = enigma([...g, "list"], { ...recovery, ENIGMA_KEY_HINT: "two" })
    assert.strictEqual(badHint.code, 1)
    assert.match(badHint.stderr, /^enigma: --key-hint "two": give a passphrase's id, as `enigma key list` shows them/)

    // A new machine with only a config naming the provider, and the recovery passphrase.
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    const config = readFileSync(path.join(dir, "enigma.toml"), "utf8")
    writeFileSync(path.join(fresh, "enigma.toml"), config.replaceAll(`${dir}/enigma.db`, `${fresh}/enigma.db`).replaceAll(`${dir}/keys.enc`, `${fresh}/keys.enc`))
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"], recovery).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma(["--config-dir", fresh, "restore", backupId, out], recovery).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "a")), snapshotTree(a))

    // Remove the first passphrase with the second.
    const own = enigma([...g, "key", "remove", "2"], recovery)
    assert.strictEqual(own.code, 1)
    assert.match(own.stderr, /^enigma: keystore .*: passphrase 2 is the one given; to remove it, open the repository with another passphrase/)
    const absent = enigma([...g, "key", "remove", "9"], recovery)
    assert.strictEqual(absent.code, 1)
    assert.match(absent.stderr, /no passphrase 9; the keystore has passphrases 1, 2/)
    assert.strictEqual(enigma([...g, "key", "remove", "two"], recovery).code, 1)
    const removed = enigma([...g, "key", "remove", "1", "--json"], recovery)
    assert.deepStrictEqual(json(removed), { removed: 1, passphrases: [2], providers: 1 })
    assert.strictEqual(enigma([...g, "list"]).code, 12, "the removed passphrase no longer opens it")
    assert.isTrue(readFileSync(path.join(dir, "storage", "keys", "keystore")).equals(readFileSync(keyfile)))
    const fresher = path.join(root, "fresher")
    mkdirSync(fresher)
    writeFileSync(path.join(fresher, "enigma.toml"), config.replaceAll(`${dir}/enigma.db`, `${fresher}/enigma.db`).replaceAll(`${dir}/keys.enc`, `${fresher}/keys.enc`))
    assert.strictEqual(enigma(["--config-dir", fresher, "recover"]).code, 12, "nor the providers' copy")
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"], recovery).code, 0)
    // A config secret sealed under the removed passphrase says so.
    const token = enigma([...g, "encrypt-cred", "gateway-secret"]).stdout.trim()
    writeFileSync(path.join(dir, "enigma.toml"), `${config}\n[s3_proxy]\naccess_key = "AKID"\nsecret_key = "${token}"\n`)
    const stale = enigma([...g, "list"], recovery)
    assert.strictEqual(stale.code, 12)
    assert.match(stale.stderr, /^enigma: the enc: token at .*enigma\.toml s3_proxy\.secret_key does not open with this passphrase: it was sealed under another one/)
  })

  it("split ML-KEM mode: opening needs the passphrase and the separate key file", () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    const kem = path.join(root, "usb", "kem.pem")
    mkdirSync(path.dirname(kem))
    assert.strictEqual(enigma(["--config-dir", dir, "init", "--kem-key-file", kem]).code, 0)
    assert.isTrue(existsSync(kem))
    const g = ["--config-dir", dir]
    assert.strictEqual(enigma([...g, "list"]).code, 0)
    copyFileSync(kem, `${kem}.bak`)
    writeFileSync(kem, "")
    const r = enigma([...g, "list"])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, /kem\.pem/)
  })

  it("encrypt-cred tokens in the config are decrypted on load; status and config mask them", () => {
    const { dir, g } = initRepo()
    const token = enigma([...g, "encrypt-cred", "s3cr3t-value"]).stdout.trim()
    assert.match(token, /^enc:/)
    const file = path.join(dir, "enigma.toml")
    writeFileSync(file, readFileSync(file, "utf8").replace(/(\[\[providers\]\][^[]*)/, `$1access_key = "${token}"\n`))
    assert.strictEqual(enigma([...g, "status"]).code, 0)
    const cfg = enigma([...g, "config"])
    assert.notInclude(cfg.stdout, "s3cr3t")
    assert.strictEqual(enigma([...g, "status"], { ENIGMA_PASSPHRASE: "other" }).code, 12)
  })
})
