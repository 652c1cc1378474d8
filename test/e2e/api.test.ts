import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as path from "node:path"
import * as Enigma from "../../src/runtime/index.ts"
import { enigma, enigmaPipe, makeTree, passphrase, prng, snapshotTree, tempDir } from "../support/cli.ts"

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
      const seen: Array<[number, number, number]> = []
      const v = yield* Enigma.verify(repo, b.backupId, { readData: true, onProgress: (checked, total, bad) => void seen.push([checked, total, bad]) })
      assert.deepStrictEqual(v.bad, [])
      assert.deepStrictEqual(seen.at(-1), [v.chunks, v.chunks, 0])
      const dest = path.join(root, "out")
      yield* Enigma.restore(repo, b.backupId, dest)
      assert.deepStrictEqual(snapshotTree(path.join(dest, "data")), snapshotTree(src))
      assert.strictEqual(JSON.parse(enigma(["--config-dir", repo.configDir, "list", "--json"]).stdout)[0].id, b.backupId)
      const tagged = yield* Enigma.tag(repo, { ids: ["latest"] }, { add: ["pinned"] })
      assert.deepStrictEqual(tagged.backups.map((x) => [x.id, x.after]), [[b.backupId, ["pinned"]]])
      assert.deepStrictEqual((yield* Enigma.listBackups(repo)).map((x) => x.tags), [["pinned"]])
      const repaired = yield* Enigma.repair(repo, { readData: true })
      assert.deepInclude(repaired, { chunks: v.chunks, copied: [], lost: [], failed: [] })
      const f = yield* Enigma.forget(repo, { ids: [b.backupId] })
      assert.strictEqual(f.removed.length, 1)
      const gc = yield* Enigma.gc(repo)
      assert.isAbove(gc.deletedChunks.length, 0)
      const wrong = yield* Effect.flip(Enigma.listBackups({ ...repo, passphrase: "nope" }))
      assert.strictEqual(wrong._tag, "WrongPassphrase")
    }))

  it.effect("put and get a stream; the CLI reads what the script stored", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const repo = { configDir: path.join(root, "repo"), passphrase }
      // A cost under OWASP's minimum is refused before anything is written; the minimum is taken.
      const cheap = { memory: 19 * 1024, passes: 2, parallelism: 1 }
      const refused = yield* Effect.flip(Enigma.init({ ...repo, argon: { ...cheap, passes: 1 } }))
      assert.match(refused.message, /under the floor of 36/)
      yield* Enigma.init({ ...repo, argon: cheap })
      const blocks = [prng(1)(700_000), prng(2)(1), prng(3)(300_000)]
      const r = yield* Enigma.put(repo, "from-script", Stream.fromIterable(blocks), { tags: [["via", "api"]] })
      assert.strictEqual(r.bytes, 1_000_001)
      const got: Array<Uint8Array> = []
      yield* Enigma.get(repo, "from-script", (b) => Effect.sync(() => void got.push(b)))
      assert.isTrue(Buffer.concat(got).equals(Buffer.concat(blocks)))
      assert.isTrue(enigmaPipe(["--config-dir", repo.configDir, "get", "from-script"]).stdout.equals(Buffer.concat(blocks)))
      assert.deepStrictEqual((yield* Enigma.listStreams(repo)).map((s) => [s.name, s.tags]), [["from-script", [["via", "api"]]]])
      const missing = yield* Effect.flip(Enigma.get(repo, "nope", () => Effect.void))
      assert.strictEqual(missing._tag, "NotFound")
    }))
})
