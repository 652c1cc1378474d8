import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Backup } from "../../../src/services/backup/Backup.ts"
import { Maintenance } from "../../../src/services/maintenance/Maintenance.ts"
import { Restore } from "../../../src/services/restore/Restore.ts"
import { withFaults } from "../../../src/services/storage/FaultInjection.ts"
import type { StorageProvider } from "../../../src/services/storage/StorageProvider.ts"
import { prng, snapshotTree, tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

const repo = (dir: string, providers: ReadonlyArray<StorageProvider>, copies = 1, retry: { retry_attempts?: number; retry_base_delay?: string } = {}) =>
  testRepository(dir, providers, { copies, chunk_strategy: { Fixed: { size: 64 * 1024 } }, ...retry })

const sampleTree = (dir: string) => {
  const src = path.join(dir, "src")
  mkdirSync(src)
  writeFileSync(path.join(src, "a.bin"), prng(1)(1_000_000))
  writeFileSync(path.join(src, "b.txt"), "hello\n".repeat(1000))
  return src
}

// it.live: retries back off on the real clock (it.effect would run them on a TestClock).
describe("provider faults (fault-injection decorator over Local: named a fake here)", () => {
  it.live("30% transient failures on every call: backup, verify and restore still succeed (retries)", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const flaky = withFaults(newLocalProvider("flaky", path.join(dir, "flaky")), { failRate: 0.3, seed: 7 })
      // Which call draws which fault depends on how concurrent calls interleave, which is not
      // fixed (hashing runs on the thread pool): with the default 5 retries a call fails for
      // good with probability 0.3⁶ ≈ 1/1,400, and this run makes ~50 calls. With 12, 0.3¹³.
      const layer = yield* repo(dir, [flaky], 1, { retry_attempts: 12, retry_base_delay: "1ms" })
      const src = sampleTree(dir)
      const b = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
      assert.isAbove(b.stats.newChunks, 10)
      const v = yield* Maintenance.use((m) => m.verify(b.backupId, true)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(v.bad, [])
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(b.backupId, dest, {})).pipe(Effect.provide(layer))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))
    }))

  it.live("a provider that refuses every write: chunks are placed on the other provider", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const broken = withFaults(newLocalProvider("broken", path.join(dir, "broken")), { failRate: 1, failReason: "Fatal", operations: ["put"] })
      const good = newLocalProvider("good", path.join(dir, "good"))
      const layer = yield* repo(dir, [broken, good])
      const src = sampleTree(dir)
      // The keystore and log segments go to every provider; the broken one only gets a warning.
      const b = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(b.backupId, dest, {})).pipe(Effect.provide(layer))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))
    }))

  it.live("copies that cannot be met fail the backup with a clear error", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const broken = withFaults(newLocalProvider("broken", path.join(dir, "broken")), { failRate: 1, failReason: "Fatal", operations: ["put"] })
      const good = newLocalProvider("good", path.join(dir, "good"))
      const layer = yield* repo(dir, [broken, good], 2)
      const src = sampleTree(dir)
      const e = yield* Effect.flip(Backup.use((s) => s.run([src])).pipe(Effect.provide(layer)))
      assert.strictEqual(e._tag, "ChunkWriteError")
      assert.include(e.message, "only 1 of 2 copies written")
      assert.include(e.message, "broken")
    }))

  it.live("truncated downloads are caught by authentication: another copy is used, or the chunk is named", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = newLocalProvider("a", path.join(dir, "a"))
      const b = newLocalProvider("b", path.join(dir, "b"))
      const layer = yield* repo(dir, [a, b], 2)
      const src = sampleTree(dir)
      const backup = yield* Backup.use((s) => s.run([src])).pipe(Effect.provide(layer))
      const cut = (p: StorageProvider) => withFaults(p, { truncateRate: 1, operations: ["get"] })

      // One copy broken in transit: restore reads the other and gets the exact bytes.
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(backup.backupId, dest, {})).pipe(Effect.provide(layer.through([cut(a), b])))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))

      // Both broken: verify names the chunks and the providers; restore leaves out (and names)
      // every file with bytes in them.
      const bothCut = layer.through([cut(a), cut(b)])
      const v = yield* Maintenance.use((m) => m.verify(backup.backupId, true)).pipe(Effect.provide(bothCut))
      assert.isAbove(v.bad.length, 0)
      assert.include(v.bad[0]!.problem, "authentication failed")
      const e = yield* Effect.flip(Restore.use((r) => r.run(backup.backupId, path.join(dir, "out2"), {})).pipe(Effect.provide(bothCut)))
      assert.strictEqual(e._tag, "RestoreIncomplete")
      if (e._tag === "RestoreIncomplete") {
        assert.isAbove(e.damaged.length, 0)
        assert.include(e.damaged[0]!.problem, "authentication failed")
        assert.match(e.damaged[0]!.chunk, /^[0-9a-f]{64}$/)
      }
    }))
})
