import { assert, describe, it } from "@effect/vitest"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { spawn } from "node:child_process"
import { type CliResult, enigmaAsync, enigmaBin, json, makeTree, passphrase, prng, snapshotTree, tempDir, testArgon } from "../support/cli.ts"
import { startFakeColdS3 } from "../support/fakeColdS3.ts"

// The provider is a FAKE S3 endpoint (test/support/fakeColdS3.ts): s3rver has no storage classes
// and no RestoreObject. Everything else here is the real CLI. The fake answers from this
// process, so the CLI runs without blocking it (the sync helper would deadlock).
const enigma = (args: ReadonlyArray<string>) =>
  new Promise<CliResult>((resolve) => {
    const child = enigmaAsync(args)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })

const initRepo = async (toml?: string) => {
  const root = tempDir()
  const dir = path.join(root, "repo")
  if (toml !== undefined) {
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), toml)
  }
  const r = await enigma(["--config-dir", dir, "init", ...testArgon])
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
  return { root, dir, g: ["--config-dir", dir] as const }
}
let fake: Awaited<ReturnType<typeof startFakeColdS3>>
beforeAll(async () => {
  fake = await startFakeColdS3()
})
afterAll(() => fake?.stop())

describe("cold storage: storage_class = GLACIER and `enigma thaw` (fake cold S3)", () => {
  it("chunks go to GLACIER, the rest STANDARD; restore says to thaw; thaw requests, reports progress, then restore works", async () => {
    const { root, g } = await initRepo(fake.toml("glacier", "GLACIER"))
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(await enigma([...g, "backup", src, "--json"]))

    const chunkWrites = fake.writes.filter((w) => w.key.startsWith("chunks/"))
    assert.isAbove(chunkWrites.length, 0)
    for (const w of chunkWrites) assert.strictEqual(w.storageClass, "GLACIER", w.key)
    const others = fake.writes.filter((w) => !w.key.startsWith("chunks/"))
    for (const prefix of ["keys/", "log/", "locks/"]) assert.isTrue(others.some((w) => w.key.startsWith(prefix)), prefix)
    for (const w of others) assert.strictEqual(w.storageClass, "STANDARD", w.key)

    // Reading a cold chunk: one clear line naming the provider, the class and the fix.
    const out = path.join(root, "out")
    const cold = await enigma([...g, "restore", backupId, out])
    assert.strictEqual(cold.code, 1)
    assert.match(cold.stderr, /on provider glacier: object is in cold storage \(storage class GLACIER\)/)
    assert.include(cold.stderr, `run \`enigma thaw ${backupId}\``)
    assert.strictEqual(cold.stderr.trim().split("\n").length, 1, cold.stderr)

    const chunks = chunkWrites.length
    const first = json(await enigma([...g, "thaw", backupId.slice(0, 8), "--days", "3", "--tier", "Bulk", "--json"]))
    assert.deepInclude(first, { backupId, chunks, requested: chunks, inProgress: 0, ready: 0, notCold: 0, failed: [], readable: false })
    assert.strictEqual(fake.restoreRequests.length, chunks)
    for (const r of fake.restoreRequests) assert.deepInclude(r, { days: 3, tier: "Bulk" })

    // Again: nothing new is requested, the count moves to "already thawing".
    const again = await enigma([...g, "thaw", backupId])
    assert.strictEqual(again.code, 0)
    assert.include(again.stdout, `${chunks} chunks: 0 thaw requested now (tier Standard, for 7 days), ${chunks} already thawing`)
    assert.include(again.stdout, `run \`enigma thaw ${backupId}\` again to see progress`)
    assert.strictEqual(fake.restoreRequests.length, chunks)

    fake.completeRestores()
    const done = json(await enigma([...g, "thaw", backupId, "--json"]))
    assert.deepInclude(done, { requested: 0, inProgress: 0, ready: chunks, readable: true })
    assert.strictEqual((await enigma([...g, "restore", backupId, out])).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
  })

  it("copies = 2 over cold S3 and a local disk: restore reads the local copies with one warning, thaw requests nothing", async () => {
    const fake2 = await startFakeColdS3("cold2")
    try {
      const toml = `[enigma]\ncopies = 2\n\n[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n\n[[providers]]\nname = "disk"\ntype = "Local"\nbucket = "disk"\n\n${fake2.toml("deep", "DEEP_ARCHIVE")}`
      const { root, g } = await initRepo(toml)
      const src = path.join(root, "data")
      makeTree(src)
      const { backupId } = json(await enigma([...g, "backup", src, "--json"]))
      const chunks = fake2.writes.filter((w) => w.key.startsWith("chunks/"))
      assert.isAbove(chunks.length, 1)
      for (const w of chunks) assert.strictEqual(w.storageClass, "DEEP_ARCHIVE")
      // Chunks are placed disk first or deep first in turn: every read of a cold copy falls back, one warning in all.
      const out = path.join(root, "out")
      const r = await enigma([...g, "restore", backupId, out])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
      const warnings = r.stderr.trim().split("\n").filter((l) => l.startsWith("warning: "))
      assert.strictEqual(warnings.length, 1, r.stderr)
      assert.include(warnings[0], "provider deep holds chunks in cold storage; reading their other copies instead")
      const t = json(await enigma([...g, "thaw", backupId, "--json"]))
      assert.deepInclude(t, { notCold: t.chunks, requested: 0 })
      assert.strictEqual(fake2.restoreRequests.length, 0)
    } finally {
      await fake2.stop()
    }
  })

  it("a backup on a provider without cold storage: every chunk is 'not cold', nothing is requested", async () => {
    const { root, g } = await initRepo()
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "f.txt"), "hello\n")
    const { backupId } = json(await enigma([...g, "backup", src, "--json"]))
    const r = json(await enigma([...g, "thaw", backupId, "--json"]))
    assert.isAbove(r.chunks, 0)
    assert.deepInclude(r, { notCold: r.chunks, requested: 0, readable: true })
    assert.include((await enigma([...g, "thaw", backupId])).stdout, "every chunk is readable")
  })

  it("bad thaw arguments and bad retry settings get one clear line", async () => {
    const { g } = await initRepo()
    const days = await enigma([...g, "thaw", "abc", "--days", "0"])
    assert.strictEqual(days.code, 1)
    assert.match(days.stderr, /--days 0: give a whole number of days from 1/)
    assert.strictEqual((await enigma([...g, "thaw", "abc", "--tier", "Fast"])).code, 1)
    const missing = await enigma([...g, "thaw", "ffffffff"])
    assert.strictEqual(missing.code, 1)
    assert.strictEqual(missing.stderr.trim().split("\n").length, 1)

    const dir = path.join(tempDir(), "repo")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), '[enigma]\nrequest_timeout = "60"\nretry_attempts = -2\n')
    const bad = await enigma(["--config-dir", dir, "init"])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /enigma\.request_timeout: expected a duration such as "60s"/)
    assert.match(bad.stderr, /enigma\.retry_attempts/)
    assert.strictEqual(bad.stderr.trim().split("\n").length, 1)
  })
})

describe("cold storage for streams: `enigma thaw NAME` (fake cold S3)", () => {
  /** The CLI with `input` on stdin, without blocking this process (the fake answers from it). */
  const enigmaWithInput = (args: ReadonlyArray<string>, input: Uint8Array) =>
    new Promise<CliResult & { readonly bytes: Buffer }>((resolve) => {
      const child = spawn(process.execPath, [enigmaBin, ...args], {
        env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
        stdio: ["pipe", "pipe", "pipe"]
      })
      const out: Array<Buffer> = []
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => out.push(d))
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      child.on("close", (code) => resolve({ code: code ?? 1, stdout: "", stderr, bytes: Buffer.concat(out) }))
      child.stdin.on("error", () => {}) // a CLI that fails early closes stdin unread
      child.stdin.end(input)
    })

  it("put --storage-class GLACIER: only the stream's chunks go cold; get says to thaw; thaw NAME; then get works", async () => {
    const cold = await startFakeColdS3("cold-streams")
    try {
      // The provider's own class is STANDARD: the class comes from the put.
      const { g } = await initRepo(cold.toml("s3") + "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
      const data = prng(3)(600_000)
      const bad = await enigmaWithInput([...g, "put", "dump", "--storage-class", "FROZEN"], data)
      assert.strictEqual(bad.code, 1)
      assert.match(bad.stderr, /^enigma: --storage-class FROZEN is not one of STANDARD, STANDARD_IA/)
      const put = await enigmaWithInput([...g, "put", "dump", "--storage-class", "GLACIER"], data)
      assert.strictEqual(put.code, 0, put.stderr)
      const chunks = cold.writes.filter((w) => w.key.startsWith("chunks/"))
      assert.isAbove(chunks.length, 3)
      for (const w of chunks) assert.strictEqual(w.storageClass, "GLACIER", w.key)
      for (const w of cold.writes.filter((w) => !w.key.startsWith("chunks/"))) assert.strictEqual(w.storageClass, "STANDARD", w.key)
      assert.strictEqual(json(await enigma([...g, "list", "--json"]))[0].storageClass, "GLACIER")

      const early = await enigmaWithInput([...g, "get", "dump"], new Uint8Array(0))
      assert.strictEqual(early.code, 1)
      assert.match(early.stderr, /object is in cold storage \(storage class GLACIER\).*run `enigma thaw dump`/)
      assert.strictEqual(early.bytes.length, 0)

      const r = json(await enigma([...g, "thaw", "dump", "--json"]))
      assert.deepInclude(r, { stream: "dump", chunks: chunks.length, requested: chunks.length, readable: false })
      cold.completeRestores()
      const done = await enigma([...g, "thaw", "dump"])
      assert.include(done.stdout, "every chunk is readable: `enigma get dump` can run now")
      const got = await enigmaWithInput([...g, "get", "dump"], new Uint8Array(0))
      assert.strictEqual(got.code, 0, got.stderr)
      assert.isTrue(got.bytes.equals(data))
    } finally {
      await cold.stop()
    }
  })
})
