import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { defaultRetry } from "../../../src/domain/Retry.ts"
import { Backup } from "../../../src/services/backup/Backup.ts"
import { guardedCall } from "../../../src/services/ChunkStore.ts"
import { Restore } from "../../../src/services/restore/Restore.ts"
import { withFaults } from "../../../src/services/storage/FaultInjection.ts"
import { StorageError, type StorageProvider } from "../../../src/services/storage/StorageProvider.ts"
import { prng, snapshotTree, tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { failingLocalProvider, newLocalProvider, placementsOf } from "../../support/localProvider.ts"

const sampleTree = (dir: string) => {
  const src = path.join(dir, "src")
  mkdirSync(src)
  writeFileSync(path.join(src, "a.bin"), prng(11)(300_000))
  return src
}
const fixed = { chunk_strategy: { Fixed: { size: 64 * 1024 } } } as const

describe("per-call timeout (virtual time)", () => {
  it.effect("a call that never answers becomes a Transient error naming provider and key, after request_timeout", () =>
    Effect.gen(function*() {
      const r = { ...defaultRetry, attempts: 0, requestTimeoutMs: 1_000 }
      const fiber = yield* Effect.forkChild(Effect.flip(guardedCall(r, "slow", "get", "chunks/ab/abcd", 0, Effect.never)))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const e = yield* Fiber.join(fiber)
      assert.strictEqual(e.reason, "Transient")
      assert.strictEqual(e.message, "provider slow: get chunks/ab/abcd: no answer within 1000 ms (request_timeout)")
    }))

  it.effect("the allowance grows by 1 s per MiB moved, and each retry gets a fresh one", () =>
    Effect.gen(function*() {
      let calls = 0
      const r = { ...defaultRetry, attempts: 1, baseDelayMs: 10, maxDelayMs: 10, requestTimeoutMs: 1_000 }
      const hung = Effect.suspend(() => {
        calls++
        return Effect.never
      })
      const fiber = yield* Effect.forkChild(Effect.flip(guardedCall(r, "slow", "put", "chunks/ab/abcd", 2 * 1024 * 1024, hung)))
      yield* TestClock.adjust("2999 millis")
      assert.strictEqual(calls, 1)
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("20 millis") // jittered backoff: the 10 ms cap × jitter (0.8–1.2)
      assert.strictEqual(calls, 2)
      yield* TestClock.adjust("3 seconds")
      const e = yield* Fiber.join(fiber)
      assert.include(e.message, "no answer within 3000 ms")
    }))

  it.effect("errors that are not transient are not retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const denied = Effect.suspend(() => {
        calls++
        return Effect.fail(new StorageError({ provider: "p", operation: "get", key: "k", reason: "Cold", detail: "cold" }))
      })
      const e = yield* Effect.flip(guardedCall(defaultRetry, "p", "get", "k", 0, denied))
      assert.strictEqual(e.reason, "Cold")
      assert.strictEqual(calls, 1)
    }))
})

// it.live: these run a whole backup; the hung provider and the backoff use the real clock with tiny delays.
describe("configured retries and timeouts in the chunk store (fault-injection decorator over Local)", () => {
  it.live("retry_attempts sets how often a transient failure is retried before the chunk goes elsewhere", () =>
    Effect.gen(function*() {
      for (const attempts of [0, 2]) {
        const dir = tempDir()
        const { provider: flaky, attempts: puts } = failingLocalProvider("flaky", path.join(dir, "flaky"), "put")
        const good = newLocalProvider("good", path.join(dir, "good"))
        const layer = yield* testRepository(dir, [flaky, good], { ...fixed, retry_attempts: attempts, retry_base_delay: "1ms" })
        const src = sampleTree(dir)
        const b = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
        assert.isAbove(puts.size, 0)
        // Round-robin sends about half the chunks to the flaky provider first: each is tried 1 + attempts times.
        for (const [key, n] of puts) assert.strictEqual(n, 1 + attempts, `${key} with retry_attempts = ${attempts}`)
        const placements = yield* placementsOf(b.backupId).pipe(Effect.provide(layer))
        assert.isAbove(placements.length, 4)
        for (const placement of placements) assert.deepStrictEqual(placement, ["good"])
      }
    }))

  it.live("an attempt given up on after its timeout, still writing in the background, writes the chunk intact", () =>
    Effect.gen(function*() {
      // A local write cannot be cancelled: the first attempt per chunk answers late, then still
      // writes and renames its file into place, over the retry's. Had the sealed pieces been
      // freed once the retry succeeded, that late write would store an empty chunk.
      const dir = tempDir()
      const inner = newLocalProvider("slow", path.join(dir, "slow"))
      const late: Array<Promise<void>> = []
      const seen = new Set<string>()
      const slow: StorageProvider = {
        ...inner,
        put: (key, body, options) =>
          Effect.suspend(() => {
            if (seen.has(key)) return inner.put(key, body, options)
            seen.add(key)
            const write = new Promise<void>((resolve) => setTimeout(resolve, 1500)).then(() => Effect.runPromise(inner.put(key, body, options)))
            late.push(write)
            return Effect.promise(() => write)
          })
      }
      // The timeout is far below the late answer, and far above what a retry's local write takes
      // on a loaded machine (at 20 ms, one such write under a parallel test run missed it).
      const layer = yield* testRepository(dir, [slow], { ...fixed, retry_attempts: 1, retry_base_delay: "1ms", request_timeout: "250ms" })
      const src = sampleTree(dir)
      const b = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
      assert.isAbove(late.length, 3)
      yield* Effect.promise(() => Promise.all(late))
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(b.backupId, dest, {})).pipe(Effect.provide(layer))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))
    }), { timeout: 30_000 })

  it.live("a provider that hangs times out (Transient, named), is retried, and the chunk is placed on the other provider", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const hung = withFaults(newLocalProvider("hung", path.join(dir, "hung")), { latencyMs: 600_000, operations: ["put"] })
      const good = newLocalProvider("good", path.join(dir, "good"))
      // Far above what the good provider's local write takes on a loaded machine (at 20 ms, one
      // missed it under a parallel test run); the hung one never answers.
      const settings = { ...fixed, retry_attempts: 1, retry_base_delay: "1ms", request_timeout: "250ms" }
      const layer = yield* testRepository(dir, [hung, good], settings)
      const src = sampleTree(dir)
      const b = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(b.backupId, dest, {})).pipe(Effect.provide(layer))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))

      // With copies = 2 the hung provider is needed: the error names it, the key and the timeout.
      const dir2 = tempDir()
      const hung2 = withFaults(newLocalProvider("hung", path.join(dir2, "hung")), { latencyMs: 600_000, operations: ["put"] })
      const layer2 = yield* testRepository(dir2, [hung2, newLocalProvider("good", path.join(dir2, "good"))], { ...settings, copies: 2 })
      const e = yield* Effect.flip(Backup.use((s) => s.run([sampleTree(dir2)])).pipe(Effect.provide(layer2)))
      assert.strictEqual(e._tag, "ChunkWriteError")
      assert.match(e.message, /only 1 of 2 copies written: .*provider hung: put chunks\/[0-9a-f]{2}\/[0-9a-f]{64}: no answer within \d+ ms \(request_timeout\)$/)
    }), { timeout: 30_000 })
})
