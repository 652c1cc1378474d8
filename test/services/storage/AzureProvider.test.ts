import { assert, describe, it } from "@effect/vitest"
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { azureFailureOf, makeAzureProvider } from "../../../src/services/storage/AzureProvider.ts"
import { azuriteAccount, azuriteKey, startAzurite } from "../../support/azurite.ts"
import { providerSuite } from "../../support/providerSuite.ts"

let server: Awaited<ReturnType<typeof startAzurite>>
beforeAll(async () => {
  server = await startAzurite()
})
afterAll(() => server?.stop())

const provider = (container: string) =>
  makeAzureProvider({ name: "azurite", container, account: azuriteAccount, accountKey: azuriteKey, endpoint: server.endpoint })

let containers = 0
/** A fresh container on the real Azurite for each provider the suite asks for. */
const freshProvider = () =>
  Effect.promise(async () => {
    const name = `enigma-test-${++containers}`
    const service = new BlobServiceClient(server.endpoint, new StorageSharedKeyCredential(azuriteAccount, azuriteKey))
    await service.getContainerClient(name).create()
    return provider(name)
  })

providerSuite("azure (azurite)", freshProvider)

describe("AzureProvider specifics", () => {
  it.effect("a missing container is a Fatal error that says so", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(provider("no-such-container").check)
      assert.strictEqual(e.reason, "Fatal")
      assert.include(e.message, "container no-such-container does not exist")
    }))

  it("classifies SDK errors", () => {
    assert.strictEqual(azureFailureOf({ statusCode: 404, details: { errorCode: "BlobNotFound" } }), "NotFound")
    assert.strictEqual(azureFailureOf({ statusCode: 404, details: { errorCode: "ContainerNotFound" } }), "Fatal")
    assert.strictEqual(azureFailureOf({ statusCode: 403, details: { errorCode: "AuthenticationFailed" } }), "AccessDenied")
    assert.strictEqual(azureFailureOf({ statusCode: 503, details: { errorCode: "ServerBusy" } }), "Transient")
    assert.strictEqual(azureFailureOf({ code: "REQUEST_SEND_ERROR", message: "connect ECONNREFUSED" }), "Transient")
  })
})
