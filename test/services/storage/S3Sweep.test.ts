import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client, UploadPartCommand } from "@aws-sdk/client-s3"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { withPrefix } from "../../../src/services/storage/Prefixed.ts"
import { makeS3Provider } from "../../../src/services/storage/S3Provider.ts"
import { initRepo } from "../../support/cli.ts"
import { accessKey, gatewayClient, secretKey, startProxy, stopProxy } from "../../support/gateway.ts"
import { freePort } from "../../support/server.ts"

/**
 * The S3 provider's sweep of incomplete multipart uploads. s3rver has no ListMultipartUploads, so
 * the S3 server here is Enigma's own gateway (a real S3 implementation with it), in a repository
 * of its own.
 */
describe("S3Provider.sweepIncomplete (against enigma proxy as the S3 server)", () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let port: number
  let s3: S3Client

  beforeAll(async () => {
    const repo = initRepo()
    port = await freePort()
    proxy = await startProxy(repo.g, port)
    s3 = gatewayClient(port)
    await s3.send(new CreateBucketCommand({ Bucket: "sweep" }))
  }, 60_000)
  afterAll(async () => {
    s3?.destroy()
    if (proxy) await stopProxy(proxy.child)
  })

  const open = async (Key: string) => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "sweep", Key }))
    await s3.send(new UploadPartCommand({ Bucket: "sweep", Key, UploadId, PartNumber: 1, Body: Buffer.alloc(1000, 7) }))
    return UploadId!
  }
  const remaining = async () =>
    ((await s3.send(new ListMultipartUploadsCommand({ Bucket: "sweep" }))).Uploads ?? []).map((u) => u.Key).sort()

  it("aborts only the repository's own stale uploads under its prefix; --dry-run and younger ones are left", async () => {
    const ours = await open("team/db/chunks/ab/abcdef")
    await open("team/db/elsewhere/not-ours") // same repository prefix, outside its namespaces
    await open("other/chunks/ab/abcdef") // another repository in the bucket
    const provider = withPrefix(
      makeS3Provider({
        name: "gw",
        kind: "S3Compatible",
        bucket: "sweep",
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${port}`,
        pathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
        checksumsWhenRequired: true
      }),
      "team/db"
    )
    const sweep = (olderThanMs: number, dryRun: boolean) => Effect.runPromise(provider.sweepIncomplete!("chunks/", olderThanMs, dryRun))
    // Uploads started just now are younger than an hour: nothing to do.
    assert.deepStrictEqual(await sweep(3600_000, false), [])
    assert.deepStrictEqual(await sweep(0, true), [`chunks/ab/abcdef (upload ${ours})`])
    assert.strictEqual((await remaining()).length, 3)
    assert.deepStrictEqual(await sweep(0, false), [`chunks/ab/abcdef (upload ${ours})`])
    assert.deepStrictEqual(await remaining(), ["other/chunks/ab/abcdef", "team/db/elsewhere/not-ours"])
    assert.deepStrictEqual(await sweep(0, false), [])
  }, 60_000)
})
