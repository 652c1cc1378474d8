import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs"
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
      // The labels the CLI refuses, refused here too, changing nothing.
      for (const add of [[""], ["a,,b"], ["x".repeat(256)], ["two\nlines"]]) {
        const refused = yield* Effect.flip(Enigma.tag(repo, { ids: ["latest"] }, { add }))
        assert.strictEqual(refused._tag, "UserError", JSON.stringify(add))
      }
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

  it("installed as a package (a real copy under node_modules, where Node strips no TypeScript), a script imports it by name and runs on its own effect", () => {
    const root = tempDir()
    const project = path.resolve(import.meta.dirname, "..", "..")
    const modules = path.join(root, "node_modules")
    const installed = path.join(modules, "enigma-backup")
    mkdirSync(installed, { recursive: true })
    cpSync(path.join(project, "package.json"), path.join(installed, "package.json"))
    cpSync(path.join(project, "dist"), path.join(installed, "dist"), { recursive: true })
    // Its dependencies as npm would lay them beside it.
    for (const name of readdirSync(path.join(project, "node_modules"))) {
      if (name !== ".bin" && !name.startsWith(".")) symlinkSync(path.join(project, "node_modules", name), path.join(modules, name))
    }
    const src = path.join(root, "data")
    makeTree(src)
    const script = path.join(root, "script.mjs")
    writeFileSync(script, [
      `import { Effect } from "effect"`,
      `import * as Enigma from "enigma-backup"`,
      `const repo = { configDir: ${JSON.stringify(path.join(root, "repo"))}, passphrase: process.env.ENIGMA_PASSPHRASE }`,
      `await Effect.runPromise(Enigma.init({ ...repo, argon: { memory: 19 * 1024, passes: 2, parallelism: 1 } }))`,
      `const b = await Effect.runPromise(Enigma.backup(repo, [${JSON.stringify(src)}]))`,
      `const list = await Effect.runPromise(Enigma.listBackups(repo))`,
      `const wrong = await Effect.runPromise(Effect.flip(Enigma.listBackups({ ...repo, passphrase: "nope" })))`,
      `console.log(JSON.stringify({ files: b.stats.files, ids: list.map((x) => x.id), same: list[0].id === b.backupId, wrong: wrong._tag }))`
    ].join("\n"))
    const r = spawnSync(process.execPath, [script], { cwd: root, encoding: "utf8", env: { ...process.env, ENIGMA_PASSPHRASE: passphrase } })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepInclude(JSON.parse(r.stdout), { files: 34, same: true, wrong: "WrongPassphrase" })
    assert.strictEqual(JSON.parse(enigma(["--config-dir", path.join(root, "repo"), "list", "--json"]).stdout).length, 1)
  })
})
