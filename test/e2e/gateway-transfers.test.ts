import { assert, describe, it } from "@effect/vitest"
import type { Readable } from "node:stream"
import { afterAll } from "vitest"
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3"
import { initRepo, prng } from "../support/cli.ts"
import { freePort } from "../support/server.ts"
import { gatewayClient, type RunningProxy, startProxy, stopProxy } from "../support/gateway.ts"

/**
 * `[s3_proxy] max_transfers` and `idle_timeout_secs`: large transfers take turns, a stalled or
 * departed client gives its turn back, small requests never wait. The proxy is the real CLI.
 */

const MiB = 1024 * 1024
const bytes = prng(77)
/** Larger than the socket buffers between the proxy and the client: a GET nobody reads stalls. */
const big = bytes(40 * MiB)

/** Whether `p` settles within `ms` (it keeps running either way). */
const settlesWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

const proxies: Array<RunningProxy> = []
const clients: Array<S3Client> = []
afterAll(async () => {
  for (const s3 of clients) s3.destroy()
  for (const proxy of proxies) await stopProxy(proxy.child)
})

/** A client of its own: no kept-alive connection that the proxy may be closing as idle just then. */
const freshClient = (port: number) => {
  const s3 = gatewayClient(port)
  clients.push(s3)
  return s3
}

/** A proxy on a fresh repository with this `[s3_proxy]` body, a bucket, and the big object in it. */
const proxyWith = async (settings: string) => {
  const repo = initRepo([], `[s3_proxy]\n${settings}\n`)
  const port = await freePort()
  proxies.push(await startProxy(repo.g, port))
  const s3 = freshClient(port)
  await s3.send(new CreateBucketCommand({ Bucket: "bench" }))
  await s3.send(new PutObjectCommand({ Bucket: "bench", Key: "big", Body: big }))
  return Object.assign(s3, { port })
}

/** A GET of the big object whose body nobody reads: it holds its transfer slot. */
const stalledGet = async (s3: S3Client) => {
  const r = await s3.send(new GetObjectCommand({ Bucket: "bench", Key: "big" }))
  return r.Body as Readable
}

describe("enigma proxy: large transfers take turns (max_transfers)", () => {
  it("with one slot, a second large transfer waits; small PUTs never do; idle connections are closed and free the slot", async () => {
    const s3 = await proxyWith("max_transfers = 1\nidle_timeout_secs = 5")
    await stalledGet(s3)
    // A small body takes no slot.
    const small = s3.send(new PutObjectCommand({ Bucket: "bench", Key: "small", Body: bytes(4096) }))
    assert.isTrue(await settlesWithin(small, 3000), "a small PUT waited for the slot")
    await small
    const waiting = s3.send(new PutObjectCommand({ Bucket: "bench", Key: "second", Body: bytes(2 * MiB) }))
    assert.isFalse(await settlesWithin(waiting, 1500), "a second large transfer ran beside the first")
    // The stalled GET moves no byte for 5 s: the proxy closes it and its slot is free again. The
    // waiting PUT, idle as long, is closed too or, if the slot came first, goes through.
    await waiting.catch(() => undefined)
    // The connections kept alive since are idle too, and may be closing just now (the client makes
    // no retries): the next requests go on a connection of their own.
    const after = freshClient(s3.port)
    const third = after.send(new PutObjectCommand({ Bucket: "bench", Key: "third", Body: bytes(2 * MiB) }))
    assert.isTrue(await settlesWithin(third, 10_000), "the stalled GET kept its slot")
    await third
    const back = await after.send(new GetObjectCommand({ Bucket: "bench", Key: "third" }))
    assert.strictEqual((await back.Body!.transformToByteArray()).length, 2 * MiB)
  }, 60_000)

  it("a client that goes away mid-GET gives its slot back at once", async () => {
    const s3 = await proxyWith("max_transfers = 1")
    const get = await stalledGet(s3)
    const waiting = s3.send(new PutObjectCommand({ Bucket: "bench", Key: "after", Body: bytes(3 * MiB) }))
    assert.isFalse(await settlesWithin(waiting, 1500), "a second large transfer ran beside the first")
    get.destroy()
    assert.isTrue(await settlesWithin(waiting, 10_000), "the slot was not given back")
    await waiting
    // And the whole object still reads back, the slot taken and returned again.
    const whole = await s3.send(new GetObjectCommand({ Bucket: "bench", Key: "big" }))
    assert.isTrue(Buffer.from(await whole.Body!.transformToByteArray()).equals(big))
  }, 60_000)
})

describe("enigma proxy: a large transfer that waits too long for its turn is told to slow down", () => {
  it("with one slot taken, a large PUT and a GET get 503 SlowDown after transfer_wait_secs; a small PUT goes through; once the slot is free all work", async () => {
    const s3 = await proxyWith("max_transfers = 1\ntransfer_wait_secs = 1")
    const stalled = await stalledGet(s3)
    const slowDown = async (what: string, request: Promise<unknown>) => {
      const started = Date.now()
      const e = await request.then(() => undefined, (err) => err as { name?: string; $metadata?: { httpStatusCode?: number } })
      assert.strictEqual(e?.name, "SlowDown", `${what}: ${String(e)}`)
      assert.strictEqual(e?.$metadata?.httpStatusCode, 503)
      const waited = Date.now() - started
      assert.isAtLeast(waited, 900, `${what} waited its turn first`)
      assert.isBelow(waited, 10_000)
    }
    await slowDown("a large PUT", s3.send(new PutObjectCommand({ Bucket: "bench", Key: "second", Body: bytes(2 * MiB) })))
    await slowDown("a GET", s3.send(new GetObjectCommand({ Bucket: "bench", Key: "big" })))
    await s3.send(new PutObjectCommand({ Bucket: "bench", Key: "small", Body: bytes(4096) }))
    stalled.destroy()
    // The slot is free again: both go through, and nothing of the refused PUT was stored.
    const again = bytes(2 * MiB)
    await s3.send(new PutObjectCommand({ Bucket: "bench", Key: "third", Body: again }))
    const back = await s3.send(new GetObjectCommand({ Bucket: "bench", Key: "third" }))
    assert.isTrue(Buffer.from(await back.Body!.transformToByteArray()).equals(again))
    const refused = await s3.send(new GetObjectCommand({ Bucket: "bench", Key: "second" })).then(() => "found", (e) => (e as Error).name)
    assert.strictEqual(refused, "NoSuchKey")
  }, 60_000)
})

describe("enigma proxy: GET bodies free their chunks once written (ReleaseWritten)", () => {
  it("slow, fast, ranged and abandoned GETs at once each get exactly their bytes", async () => {
    const s3 = await proxyWith("max_transfers = 8")
    const sip = async (body: Readable) => {
      // Reads in pauses, so the proxy's writes wait for the socket again and again.
      const parts: Array<Buffer> = []
      let since = 0
      for await (const part of body) {
        parts.push(part as Buffer)
        since += (part as Buffer).length
        if (since >= 2 * MiB) {
          since = 0
          await new Promise((r) => setTimeout(r, 15))
        }
      }
      return Buffer.concat(parts)
    }
    const get = (range?: string) => s3.send(new GetObjectCommand({ Bucket: "bench", Key: "big", ...(range ? { Range: range } : {}) }))
    const abandoned = (await get()).Body as Readable
    await new Promise<void>((resolve) => abandoned.once("data", () => resolve()))
    const [slow, fast, ranged] = await Promise.all([
      get().then((r) => sip(r.Body as Readable)),
      get().then(async (r) => Buffer.from(await r.Body!.transformToByteArray())),
      get(`bytes=${5 * MiB + 3}-${30 * MiB}`).then((r) => sip(r.Body as Readable)),
      new Promise((r) => setTimeout(r, 50)).then(() => abandoned.destroy())
    ])
    assert.isTrue(slow.equals(big), "slow GET")
    assert.isTrue(fast.equals(big), "fast GET")
    assert.isTrue(ranged.equals(big.subarray(5 * MiB + 3, 30 * MiB + 1)), "ranged GET")
    // The proxy is still well: the object reads back whole once more.
    assert.isTrue(Buffer.from(await (await get()).Body!.transformToByteArray()).equals(big))
  }, 60_000)
})
