import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand } from "@aws-sdk/client-s3"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as path from "node:path"
import { enigma, enigmaAsync, initRepo, json, localProviderToml, prng, snapshotTree, twoCopiesToml } from "../support/cli.ts"
import { startS3rver } from "../support/s3rver.ts"

const chunkFiles = (dir: string) =>
  existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((n) => n.length > 60) : []

describe("copies = 2 over two disks and an S3 store (real s3rver)", () => {
  it("the S3 store dies mid-backup: the backup completes on the disks; restore and verify cope", async () => {
    const server = await startS3rver()
    try {
      const client = server.client()
      await client.send(new CreateBucketCommand({ Bucket: "enigma-copies" }))
      const { root, dir, g } = initRepo([], [twoCopiesToml, server.toml("s3", "enigma-copies"), localProviderToml("disk1"), localProviderToml("disk2")].join("\n"))
      const src = path.join(root, "data")
      mkdirSync(src)
      writeFileSync(path.join(src, "data.bin"), prng(5)(12 * 1024 * 1024))

      // Kill the S3 server once the first chunks have landed.
      const child = enigmaAsync([...g, "backup", src, "--json"])
      let out = ""
      let err = ""
      child.stdout.on("data", (d) => (out += d))
      child.stderr.on("data", (d) => (err += d))
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline && chunkFiles(path.join(dir, "disk1", "chunks")).length + chunkFiles(path.join(dir, "disk2", "chunks")).length < 2) {
        await new Promise((r) => setTimeout(r, 10))
      }
      server.stop()
      const code = await new Promise((r) => child.on("exit", (c) => r(c)))
      assert.strictEqual(code, 0, err)
      assert.match(err, /log segment not written to provider s3/)
      const { backupId } = JSON.parse(out)

      // Every chunk has two copies, on two distinct providers.
      const d1 = new Set(chunkFiles(path.join(dir, "disk1", "chunks")).map((n) => path.basename(n)))
      const d2 = new Set(chunkFiles(path.join(dir, "disk2", "chunks")).map((n) => path.basename(n)))
      const status = json(enigma([...g, "status", "--json"]))
      assert.strictEqual(status.providers.find((p: { name: string }) => p.name === "s3").reachable, false)
      assert.strictEqual(status.chunks, 12)
      for (const p of status.providers) assert.isAtMost(p.chunks, 12)
      assert.strictEqual(status.providers.reduce((a: number, p: { chunks: number }) => a + p.chunks, 0), 24)

      // Restore with the S3 store still down: copies on s3 are read from the other provider.
      const outDir = path.join(root, "out")
      const r = enigma([...g, "restore", backupId, outDir])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.deepStrictEqual(snapshotTree(path.join(outDir, "data")), snapshotTree(src))

      // Damage one disk copy: verify names it; restore still succeeds from the other copy.
      // A chunk that went to both disks after the S3 store died, read from disk1 first.
      const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
      const placements = db.prepare("SELECT id, placement FROM chunks").all() as Array<{ id: string; placement: string }>
      db.close()
      const victimId = placements.find((c) => c.placement === JSON.stringify(["disk1", "disk2"]))?.id
      assert.isDefined(victimId)
      assert.isTrue(d1.has(victimId!) && d2.has(victimId!))
      const victim = path.join(dir, "disk1", "chunks", victimId!.slice(0, 2), victimId!)
      const bytes = readFileSync(victim)
      bytes[40] ^= 1
      writeFileSync(victim, bytes)
      const v = enigma([...g, "verify", backupId, "--read-data", "--json"])
      assert.strictEqual(v.code, 1)
      const report = JSON.parse(v.stdout)
      assert.isTrue(report.bad.some((b: { chunk: string; provider: string }) => b.chunk === victimId && b.provider === "disk1"))
      // The S3 store, still down, is named once; its copies are not called bad (not known to be).
      assert.deepStrictEqual(report.unreachable.map((u: { provider: string }) => u.provider), ["s3"])
      assert.isFalse(report.bad.some((b: { provider: string }) => b.provider === "s3"))
      const again = path.join(root, "out2")
      const r2 = enigma([...g, "restore", backupId, again])
      assert.strictEqual(r2.code, 0, r2.stderr)
      assert.match(r2.stderr, new RegExp(`chunk ${victimId}.*disk1.*read it from disk2`))
      assert.deepStrictEqual(snapshotTree(path.join(again, "data")), snapshotTree(src))

      // With the S3 store down from the start, the lock still reaches a majority (two of three)
      // and a new backup goes to the disks.
      writeFileSync(path.join(src, "more.bin"), prng(6)(300_000))
      const next = enigma([...g, "backup", src])
      assert.strictEqual(next.code, 0, next.stderr)
      assert.match(next.stderr, /lock not written to provider s3/)
    } finally {
      server.stop()
    }
  })

  it("copies beyond the providers that take new chunks: each write warns how many copies there are, and goes on", () => {
    const { root, g } = initRepo([], `[enigma]\ncopies = 2\n${localProviderToml("one")}`)
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "f"), "x")
    const r = enigma([...g, "backup", src])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.include(r.stderr, "warning: copies = 2, but only 1 provider takes new chunks: each gets 1 copy; add a provider to enigma.toml (then run `enigma repair`) or lower copies\n")
    assert.notInclude(enigma([...g, "list"]).stderr, "warning", "readers do not say it")
  })
})
