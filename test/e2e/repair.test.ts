import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as path from "node:path"
import { enigma, initRepo, json, localProviderToml, makeTree, prng, snapshotTree } from "../support/cli.ts"

/** 1 MiB fixed chunks, so a few MiB of data make a few chunks to damage. */
const config = (copies: number, ...providers: ReadonlyArray<string>) =>
  [`[enigma]`, `copies = ${copies}`, "[enigma.chunk_strategy.Fixed]", "size = 1048576", "", ...providers].join("\n")

const placements = (dir: string) => {
  const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
  const rows = db.prepare("SELECT id, placement FROM chunks").all() as Array<{ id: string; placement: string }>
  db.close()
  return new Map(rows.map((r) => [r.id, JSON.parse(r.placement) as Array<string>]))
}

const chunkPath = (dir: string, disk: string, id: string) => path.join(dir, disk, "chunks", id.slice(0, 2), id)

/** A fresh config dir naming only `disk` (by absolute path): what a user with nothing else left would write. */
const recoverFrom = (root: string, dir: string, disk: string, label: string) => {
  const fresh = path.join(root, label)
  mkdirSync(fresh)
  writeFileSync(path.join(fresh, "enigma.toml"), config(1, localProviderToml(disk, path.join(dir, disk))))
  const rec = enigma(["--config-dir", fresh, "recover"])
  assert.strictEqual(rec.code, 0, rec.stderr)
  return ["--config-dir", fresh]
}

const source = (root: string) => {
  const src = path.join(root, "data")
  makeTree(src)
  writeFileSync(path.join(src, "big.bin"), prng(7)(3 * 1024 * 1024 + 1234))
  return src
}

describe("enigma repair", () => {
  it("writes a missing and a damaged copy again from the intact one, and an emptied provider back whole (keyfile, log, chunks)", () => {
    const { root, dir, g } = initRepo([], config(2, localProviderToml("disk1"), localProviderToml("disk2")))
    const src = source(root)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const ids = [...placements(dir).keys()]
    assert.isAtLeast(ids.length, 4)
    const [missing, damaged] = ids as [string, string]
    rmSync(chunkPath(dir, "disk2", missing))
    const flipped = readFileSync(chunkPath(dir, "disk1", damaged))
    flipped[60] ^= 1
    writeFileSync(chunkPath(dir, "disk1", damaged), flipped)
    assert.strictEqual(enigma([...g, "verify", "--read-data"]).code, 1)

    // A dry run reports and changes nothing (and takes no lock).
    const dry = json(enigma([...g, "repair", "--dry-run", "--json"]))
    assert.deepStrictEqual(dry.copied, [{ chunk: missing, provider: "disk2", why: "missing" }])
    assert.isFalse(existsSync(chunkPath(dir, "disk2", missing)))

    // Presence and size: the missing copy. The damaged one has the right size, so only --read-data finds it.
    const first = enigma([...g, "repair"])
    assert.strictEqual(first.code, 0, first.stderr)
    assert.match(first.stdout, /1 cop(y|ies) written/)
    assert.isTrue(readFileSync(chunkPath(dir, "disk2", missing)).equals(readFileSync(chunkPath(dir, "disk1", missing))))
    const read = json(enigma([...g, "repair", "--read-data", "--json"]))
    assert.strictEqual(read.copied.length, 1)
    assert.deepInclude(read.copied[0], { chunk: damaged, provider: "disk1" })
    assert.match(read.copied[0].why, /authentication failed/)
    assert.isTrue(readFileSync(chunkPath(dir, "disk1", damaged)).equals(readFileSync(chunkPath(dir, "disk2", damaged))))
    const v = enigma([...g, "verify", "--read-data"])
    assert.strictEqual(v.code, 0, v.stdout + v.stderr)
    assert.deepStrictEqual(json(enigma([...g, "repair", "--json"])).copied, [], "nothing left to do")

    // disk2 replaced by an empty disk: its keyfile, log and every chunk come back, and it alone recovers the repository.
    rmSync(path.join(dir, "disk2"), { recursive: true })
    mkdirSync(path.join(dir, "disk2"))
    const emptied = enigma([...g, "verify", "--json"])
    assert.strictEqual(emptied.code, 1)
    const lacking = JSON.parse(emptied.stdout).providers.map((p: { provider: string; problem: string }) => `${p.provider}: ${p.problem}`)
    assert.strictEqual(lacking.length, 2)
    assert.include(lacking[0], "disk2: keyfile missing")
    assert.match(lacking[1], /^disk2: log segments reach event 0 of the \d+ sealed there$/)
    const whole = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual(whole.keyfile, ["disk2"])
    assert.deepStrictEqual(whole.log, [{ provider: "disk2", from: 1 }])
    assert.strictEqual(whole.copied.length, ids.length)
    const g2 = recoverFrom(root, dir, "disk2", "only-disk2")
    const out = path.join(root, "out")
    const r = enigma([...g2, "restore", backupId, out])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))

    // A damaged log segment: --read-data seals the log again from there, and recover from disk1 alone works.
    const logDir = path.join(dir, "disk1", "log")
    const segment = path.join(logDir, readdirSync(logDir).sort()[0]!)
    const bytes = readFileSync(segment)
    bytes[bytes.length - 5] ^= 1
    writeFileSync(segment, bytes)
    assert.deepStrictEqual(json(enigma([...g, "repair", "--json"])).log, [], "without --read-data a segment is only listed")
    assert.strictEqual(enigma([...g, "verify"]).code, 0)
    const unread = enigma([...g, "verify", "--read-data"])
    assert.strictEqual(unread.code, 1)
    assert.match(unread.stdout, /^provider disk1: log segments reach event 0 of the \d+ sealed there \(or one does not open\); `enigma repair` writes it again$/m)
    const logged = json(enigma([...g, "repair", "--read-data", "--json"]))
    assert.deepStrictEqual(logged.log, [{ provider: "disk1", from: 1 }])
    assert.strictEqual(enigma([...g, "verify", "--read-data"]).code, 0)
    const g1 = recoverFrom(root, dir, "disk1", "only-disk1")
    assert.deepStrictEqual(json(enigma([...g1, "list", "--json"])).map((b: { id: string }) => b.id), [backupId])
  })

  it("after copies is raised, adds the copies; a draining provider's copies move to the others", () => {
    const { root, dir, g } = initRepo([], config(1, localProviderToml("disk1")))
    const src = source(root)
    json(enigma([...g, "backup", src, "--json"]))
    const ids = [...placements(dir).keys()]

    // A new disk: its directory is made by its user (a Local provider's never is, but by init).
    mkdirSync(path.join(dir, "disk2"))
    writeFileSync(path.join(dir, "enigma.toml"), config(2, localProviderToml("disk1"), localProviderToml("disk2")))
    const short = json(enigma([...g, "status", "--json"]))
    assert.deepInclude(short, { copies: 2, fewerCopies: ids.length })
    assert.match(enigma([...g, "status"]).stdout, new RegExp(`fewer copies: ${ids.length} chunk\\(s\\) have fewer than 2 .*enigma repair`))
    const dry = json(enigma([...g, "repair", "--dry-run", "--json"]))
    assert.strictEqual(dry.copied.length, ids.length)
    assert.isFalse(existsSync(path.join(dir, "disk2", "chunks")))
    const added = json(enigma([...g, "repair", "--json"]))
    assert.strictEqual(added.copied.length, ids.length)
    assert.isTrue(added.copied.every((c: { provider: string; why: string }) => c.provider === "disk2" && c.why === "new copy"))
    assert.deepStrictEqual(added.keyfile, ["disk2"])
    assert.strictEqual(json(enigma([...g, "status", "--json"])).fewerCopies, 0)
    for (const [id, placement] of placements(dir)) {
      assert.deepStrictEqual(placement, ["disk1", "disk2"])
      assert.isTrue(readFileSync(chunkPath(dir, "disk2", id)).equals(readFileSync(chunkPath(dir, "disk1", id))))
    }

    // disk1 retired: drained onto a new disk3 (copies stay 2), then taken out of the config.
    mkdirSync(path.join(dir, "disk3"))
    writeFileSync(path.join(dir, "enigma.toml"), config(2, localProviderToml("disk1") + "drain = true\n", localProviderToml("disk2"), localProviderToml("disk3")))
    assert.match(enigma([...g, "status"]).stdout, /disk1 \(Local\): .*draining/)
    assert.strictEqual(json(enigma([...g, "status", "--json"])).fewerCopies, ids.length, "copies on a draining provider do not count")
    const drained = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual(
      [drained.copied.length, drained.dropped.length, drained.failed],
      [ids.length, ids.length, []]
    )
    assert.isTrue(drained.copied.every((c: { provider: string }) => c.provider === "disk3"))
    assert.isTrue(drained.dropped.every((d: { provider: string; why: string }) => d.provider === "disk1" && d.why === "drained"))
    for (const placement of placements(dir).values()) assert.deepStrictEqual(placement, ["disk2", "disk3"])
    // A new backup puts nothing on the draining disk.
    writeFileSync(path.join(src, "new.bin"), prng(8)(1_500_000))
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    for (const placement of placements(dir).values()) assert.notInclude(placement, "disk1")

    writeFileSync(path.join(dir, "enigma.toml"), config(2, localProviderToml("disk2"), localProviderToml("disk3")))
    const after = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual([after.copied, after.dropped], [[], []])
    // The placement is an event: a manifest rebuilt from the providers' log has it too.
    rmSync(path.join(dir, "enigma.db"))
    assert.strictEqual(enigma([...g, "recover"]).code, 0)
    for (const placement of placements(dir).values()) assert.sameMembers(placement, ["disk2", "disk3"])
    rmSync(path.join(dir, "disk1"), { recursive: true })
    const out = path.join(root, "out")
    const r = enigma([...g, "restore", "latest", out])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))

    // Every provider draining is a config error.
    writeFileSync(path.join(dir, "enigma.toml"), config(1, localProviderToml("disk2") + "drain = true\n"))
    const all = enigma([...g, "repair"])
    assert.strictEqual(all.code, 1)
    assert.match(all.stderr, /every provider has drain = true; at least one must take new chunks/)
  })

  it("a chunk with no intact copy is lost: named with the backup it belongs to, exit 1, the rest repaired", () => {
    const { root, dir, g } = initRepo([], config(2, localProviderToml("disk1"), localProviderToml("disk2")))
    const src = source(root)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const [gone, fixable] = [...placements(dir).keys()] as [string, string]
    rmSync(chunkPath(dir, "disk1", gone))
    rmSync(chunkPath(dir, "disk2", gone))
    rmSync(chunkPath(dir, "disk1", fixable))
    const r = enigma([...g, "repair"])
    assert.strictEqual(r.code, 1)
    assert.match(r.stdout, new RegExp(`lost chunk ${gone}: no intact copy \\(disk\\d: missing; disk\\d: missing\\); it holds data of backup\\(s\\) ${backupId}`))
    assert.match(r.stderr, /^enigma: 1 chunk\(s\) have no intact copy left/m)
    assert.isTrue(existsSync(chunkPath(dir, "disk1", fixable)), "the chunk that had a copy is repaired anyway")
    const dryLost = enigma([...g, "repair", "--dry-run", "--json"])
    assert.strictEqual(dryLost.code, 1)
    const again = JSON.parse(dryLost.stdout)
    assert.deepStrictEqual(again.lost.map((l: { chunk: string; backups: Array<string> }) => [l.chunk, l.backups]), [[gone, [backupId]]])

    const usage = enigma([...g, "repair", "--read-data-subset", "1/2"])
    assert.strictEqual(usage.code, 1)
  })
})
