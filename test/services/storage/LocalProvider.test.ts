import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { makeLocalProvider } from "../../../src/services/storage/LocalProvider.ts"
import { tempDir } from "../../support/cli.ts"
import { providerSuite } from "../../support/providerSuite.ts"

providerSuite("local", () => Effect.sync(() => makeLocalProvider("local", path.join(tempDir(), "store"))))

describe("LocalProvider specifics", () => {
  it.effect("leaves no temp files, and list skips a temp file left by a crash", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = makeLocalProvider("local", root)
      yield* p.put("chunks/ab/abc", new Uint8Array([1]))
      assert.deepStrictEqual(readdirSync(path.join(root, "chunks", "ab")), ["abc"])
      writeFileSync(path.join(root, "chunks", "ab", "abd.tmp-123456"), "partial")
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))], ["chunks/ab/abc"])
    }))

  it.effect("a file where a directory is needed is a Fatal error naming the provider and key", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = makeLocalProvider("disk1", root)
      yield* p.put("x", new Uint8Array([1]))
      const e = yield* Effect.flip(p.put("x/y", new Uint8Array([1])))
      assert.strictEqual(e.reason, "Fatal")
      assert.include(e.message, "disk1")
      assert.include(e.message, "x/y")
      assert.isFalse(existsSync(path.join(root, "x", "y")))
    }))
})
