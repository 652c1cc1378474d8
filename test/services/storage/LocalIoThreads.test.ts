import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { getOffThread, OffThreadReads, OffThreadWrites, putOffThread } from "../../../src/services/storage/LocalIoThreads.ts"
import { tempDir } from "../../support/cli.ts"
import { cutIntoParts } from "../../support/parts.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

const MiB = 1024 * 1024


const putFile = (dir: string, name: string, parts: ReadonlyArray<Uint8Array>, direct: boolean) =>
  putOffThread({ tmp: path.join(dir, `${name}.tmp-x`), target: path.join(dir, name), dir, root: path.dirname(dir), parts, direct, stagings: 16 })

describe("LocalIoThreads: writes on a worker", () => {
  it("writes every length exactly, direct or buffered, and leaves no temp file", async () => {
    const dir = path.join(tempDir(), "objects")
    // Around the 4 KiB alignment and the 1 MiB staging buffers; the last is more than all 16 of
    // them hold at once, so the writer waits for buffers to come back.
    for (const size of [0, 1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 17 * MiB + 3]) {
      for (const direct of [true, false]) {
        const bytes = randomBytes(size)
        const name = `f${size}-${direct}`
        await putFile(dir, name, cutIntoParts(bytes), direct)
        assert.strictEqual(statSync(path.join(dir, name)).size, size)
        assert.isTrue(readFileSync(path.join(dir, name)).equals(bytes), `${size} bytes, direct: ${direct}`)
      }
    }
    assert.deepStrictEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), [])
  })

  it("many writes at once each get their own bytes", async () => {
    const dir = tempDir()
    const bodies = Array.from({ length: 12 }, (_, i) => randomBytes(i * 700_000 + 5))
    await Promise.all(bodies.map((b, i) => putFile(dir, `c${i}`, cutIntoParts(b), true)))
    bodies.forEach((b, i) => assert.isTrue(readFileSync(path.join(dir, `c${i}`)).equals(b), `body ${i}`))
  })

  it("a failed write names the system error, removes its temp file, and later writes still work", async () => {
    const root = tempDir()
    writeFileSync(path.join(root, "file"), "not a directory")
    const e = await putFile(path.join(root, "file", "sub"), "x", [randomBytes(MiB)], true).then(() => undefined, (err) => err as { code?: string })
    assert.strictEqual(e?.code, "ENOTDIR")
    // The target exists already as a directory: the rename fails after the data was written.
    mkdirSync(path.join(root, "taken", "x", "inside"), { recursive: true })
    const e2 = await putFile(path.join(root, "taken"), "x", [randomBytes(3 * MiB)], true).then(() => undefined, (err) => err as { code?: string })
    assert.isDefined(e2?.code)
    assert.deepStrictEqual(readdirSync(path.join(root, "taken")), ["x"], "no temp file left beside it")
    const bytes = randomBytes(2 * MiB + 1)
    await putFile(path.join(root, "ok"), "y", cutIntoParts(bytes), true)
    assert.isTrue(readFileSync(path.join(root, "ok", "y")).equals(bytes))
  })

  it("a full disk fails the write with ENOSPC and leaves neither a temp file nor a partial object", async () => {
    const mnt = tempDir("enigma-full-")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt])
    try {
      writeFileSync(path.join(mnt, "old"), "the old complete object\n")
      const e = await putFile(mnt, "old", cutIntoParts(randomBytes(3 * MiB)), true).then(() => undefined, (err) => err as { code?: string })
      assert.strictEqual(e?.code, "ENOSPC")
      assert.deepStrictEqual(readdirSync(mnt), ["old"])
      assert.strictEqual(readFileSync(path.join(mnt, "old"), "utf8"), "the old complete object\n")
    } finally {
      execFileSync("umount", [mnt])
    }
  })

  it.effect("the Local provider writes through the workers when a run turns them on", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = newLocalProvider("local", root)
      const bytes = randomBytes(4 * MiB + 77)
      yield* p.put("chunks/ab/abcd", cutIntoParts(bytes)).pipe(Effect.provideService(OffThreadWrites, 16))
      assert.isTrue(Buffer.from(yield* p.get("chunks/ab/abcd")).equals(bytes))
      const other = randomBytes(300_000)
      yield* p.put("chunks/ab/abcd", other).pipe(Effect.provideService(OffThreadWrites, 16))
      assert.isTrue(Buffer.from(yield* p.get("chunks/ab/abcd")).equals(other))
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))], ["chunks/ab/abcd"])
      const e = yield* Effect.flip(p.put("chunks/ab", randomBytes(10)).pipe(Effect.provideService(OffThreadWrites, 16)))
      assert.strictEqual(e.operation, "put", "a key whose path is a directory fails as a StorageError")
    }))

  it("does not keep a process alive once its writes are done", () => {
    const module = pathToFileURL(path.resolve(import.meta.dirname, "../../../src/services/storage/LocalIoThreads.ts")).href
    const dir = tempDir()
    const script = `
      import { putOffThread } from ${JSON.stringify(module)}
      const dir = ${JSON.stringify(dir)}
      await putOffThread({ tmp: dir + "/o.tmp-1", target: dir + "/o", dir, parts: [new Uint8Array(3 << 20).fill(7)], direct: true, stagings: 16 })
      console.log("written")
    `
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 })
    assert.strictEqual(r.signal, null, "still running after 20 s: a worker keeps the process alive")
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stdout.trim(), "written")
    assert.strictEqual(statSync(path.join(dir, "o")).size, 3 * MiB)
  })
})

describe("LocalIoThreads: reads on a worker", () => {
  it("reads every length exactly, direct or buffered, many at once", async () => {
    const dir = tempDir()
    // Around the 4 KiB alignment and the 1 MiB staging buffer.
    const sizes = [0, 1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 17 * MiB + 3]
    const files = sizes.map((size) => {
      const bytes = randomBytes(size)
      const file = path.join(dir, `r${size}`)
      writeFileSync(file, bytes)
      return { file, bytes }
    })
    for (const direct of [true, false]) {
      const got = await Promise.all(files.map((f) => getOffThread(f.file, direct)))
      got.forEach((g, i) => {
        assert.isTrue(Buffer.from(g.bytes).equals(files[i]!.bytes), `${sizes[i]} bytes, direct: ${direct}`)
        assert.strictEqual(g.bytes.byteOffset, 0)
        assert.strictEqual(g.bytes.buffer.byteLength, sizes[i], "a buffer of its own, of the file's size")
      })
    }
  })

  it("a missing file or a directory fails with the system error, and later reads still work", async () => {
    const dir = tempDir()
    const missing = await getOffThread(path.join(dir, "nope"), true).then(() => undefined, (e) => e as { code?: string })
    assert.strictEqual(missing?.code, "ENOENT")
    const isDir = await getOffThread(dir, true).then(() => undefined, (e) => e as { code?: string })
    assert.isDefined(isDir?.code)
    writeFileSync(path.join(dir, "ok"), "fine")
    assert.strictEqual(Buffer.from((await getOffThread(path.join(dir, "ok"), true)).bytes).toString(), "fine")
  })

  it.effect("the Local provider reads through the workers when a run turns them on; a missing object is NotFound", () =>
    Effect.gen(function*() {
      const p = newLocalProvider("local", path.join(tempDir(), "store"))
      const bytes = randomBytes(4 * MiB + 77)
      yield* p.put("chunks/ab/abcd", bytes)
      const onWorkers = <A, E>(e: Effect.Effect<A, E>) => e.pipe(Effect.provideService(OffThreadReads, true))
      assert.isTrue(Buffer.from(yield* onWorkers(p.get("chunks/ab/abcd"))).equals(bytes))
      const e = yield* Effect.flip(onWorkers(p.get("chunks/ab/none")))
      assert.strictEqual(e.reason, "NotFound")
    }))
})
