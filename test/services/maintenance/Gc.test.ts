import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Backup } from "../../../src/services/backup/Backup.ts"
import { Maintenance } from "../../../src/services/maintenance/Maintenance.ts"
import { EventLog } from "../../../src/services/manifest/EventLog.ts"
import { Restore } from "../../../src/services/restore/Restore.ts"
import { StorageError, type StorageProvider } from "../../../src/services/storage/StorageProvider.ts"
import { prng, snapshotTree, tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

/**
 * A Local provider (named a fake for this purpose) whose deletes, while `failing` is set, do
 * delete and then report failure — like a gc process killed right after a delete went through.
 */
const withFailingDeletes = (inner: StorageProvider, state: { failing: boolean }): StorageProvider => ({
  ...inner,
  delete: (key) =>
    state.failing
      ? inner.delete(key).pipe(Effect.andThen(Effect.fail(
        new StorageError({ provider: inner.name, operation: "delete", key, reason: "Fatal", detail: "injected failure" })
      )))
      : inner.delete(key)
})

describe("gc", () => {
  it.effect("a gc that dies between forgetting and deleting chunks never leaves a recorded chunk without bytes", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const state = { failing: false }
      const provider = withFailingDeletes(newLocalProvider("local", path.join(dir, "local")), state)
      const layer = yield* testRepository(dir, [provider])
      const src = path.join(dir, "src")
      mkdirSync(src)
      writeFileSync(path.join(src, "data.bin"), prng(3)(500_000))

      const first = yield* Backup.use((b) => b.run([src])).pipe(Effect.provide(layer))
      yield* Maintenance.use((m) => m.forget({ ids: [first.backupId] }, false)).pipe(Effect.provide(layer))
      state.failing = true
      const gc = yield* Effect.flip(Maintenance.use((m) => m.gc(false)).pipe(Effect.provide(layer)))
      assert.strictEqual(gc._tag, "StorageError")
      state.failing = false

      // The chunk was forgotten before its object went: the next backup stores it anew instead of
      // deduplicating against a chunk whose bytes are gone.
      const second = yield* Backup.use((b) => b.run([src])).pipe(Effect.provide(layer))
      assert.strictEqual(second.stats.newChunks, 1)
      const dest = path.join(dir, "out")
      yield* Restore.use((r) => r.run(second.backupId, dest, {})).pipe(Effect.provide(layer))
      assert.deepStrictEqual(snapshotTree(path.join(dest, "src")), snapshotTree(src))
      // And the log agrees with itself after all this.
      yield* EventLog.use((l) => l.rebuildProjections).pipe(Effect.provide(layer))
      const report = yield* Maintenance.use((m) => m.verify(second.backupId, true)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(report.bad, [])
    }))
})
