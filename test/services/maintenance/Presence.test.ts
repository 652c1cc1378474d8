import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Backup } from "../../../src/services/backup/Backup.ts"
import { Maintenance } from "../../../src/services/maintenance/Maintenance.ts"
import { repairRepository } from "../../../src/services/maintenance/Repair.ts"
import { makeLocalProvider } from "../../../src/services/storage/LocalProvider.ts"
import { Keys as ObjectKeys, type StorageProvider } from "../../../src/services/storage/StorageProvider.ts"
import { prng, tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"

/**
 * A Local provider with a listing that gives sizes (a FAKE of what S3, Azure and GCS list), which
 * counts its HEADs: with `sizes` off, the listing gives keys alone, as one that lacked them would.
 */
const listingProvider = (name: string, dir: string, options: { sizes: boolean }) => {
  const inner = makeLocalProvider(name, path.join(dir, name))
  const counts = { head: 0, listSized: 0 }
  const provider: StorageProvider = {
    ...inner,
    head: (key) => Effect.suspend(() => {
      counts.head++
      return inner.head(key)
    }),
    listSized: (prefix) => {
      counts.listSized++
      return inner.list(prefix).pipe(Stream.mapEffect((key) =>
        options.sizes ? Effect.map(inner.head(key), (size) => ({ key, size })) : Effect.succeed({ key, size: undefined })
      ))
    }
  }
  return { provider, counts, inner }
}

describe("verify and repair check chunks' presence from a listing where a provider lists sizes", () => {
  it.effect("no HEAD per copy; a missing copy is found and written again; a listing without sizes falls back to HEADs", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = listingProvider("a", dir, { sizes: true })
      const b = listingProvider("b", dir, { sizes: false })
      const layer = yield* testRepository(dir, [a.provider, b.provider], { copies: 2, chunk_strategy: { Fixed: { size: 65_536 } } })
      const src = path.join(dir, "src")
      mkdirSync(src)
      writeFileSync(path.join(src, "data.bin"), prng(9)(400_000))
      yield* Backup.use((x) => x.run([src])).pipe(Effect.provide(layer))

      a.counts.head = 0
      b.counts.head = 0
      const clean = yield* Maintenance.use((m) => m.verifyRepository(false)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(clean.bad, [])
      // This harness writes no keyfile to the providers: verify says so.
      assert.deepStrictEqual(clean.providers.map((p) => p.problem), ["keyfile missing", "keyfile missing"])
      assert.strictEqual(clean.chunks, 7)
      assert.strictEqual(a.counts.head, 0, "a lists sizes: no HEAD")
      assert.strictEqual(b.counts.head, 7, "b's listing has no sizes: one HEAD per copy")

      const ids = yield* a.inner.list(ObjectKeys.chunkPrefix).pipe(Stream.runCollect)
      const gone = [...ids][0]!
      yield* a.inner.delete(gone)
      a.counts.head = 0
      const missing = yield* Maintenance.use((m) => m.verifyRepository(false)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(missing.bad.map((x) => [x.chunk, x.provider, x.problem]), [[ObjectKeys.chunkIdOf(gone), "a", "missing"]])
      assert.strictEqual(a.counts.head, 0)

      const repaired = yield* repairRepository({ readData: false, dryRun: false }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(repaired.copied, [{ chunk: ObjectKeys.chunkIdOf(gone), provider: "a", why: "missing" }])
      assert.strictEqual(a.counts.head, 0)
      assert.isDefined(yield* a.inner.head(gone))
    }))
})
