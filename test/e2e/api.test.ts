import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import * as Enigma from "../../src/runtime/index.ts"
import { enigma, makeTree, passphrase, snapshotTree, tempDir } from "../support/cli.ts"

describe("the scripting API (Effects exported from the package)", () => {
  it.effect("init, backup, list, verify, restore, forget, gc — and the CLI sees the same repository", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const repo = { configDir: path.join(root, "repo"), passphrase }
      const src = path.join(root, "data")
      makeTree(src)
      yield* Enigma.init(repo)
      const b = yield* Enigma.backup(repo, [src])
      assert.strictEqual(b.stats.files, 34)
      const list = yield* Enigma.listBackups(repo)
      assert.deepStrictEqual(list.map((x) => x.id), [b.backupId])
      const v = yield* Enigma.verify(repo, b.backupId, { readData: true })
      assert.deepStrictEqual(v.bad, [])
      const dest = path.join(root, "out")
      yield* Enigma.restore(repo, b.backupId, dest)
      assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
      assert.strictEqual(JSON.parse(enigma(["--config-dir", repo.configDir, "list", "--json"]).stdout)[0].id, b.backupId)
      const f = yield* Enigma.forget(repo, { ids: [b.backupId] })
      assert.strictEqual(f.removed.length, 1)
      const gc = yield* Enigma.gc(repo)
      assert.isAbove(gc.deletedChunks.length, 0)
      const wrong = yield* Effect.flip(Enigma.listBackups({ ...repo, passphrase: "nope" }))
      assert.strictEqual(wrong._tag, "WrongPassphrase")
    }))
})
