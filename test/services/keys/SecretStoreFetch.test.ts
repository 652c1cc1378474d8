import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { fetchRetrying } from "../../../src/services/keys/SecretStoreFetch.ts"

/** A server that answers each request with the next status of its script (then 200), counting them. */
let server: Server
let url: string
let script: Array<number> = []
let served = 0

beforeAll(async () => {
  server = createServer((req, res) => {
    served++
    const status = script.shift() ?? 200
    res.writeHead(status, status === 429 || status === 503 ? { "retry-after": "0" } : {})
    res.end(`${req.method} ${status}`)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const run = async (method: string, statuses: Array<number>) => {
  script = [...statuses]
  served = 0
  const res = await fetchRetrying(url, { method })
  return { status: res.status, body: await res.text(), served }
}

describe("the secret stores' fetch", () => {
  it("asks again after a transient failure (throttled, 5xx), at most four times in all", async () => {
    assert.deepStrictEqual(await run("GET", [503, 502]), { status: 200, body: "GET 200", served: 3 })
    assert.deepStrictEqual(await run("PUT", [429]), { status: 200, body: "PUT 200", served: 2 })
    assert.deepStrictEqual(await run("DELETE", [500, 504, 503, 503, 503]), { status: 503, body: "DELETE 503", served: 4 })
  })

  it("does not ask again after an answer that is not transient", async () => {
    assert.deepStrictEqual(await run("GET", [404]), { status: 404, body: "GET 404", served: 1 })
    assert.deepStrictEqual(await run("GET", [403, 503]), { status: 403, body: "GET 403", served: 1 })
  })

  it("repeats a POST only when it was throttled: one that failed otherwise may have been carried out", async () => {
    assert.deepStrictEqual(await run("POST", [503]), { status: 503, body: "POST 503", served: 1 })
    assert.deepStrictEqual(await run("POST", [429]), { status: 200, body: "POST 200", served: 2 })
  })

  it("gives up on a server that cannot be reached with fetch's error, its cause attached", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const e = await fetchRetrying(`http://127.0.0.1:${port}/`, { method: "GET" }).then(() => undefined, (e: unknown) => e as Error & { cause?: { code?: string } })
    assert.strictEqual(e?.cause?.code, "ECONNREFUSED")
  })
})
