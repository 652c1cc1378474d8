import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Backup } from "../../src/services/backup/Backup.ts"
import { Maintenance } from "../../src/services/maintenance/Maintenance.ts"
import { ProviderHealth } from "../../src/services/ProviderHealth.ts"
import { Restore } from "../../src/services/restore/Restore.ts"
import { StorageError, type StorageProvider } from "../../src/services/storage/StorageProvider.ts"
import { failingLocalProvider, newLocalProvider, placementsOf } from "../support/localProvider.ts"
import { prng, snapshotTree, tempDir } from "../support/cli.ts"
import { testRepository } from "../support/repo.ts"

describe("ProviderHealth", () => {
  it("moves ailing providers last, keeping each group's order, until a success or the hold time ends", () => {
    let now = 1_000
    const health = new ProviderHealth(30_000, () => now)
    const names = ["a", "b", "c", "d"]
    assert.deepStrictEqual(health.healthyFirst(names, (n) => n), names)
    health.failed("a")
    health.failed("c")
    assert.deepStrictEqual(health.healthyFirst(names, (n) => n), ["b", "d", "a", "c"])
    health.succeeded("c")
    assert.deepStrictEqual(health.healthyFirst(names, (n) => n), ["b", "c", "d", "a"])
    now += 29_999
    assert.isTrue(health.ailing("a"))
    now += 1
    assert.isFalse(health.ailing("a"))
    assert.deepStrictEqual(health.healthyFirst(names, (n) => n), names)
    // Every one ailing: all are still there, in their order.
    for (const n of names) health.failed(n)
    assert.deepStrictEqual(health.healthyFirst(names, (n) => n), names)
  })
})

const fixed = { chunk_strategy: { Fixed: { size: 64 * 1024 } } } as const
const sampleTree = (dir: string) => {
  const src = path.join(dir, "src")
  mkdirSync(src)
  writeFileSync(path.join(src, "a.bin"), prng(21)(3 * 1024 * 1024))
  return src
}

// A provider that is down: failingLocalProvider (the fault-injection decorator over Local, a fake).
describe("a provider that is down costs its retries once, not once per chunk", () => {
  it.live("backup: after one chunk's retries there, the others go straight to the provider that works", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const { provider: down, attempts: puts } = failingLocalProvider("down", path.join(dir, "down"), "put")
      const good = newLocalProvider("good", path.join(dir, "good"))
      // One upload at a time: the first chunk round-robin sends to `down` is the only one tried there.
      const layer = yield* testRepository(dir, [down, good], { ...fixed, upload_concurrency: 1, retry_attempts: 2, retry_base_delay: "1ms" })
      const b = yield* Backup.use((s) => s.run([sampleTree(dir)])).pipe(Effect.provide(layer))
      const placements = yield* placementsOf(b.backupId).pipe(Effect.provide(layer))
      assert.isAtLeast(placements.length, 48)
      for (const placement of placements) assert.deepStrictEqual(placement, ["good"])
      assert.deepStrictEqual([...puts.values()], [3], "one chunk tried there, 1 + retry_attempts times")
    }))

  it.live("restore: copies on a provider that fails are read from the other one after the first few", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = newLocalProvider("a", path.join(dir, "a"))
      const b = newLocalProvider("b", path.join(dir, "b"))
      const layer = yield* testRepository(dir, [a, b], { ...fixed, copies: 2, retry_attempts: 2, retry_base_delay: "1ms" })
      const src = sampleTree(dir)
      const backup = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))

      const { provider: aDown, attempts: gets } = failingLocalProvider("a", path.join(dir, "a"), "get")
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(backup.backupId, dest, {})).pipe(Effect.provide(layer.through([aDown, newLocalProvider("b", path.join(dir, "b"))])))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))
      // 48 chunks, each with a copy on `a` listed first; a file's chunks are read three at a
      // time, so at most the first three meet `a` down before it is known to be.
      assert.isAbove(gets.size, 0)
      assert.isAtMost(gets.size, 3)
      for (const n of gets.values()) assert.strictEqual(n, 3)
    }))
})

/** `inner` as a provider whose service is down (a fake): every call fails as a refused connection would. */
const unreachable = (inner: StorageProvider, calls: { n: number }): StorageProvider => {
  const refused = (operation: string, key: string) =>
    Effect.suspend(() => {
      calls.n++
      return Effect.fail(new StorageError({ provider: inner.name, operation, key, reason: "Transient", detail: "connect ECONNREFUSED (fake)" }))
    })
  return { ...inner, check: refused("check", ""), head: (key) => refused("head", key), get: (key) => refused("get", key) }
}

describe("verify with a provider down", () => {
  it.live("names the provider once, calls none of its copies bad, and counts the chunks it alone held as not checked", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = newLocalProvider("a", path.join(dir, "a"))
      const b = newLocalProvider("b", path.join(dir, "b"))
      const src = sampleTree(dir)
      // Two copies of the first backup's chunks; the second backup's new chunks on `a` alone.
      const two = yield* testRepository(dir, [a, b], { ...fixed, copies: 2, retry_attempts: 2, retry_base_delay: "1ms" })
      const first = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(two))
      writeFileSync(path.join(src, "b.bin"), prng(22)(5 * 64 * 1024))
      const onlyA = two.through([a])
      const second = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(onlyA))

      const calls = { n: 0 }
      const down = two.through([unreachable(newLocalProvider("a", path.join(dir, "a")), calls), newLocalProvider("b", path.join(dir, "b"))])
      const v1 = yield* Maintenance.use((m) => m.verify(first.backupId, false)).pipe(Effect.provide(down))
      assert.deepStrictEqual(v1.unreachable.map((u) => u.provider), ["a"])
      assert.include(v1.unreachable[0]!.problem, "ECONNREFUSED")
      assert.deepStrictEqual([v1.bad, v1.unchecked], [[], 0])
      // The provider's check, with its retries: none of its 48 copies was asked for.
      assert.strictEqual(calls.n, 3)
      const v2 = yield* Maintenance.use((m) => m.verify(second.backupId, true)).pipe(Effect.provide(down))
      assert.deepStrictEqual([v2.bad, v2.unchecked], [[], 5])
      const all = yield* Maintenance.use((m) => m.verifyRepository(false)).pipe(Effect.provide(down))
      assert.deepStrictEqual([all.bad, all.unchecked, all.unreachable.map((u) => u.provider)], [[], 5, ["a"]])
      // Every provider up: nothing unchecked.
      const up = yield* Maintenance.use((m) => m.verify(second.backupId, true)).pipe(Effect.provide(two))
      assert.deepStrictEqual([up.bad, up.unchecked, up.unreachable], [[], 0, []])
    }))
})
