import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Backup } from "../../../src/services/backup/Backup.ts"
import { Maintenance } from "../../../src/services/maintenance/Maintenance.ts"
import { listingPays } from "../../../src/services/maintenance/ProviderMetadata.ts"
import { repairRepository } from "../../../src/services/maintenance/Repair.ts"
import { Keys as ObjectKeys, type StorageProvider } from "../../../src/services/storage/StorageProvider.ts"
import { prng, tempDir } from "../../support/cli.ts"
import { testRepository } from "../../support/repo.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

/**
 * A Local provider with a listing that gives sizes (a FAKE of what S3, Azure and GCS list), which
 * counts its HEADs: with `sizes` off, the listing gives keys alone, as one that lacked them would.
 */
const listingProvider = (name: string, dir: string, options: { sizes: boolean }) => {
  const inner = newLocalProvider(name, path.join(dir, name))
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

  it("listingPays: a page of 1,000 keys is worth 16 HEADs", () => {
    for (const [held, toCheck, want] of [[0, 15, false], [0, 16, true], [1000, 16, true], [1001, 16, false], [1001, 32, true], [100_000, 1599, false], [100_000, 1600, true]] as const) {
      assert.strictEqual(listingPays(held, toCheck), want, `${held} held, ${toCheck} to check`)
    }
  })

  it.effect("verify ID lists a provider when its backup has enough chunks to pay for it, else asks by HEAD", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = listingProvider("a", dir, { sizes: true })
      const layer = yield* testRepository(dir, [a.provider], { chunk_strategy: { Fixed: { size: 65_536 } } })
      const big = path.join(dir, "big")
      const small = path.join(dir, "small")
      mkdirSync(big)
      mkdirSync(small)
      writeFileSync(path.join(big, "data.bin"), prng(1)(20 * 65_536))
      writeFileSync(path.join(small, "data.bin"), prng(2)(5 * 65_536))
      const first = yield* Backup.use((x) => x.run([big])).pipe(Effect.provide(layer))
      const second = yield* Backup.use((x) => x.run([small])).pipe(Effect.provide(layer))
      const verify = (id: string) => Maintenance.use((m) => m.verify(id, false)).pipe(Effect.provide(layer))

      a.counts.head = 0
      a.counts.listSized = 0
      const many = yield* verify(first.backupId)
      assert.strictEqual(many.chunks, 20)
      assert.deepStrictEqual(many.bad, [])
      assert.deepStrictEqual(a.counts, { head: 0, listSized: 1 }, "20 chunks: one listing, no HEAD")

      const few = yield* verify(second.backupId)
      assert.strictEqual(few.chunks, 5)
      assert.deepStrictEqual(a.counts, { head: 5, listSized: 1 }, "5 chunks: a HEAD each, no listing")

      // A chunk of one backup or the other, deleted: whichever verify holds it names it.
      const gone = [...(yield* a.inner.list(ObjectKeys.chunkPrefix).pipe(Stream.runCollect))].sort()[0]!
      yield* a.inner.delete(gone)
      const missing = yield* verify(first.backupId)
      const other = yield* verify(second.backupId)
      const bad = [...missing.bad, ...other.bad]
      assert.deepStrictEqual(bad.map((x) => [x.chunk, x.problem]), [[ObjectKeys.chunkIdOf(gone), "missing"]], "the deleted chunk is missing, found by listing or HEAD")
    }))
})
