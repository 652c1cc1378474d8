import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { tempDir } from "../../support/cli.ts"
import { providerSuite } from "../../support/providerSuite.ts"
import { newLocalProvider } from "../../support/localProvider.ts"
import { makeLocalProvider } from "../../../src/services/storage/LocalProvider.ts"
import { OffThreadWrites } from "../../../src/services/storage/LocalIoThreads.ts"

providerSuite("local", () => Effect.sync(() => newLocalProvider("local", path.join(tempDir(), "store"))))

describe("LocalProvider specifics", () => {
  it.effect("leaves no temp files, and list skips a temp file left by a crash", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = newLocalProvider("local", root)
      yield* p.put("chunks/ab/abc", new Uint8Array([1]))
      assert.deepStrictEqual(readdirSync(path.join(root, "chunks", "ab")), ["abc"])
      writeFileSync(path.join(root, "chunks", "ab", "abd.tmp-123456"), "partial")
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))], ["chunks/ab/abc"])
    }))

  it.effect("a file where a directory is needed is a Fatal error naming the provider and key", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = newLocalProvider("disk1", root)
      yield* p.put("x", new Uint8Array([1]))
      const e = yield* Effect.flip(p.put("x/y", new Uint8Array([1])))
      assert.strictEqual(e.reason, "Fatal")
      assert.include(e.message, "disk1")
      assert.include(e.message, "x/y")
      assert.isFalse(existsSync(path.join(root, "x", "y")))
    }))

  it.effect("never makes its own directory but in `create`: a missing one (a disk not mounted) fails writes and checks, naming it", () =>
    Effect.gen(function*() {
      const mount = tempDir() // the mount point, empty while the disk is away
      const root = path.join(mount, "enigma")
      const p = makeLocalProvider("usb", root)
      const missing = (e: { reason: string; message: string }) => {
        assert.strictEqual(e.reason, "Fatal")
        assert.include(e.message, `directory ${root} does not exist: is its disk mounted?`)
      }
      missing(yield* Effect.flip(p.check))
      // On this thread, on the write workers (a backup's chunks), and streamed.
      missing(yield* Effect.flip(p.put("chunks/ab/abc", new Uint8Array([1]))))
      missing(yield* Effect.flip(p.put("chunks/ab/abd", new Uint8Array(256 * 1024)).pipe(Effect.provideService(OffThreadWrites, 2))))
      missing(yield* Effect.flip(p.putStream("log/0001", Stream.make(new Uint8Array([1])))))
      assert.deepStrictEqual(readdirSync(mount), [], "nothing made on the disk below")

      yield* p.create!
      yield* p.check
      yield* p.put("chunks/ab/abc", new Uint8Array([1]))
      yield* p.put("chunks/cd/abd", new Uint8Array(256 * 1024)).pipe(Effect.provideService(OffThreadWrites, 2))
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))].sort(), ["chunks/ab/abc", "chunks/cd/abd"])
    }))
})
