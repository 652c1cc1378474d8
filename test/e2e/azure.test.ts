import { assert, describe, it } from "@effect/vitest"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { enigma, initRepo, json, makeTree, snapshotTree, tempDir } from "../support/cli.ts"
import { azuriteAccount, azuriteKey, startAzurite } from "../support/azurite.ts"

let server: Awaited<ReturnType<typeof startAzurite>>
beforeAll(async () => {
  server = await startAzurite()
})
afterAll(() => server?.stop())

describe("enigma on Azure Blob (real Azurite)", () => {
  it("backup, verify, restore and recover, with the connection string as an enc: token", async () => {
    const service = new BlobServiceClient(server.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey))
    await service.getContainerClient("enigma-e2e").create()
    const conn = `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount};AccountKey=${azuriteKey};BlobEndpoint=${server.endpoint};`
    const token = enigma(["encrypt-cred", conn]).stdout.trim()
    const config = `[[providers]]\nname = "azure"\ntype = "Azure"\nbucket = "enigma-e2e"\nconnection_string = "${token}"\n`
    const { root, g } = initRepo([], config)
    const src = path.join(root, "data")
    makeTree(src)
    const { backupId } = json(enigma([...g, "backup", src, "--json"]))
    const names: Array<string> = []
    for await (const b of service.getContainerClient("enigma-e2e").listBlobsFlat()) names.push(b.name)
    assert.isTrue(names.includes("keys/keystore"))
    assert.isTrue(names.some((n) => n.startsWith("chunks/")))
    assert.isTrue(names.some((n) => n.startsWith("log/")))
    assert.isFalse(names.some((n) => n.includes("note") || n.includes("data")))
    assert.strictEqual(enigma([...g, "verify", backupId, "--read-data"]).code, 0)
    const cfg = enigma([...g, "config"]).stdout
    assert.notInclude(cfg, azuriteKey)

    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    writeFileSync(path.join(fresh, "enigma.toml"), config)
    assert.strictEqual(enigma(["--config-dir", fresh, "recover"]).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma(["--config-dir", fresh, "restore", backupId, out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
  })

  it("a missing container and missing credentials get one clear line", () => {
    const dir = path.join(tempDir(), "repo")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), '[[providers]]\nname = "az"\ntype = "Azure"\nbucket = "c"\n')
    const noCreds = enigma(["--config-dir", dir, "init"], { AZURE_STORAGE_ACCOUNT: undefined, AZURE_STORAGE_CONNECTION_STRING: undefined })
    assert.strictEqual(noCreds.code, 1)
    assert.match(noCreds.stderr, /provider "az": Azure needs connection_string/)
    writeFileSync(path.join(dir, "enigma.toml"), `[[providers]]\nname = "az"\ntype = "Azure"\nbucket = "nope"\naccess_key = "${azuriteAccount}"\nsecret_key = "${azuriteKey}"\nendpoint_url = "${server.endpoint}"\n`)
    const noContainer = enigma(["--config-dir", dir, "init"])
    assert.strictEqual(noContainer.code, 1)
    assert.match(noContainer.stderr, /container nope does not exist/)
    assert.strictEqual(noContainer.stderr.trim().split("\n").length, 1)
  })
})
