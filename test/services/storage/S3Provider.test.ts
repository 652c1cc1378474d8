import { assert, describe, it } from "@effect/vitest"
import { CreateBucketCommand } from "@aws-sdk/client-s3"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { failureOf, makeS3Provider } from "../../../src/services/storage/S3Provider.ts"
import { providerSuite } from "../../support/providerSuite.ts"
import { startS3rver } from "../../support/s3rver.ts"

let server: Awaited<ReturnType<typeof startS3rver>>
beforeAll(async () => {
  server = await startS3rver()
})
afterAll(() => server?.stop())

let buckets = 0
const provider = (bucket: string) =>
  makeS3Provider({
    name: "s3rver",
    kind: "S3Compatible",
    bucket,
    region: "us-east-1",
    endpoint: server.endpoint,
    pathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    checksumsWhenRequired: true
  })

/** A fresh bucket on the real s3rver for each provider the suite asks for. */
const freshProvider = () =>
  Effect.promise(async () => {
    const bucket = `enigma-test-${++buckets}`
    const client = server.client()
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
    return provider(bucket)
  })

// s3rver writes objects in place, so concurrent PUTs of one key can interleave there (real S3
// cannot); Enigma never issues those anyway (ChunkStore waits for an in-flight upload of an id).
providerSuite("s3 (s3rver)", freshProvider, { atomicConcurrentPuts: false })

describe("S3Provider specifics", () => {
  it.effect("a missing bucket is a Fatal error that says so", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(provider("no-such-bucket").check)
      assert.strictEqual(e.reason, "Fatal")
      assert.include(e.message, "bucket no-such-bucket does not exist")
      const put = yield* Effect.flip(provider("no-such-bucket").put("x", new Uint8Array([1])))
      assert.strictEqual(put.reason, "Fatal")
    }))

  it.effect("an unreachable endpoint is Transient (retryable), and its message says to check the endpoint", () =>
    Effect.gen(function*() {
      const p = makeS3Provider({
        name: "down",
        kind: "S3Compatible",
        bucket: "bucket",
        region: "us-east-1",
        endpoint: "http://127.0.0.1:9",
        pathStyle: true,
        credentials: { accessKeyId: "a", secretAccessKey: "b" },
        checksumsWhenRequired: true
      })
      const e = yield* Effect.flip(p.get("x"))
      assert.strictEqual(e.reason, "Transient")
      assert.isTrue(e.isRetryable)
      assert.match(e.message, /^provider down: get x: .*ECONNREFUSED.* \(the service cannot be reached: check the endpoint, --endpoint-url or the provider's endpoint in enigma\.toml/)
    }))

  it("classifies SDK errors", () => {
    assert.strictEqual(failureOf({ name: "NoSuchKey", $metadata: { httpStatusCode: 404 } }), "NotFound")
    assert.strictEqual(failureOf({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } }), "AccessDenied")
    assert.strictEqual(failureOf({ name: "SlowDown", $metadata: { httpStatusCode: 503 } }), "Transient")
    assert.strictEqual(failureOf({ name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } }), "Fatal")
    assert.strictEqual(failureOf(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })), "Transient")
    assert.strictEqual(failureOf({ name: "InvalidArgument", $metadata: { httpStatusCode: 400 } }), "Fatal")
  })
})
