import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand, DeleteObjectCommand } from "@aws-sdk/client-s3"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { enigma, enigmaAsync, initRepo, json, localProviderToml, makeTree, prng, snapshotTree, tempDir, twoCopiesToml } from "../support/cli.ts"
import { azuriteAccount, azuriteKey, startAzurite } from "../support/azurite.ts"
import { startGcsFake } from "../support/gcsFake.ts"
import { startS3rver } from "../support/s3rver.ts"

let s3: Awaited<ReturnType<typeof startS3rver>>
let azure: Awaited<ReturnType<typeof startAzurite>>
const stops: Array<() => void> = []
beforeAll(async () => {
  ;[s3, azure] = await Promise.all([startS3rver(), startAzurite()])
  stops.push(s3.stop, azure.stop)
})
afterAll(() => stops.forEach((stop) => stop()))

const chunkKey = (id: string) => `chunks/${id.slice(0, 2)}/${id}`
const flipByte = (file: string) => {
  const bytes = readFileSync(file)
  bytes[40] ^= 1
  writeFileSync(file, bytes)
}
const placements = (dir: string) => {
  const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
  const rows = db.prepare("SELECT id, placement FROM chunks").all() as Array<{ id: string; placement: string }>
  db.close()
  return rows.map((r) => ({ id: r.id, placement: JSON.parse(r.placement) as Array<string> }))
}

describe("one repository over Local + S3 (real s3rver) + Azure (real Azurite) + GCS (FAKE GCS server), copies = 2", () => {
  it("the GCS server dies mid-backup: the backup completes; restore copes with it down; verify names damaged copies", async () => {
    // The fake GCS server exits when the 4th chunk upload reaches it: a known point mid-backup.
    const gcs = await startGcsFake({ pageSize: 5, crashAfterChunks: 3 })
    stops.push(gcs.stop)
    gcs.createBucket("enigma-four")
    await s3.client().send(new CreateBucketCommand({ Bucket: "enigma-four" }))
    await new BlobServiceClient(azure.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey))
      .getContainerClient("enigma-four").create()

    const { root, dir, g } = initRepo([], [
      twoCopiesToml,
      localProviderToml("disk"),
      s3.toml("s3", "enigma-four"),
      "[[providers]]",
      'name = "azure"',
      'type = "Azure"',
      'bucket = "enigma-four"',
      `access_key = "${azuriteAccount}"`,
      `secret_key = "${azuriteKey}"`,
      `endpoint_url = "${azure.endpoint}"`,
      "",
      gcs.toml("gcs", "enigma-four")
    ].join("\n"))
    const src = path.join(root, "data")
    makeTree(src)
    writeFileSync(path.join(src, "random.bin"), prng(11)(9 * 1024 * 1024))

    const child = enigmaAsync([...g, "backup", src, "--json"])
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    const code = await new Promise((r) => child.on("exit", (c) => r(c)))
    assert.strictEqual(code, 0, err)
    assert.match(err, /log segment not written to provider gcs/)
    const { backupId } = JSON.parse(out)

    // Every chunk has two copies on two distinct providers; GCS holds the three it took before dying.
    const chunks = placements(dir)
    assert.isAtLeast(chunks.length, 12)
    for (const c of chunks) {
      assert.strictEqual(c.placement.length, 2, c.id)
      assert.notStrictEqual(c.placement[0], c.placement[1], c.id)
    }
    const onGcs = chunks.filter((c) => c.placement.includes("gcs"))
    assert.strictEqual(onGcs.length, 3)
    for (const c of onGcs) assert.isTrue(existsSync(gcs.objectFile("enigma-four", chunkKey(c.id))), c.id)
    for (const name of ["disk", "s3", "azure"]) assert.isAbove(chunks.filter((c) => c.placement.includes(name)).length, 3, name)
    const status = json(enigma([...g, "status", "--json"]))
    assert.strictEqual(status.providers.find((p: { name: string }) => p.name === "gcs").reachable, false)

    // Restore with the GCS server still down: its copies are read from the other provider.
    const outDir = path.join(root, "out")
    const r = enigma([...g, "restore", backupId, outDir])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(outDir, "data")), snapshotTree(src))

    // repair leaves the copies of a provider that does not answer alone (not known to be bad), and says so.
    const down = enigma([...g, "repair", "--dry-run", "--json"])
    assert.strictEqual(down.code, 1)
    const downReport = JSON.parse(down.stdout)
    assert.deepStrictEqual(downReport.copied, [])
    assert.deepStrictEqual([...new Set(downReport.failed.map((f: { provider: string }) => f.provider))], ["gcs"])
    assert.match(down.stderr, /copies could not be checked or written .*run `enigma repair` again once the providers answer/)

    // GCS back (same storage and address). Damage one copy on the disk and another chunk's copy on GCS.
    const back = await startGcsFake({ pageSize: 5, dir: gcs.dir, port: gcs.port })
    stops.push(back.stop)
    const victimGcs = onGcs[0]!.id
    const victimDisk = chunks.find((c) => c.placement.includes("disk") && c.id !== victimGcs)!.id
    flipByte(path.join(dir, "disk", chunkKey(victimDisk)))
    flipByte(gcs.objectFile("enigma-four", chunkKey(victimGcs)))
    const v = enigma([...g, "verify", backupId, "--read-data", "--json"])
    assert.strictEqual(v.code, 1, v.stderr)
    const bad = (JSON.parse(v.stdout).bad as Array<{ chunk: string; provider: string }>)
      .map((b) => `${b.chunk} ${b.provider}`).sort()
    assert.deepStrictEqual(bad, [`${victimDisk} disk`, `${victimGcs} gcs`].sort())
    const human = enigma([...g, "verify", backupId, "--read-data"])
    assert.strictEqual(human.code, 1)
    assert.include(human.stdout, `bad chunk ${victimGcs} on gcs`)
    assert.include(human.stdout, `bad chunk ${victimDisk} on disk`)

    // Every provider up, two copies damaged: restore still reads each chunk from a good copy.
    const again = path.join(root, "out2")
    const r2 = enigma([...g, "restore", backupId, again])
    assert.strictEqual(r2.code, 0, r2.stderr)
    assert.deepStrictEqual(snapshotTree(path.join(again, "data")), snapshotTree(src))

    // repair --read-data writes both damaged copies again (GCS's through its API) from the intact ones.
    const repaired = json(enigma([...g, "repair", "--read-data", "--json"]))
    assert.deepStrictEqual(repaired.copied.map((c: { chunk: string; provider: string }) => `${c.chunk} ${c.provider}`).sort(), bad)
    assert.deepStrictEqual([repaired.lost, repaired.failed], [[], []])
    const clean = enigma([...g, "verify", backupId, "--read-data"])
    assert.strictEqual(clean.code, 0, clean.stdout)

    // A copy deleted on each cloud provider: verify and repair find them from the providers'
    // listings (S3 ListObjectsV2, Azure's blob list, GCS's object list: sizes included).
    const now = placements(dir)
    // Three different chunks (verify names a chunk's first bad copy).
    const taken = new Set<string>()
    const on = (name: string) => {
      const id = now.find((c) => c.placement.includes(name) && !taken.has(c.id))!.id
      taken.add(id)
      return id
    }
    const gone = { s3: on("s3"), azure: on("azure"), gcs: on("gcs") }
    await s3.client().send(new DeleteObjectCommand({ Bucket: "enigma-four", Key: chunkKey(gone.s3) }))
    await new BlobServiceClient(azure.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey))
      .getContainerClient("enigma-four").deleteBlob(chunkKey(gone.azure))
    rmSync(back.objectFile("enigma-four", chunkKey(gone.gcs)))
    const expected = Object.entries(gone).map(([provider, chunk]) => `${chunk} ${provider} missing`).sort()
    const found = enigma([...g, "verify", "--json"])
    assert.strictEqual(found.code, 1)
    assert.deepStrictEqual(JSON.parse(found.stdout).bad.map((b: { chunk: string; provider: string; problem: string }) => `${b.chunk} ${b.provider} ${b.problem}`).sort(), expected)
    const put = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual(put.copied.map((c: { chunk: string; provider: string; why: string }) => `${c.chunk} ${c.provider} ${c.why}`).sort(), expected)
    const whole = enigma([...g, "verify", "--read-data"])
    assert.strictEqual(whole.code, 0, whole.stdout)
  })

  it("Gcs config mistakes get one clear line", async () => {
    const gcs = await startGcsFake()
    stops.push(gcs.stop)
    const dir = path.join(tempDir(), "repo")
    mkdirSync(dir)
    const tryInit = (toml: string) => {
      writeFileSync(path.join(dir, "enigma.toml"), toml)
      const r = enigma(["--config-dir", dir, "init"])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
      return r.stderr
    }
    const provider = `[[providers]]\nname = "g"\ntype = "Gcs"\nbucket = "b"\nendpoint_url = "${gcs.endpoint}"\n`
    assert.match(tryInit(`${provider}storage_class = "NEARLINE"\n`), /provider "g": storage_class applies to S3 providers only; for GCS set the bucket's default storage class/)
    assert.match(tryInit(`${provider}access_key = "a"\nsecret_key = "b"\n`), /provider "g": Gcs uses Application Default Credentials/)
    assert.match(tryInit(provider.replace('bucket = "b"', 'bucket = "b/prefix"')), /bucket must be a GCS bucket name/)
    assert.match(tryInit(provider.replace(gcs.endpoint, "127.0.0.1:1")), /endpoint_url must be an http\(s\) URL/)
    assert.match(tryInit(provider.replace('bucket = "b"', 'bucket = "nope"')), /provider g: .*bucket nope does not exist; create it, or fix its name \(`bucket` in enigma.toml, or the --repo URL\)/)
  })
})
