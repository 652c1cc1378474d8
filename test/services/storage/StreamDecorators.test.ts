import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { type Limiter, withBandwidthLimit } from "../../../src/services/storage/Bandwidth.ts"
import { withFaults } from "../../../src/services/storage/FaultInjection.ts"
import { withPrefix } from "../../../src/services/storage/Prefixed.ts"
import { tempDir } from "../../support/cli.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

const local = () => {
  const root = path.join(tempDir(), "store")
  return { root, p: newLocalProvider("local", root) }
}
const body = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff)

describe("decorators pass the streamed and ranged calls through", () => {
  it.effect("withPrefix: putStream, getRange and getStream use the prefixed key", () =>
    Effect.gen(function*() {
      const { root, p } = local()
      const q = withPrefix(p, "team/db")
      yield* q.putStream("a/b", Stream.make(body(10), body(5)))
      assert.isTrue(existsSync(path.join(root, "team", "db", "a", "b")))
      assert.strictEqual(readFileSync(path.join(root, "team", "db", "a", "b")).length, 15)
      assert.deepStrictEqual([...(yield* q.getRange("a/b", 8, 4))], [8, 9, 0, 1])
      assert.deepStrictEqual([...Buffer.concat(yield* Stream.runCollect(q.getStream("a/b", { offset: 12 })))], [2, 3, 4])
      assert.strictEqual((yield* Effect.flip(p.getRange("a/b", 0, 1))).reason, "NotFound")
    }))

  it.effect("withBandwidthLimit: streamed and ranged bytes are counted as they flow, in their direction", () =>
    Effect.gen(function*() {
      const { p } = local()
      const up: Array<number> = []
      const down: Array<number> = []
      const counting = (into: Array<number>): Limiter => ({ take: (bytes) => Effect.sync(() => void into.push(bytes)) })
      const q = withBandwidthLimit(p, { upload: counting(up), download: counting(down) })
      yield* q.putStream("k", Stream.make(body(100), body(200), body(3)))
      assert.deepStrictEqual(up, [100, 200, 3])
      assert.strictEqual((yield* q.getRange("k", 10, 50)).length, 50)
      assert.deepStrictEqual(down, [50])
      down.length = 0
      const got = Buffer.concat(yield* Stream.runCollect(q.getStream("k")))
      assert.strictEqual(got.length, 303)
      assert.strictEqual(down.reduce((a, b) => a + b, 0), 303)
    }))

  // it.live: the injected latency sleeps on the real clock.
  it.live("withFaults: putStream fails like put, getRange and getStream like get (at the start); onCall sees them", () =>
    Effect.gen(function*() {
      const { p } = local()
      yield* p.put("k", body(10))
      const calls: Array<string> = []
      const q = withFaults(p, { failRate: 1, failReason: "Transient", onCall: (op, key) => calls.push(`${op} ${key}`) })
      assert.strictEqual((yield* Effect.flip(q.putStream("n", Stream.make(body(3))))).reason, "Transient")
      assert.strictEqual(yield* p.head("n"), undefined)
      assert.strictEqual((yield* Effect.flip(q.getRange("k", 0, 5))).reason, "Transient")
      const e = yield* Effect.flip(Stream.runCollect(q.getStream("k")))
      assert.strictEqual(e.reason, "Transient")
      assert.include(e.message, "injected fault")
      assert.deepStrictEqual(calls, ["put n", "get k", "get k"])
      const cut = withFaults(p, { truncateRate: 1, operations: ["get"] })
      assert.strictEqual((yield* cut.getRange("k", 0, 10)).length, 5)
      const ok = withFaults(p, { failRate: 0, latencyMs: 1 })
      assert.strictEqual(Buffer.concat(yield* Stream.runCollect(ok.getStream("k", { offset: 2, length: 3 }))).length, 3)
    }))
})
