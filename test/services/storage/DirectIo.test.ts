import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { createFileDirect, readFileDirect } from "../../../src/services/storage/DirectIo.ts"
import { makeLocalProvider } from "../../../src/services/storage/LocalProvider.ts"
import { tempDir } from "../../support/cli.ts"

/** Whether the filesystem under `dir` takes O_DIRECT (ext4 and xfs do, tmpfs does not). */
const takesDirectIo = (dir: string) => {
  const probe = path.join(dir, "probe")
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600))
    return true
  } catch {
    return false
  } finally {
    if (existsSync(probe)) unlinkSync(probe)
  }
}

/** Pages of `file` in the page cache, by util-linux's fincore (undefined where it is missing). */
const residentPages = (file: string): number | undefined => {
  const r = spawnSync("fincore", ["--bytes", "--noheadings", "--output", "PAGES", file], { encoding: "utf8" })
  return r.status === 0 ? Number(r.stdout.trim()) : undefined
}

/** `bytes` cut at random points into parts, as an envelope's header, pieces and tag come. */
const cut = (bytes: Uint8Array) => {
  const parts: Array<Uint8Array> = []
  let at = 0
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * 700_000))
    parts.push(bytes.subarray(at, at + n))
    at += n
  }
  return parts
}

const MiB = 1024 * 1024
// Around the 4 KiB alignment and the 1 MiB staging buffer, where padding and flushing change.
const sizes = [1, 100, 4095, 4096, 4097, 65536, MiB - 1, MiB, MiB + 1, 2 * MiB + 4096, 3 * MiB + 12345]

describe("DirectIo", () => {
  it.effect("writes and reads back every length exactly, padded and truncated where unaligned", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const direct = takesDirectIo(dir)
      for (const size of sizes) {
        const bytes = randomBytes(size)
        const file = path.join(dir, `f${size}`)
        const handle = await createFileDirect(file, cut(bytes), 0o600)
        if (!direct) {
          assert.isUndefined(handle, "a filesystem without O_DIRECT gets undefined")
          assert.isFalse(existsSync(file))
          continue
        }
        assert.isDefined(handle, `O_DIRECT write of ${size} bytes`)
        await handle!.sync()
        await handle!.close()
        assert.strictEqual(statSync(file).size, size)
        assert.isTrue(readFileSync(file).equals(bytes), `buffered read of ${size} bytes`)
        const back = await readFileDirect(file)
        assert.isTrue(back !== undefined && back.equals(bytes), `direct read of ${size} bytes`)
      }
    }))

  it.effect("refuses to overwrite: the file must be new (callers write a temp name and rename it)", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const file = path.join(dir, "exists")
      writeFileSync(file, "old")
      const e = await createFileDirect(file, [randomBytes(8192)], 0o600).then(() => undefined, (err) => err as { code?: string })
      assert.strictEqual(e?.code, "EEXIST")
      assert.strictEqual(readFileSync(file, "utf8"), "old")
    }))

  it.effect("a missing file is ENOENT, as for a buffered read", () =>
    Effect.promise(async () => {
      const e = await readFileDirect(path.join(tempDir(), "missing")).then(() => undefined, (err) => err as { code?: string })
      assert.strictEqual(e?.code, "ENOENT")
    }))

  it.effect("the Local provider's chunk-sized objects bypass the page cache where O_DIRECT works", () =>
    Effect.gen(function*() {
      const root = path.join(tempDir(), "store")
      const p = makeLocalProvider("local", root)
      const bytes = randomBytes(4 * MiB + 77)
      yield* p.put("chunks/ab/abcd", cut(bytes))
      const file = path.join(root, "chunks", "ab", "abcd")
      assert.deepStrictEqual(readdirSync(path.dirname(file)), ["abcd"], "no temp file left")
      assert.isTrue(Buffer.from(yield* p.get("chunks/ab/abcd")).equals(bytes))
      const pages = residentPages(file)
      if (takesDirectIo(root) && pages !== undefined) assert.strictEqual(pages, 0, "written and read without the page cache")
      // Overwriting an object replaces it whole.
      const other = randomBytes(300_000)
      yield* p.put("chunks/ab/abcd", other)
      assert.isTrue(Buffer.from(yield* p.get("chunks/ab/abcd")).equals(other))
      assert.deepStrictEqual([...(yield* Stream.runCollect(p.list("chunks/")))], ["chunks/ab/abcd"])
    }))

  // A FAKE filesystem that refuses O_DIRECT as tmpfs before Linux 6.6 and some FUSE filesystems
  // do: this kernel's tmpfs takes it, and no such filesystem can be mounted here.
  it.effect("where O_DIRECT is refused (EINVAL), returns undefined and leaves nothing behind", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const refusing = async (file: string, flags: number, mode?: number) => {
        if ((flags & constants.O_DIRECT) !== 0) throw Object.assign(new Error("EINVAL: invalid argument, open"), { code: "EINVAL" })
        return fs.open(file, flags, mode)
      }
      assert.isUndefined(await createFileDirect(path.join(dir, "new"), [randomBytes(MiB)], 0o600, refusing))
      assert.deepStrictEqual(readdirSync(dir), [])
      writeFileSync(path.join(dir, "old"), "x")
      assert.isUndefined(await readFileDirect(path.join(dir, "old"), refusing))
      // Other failures are failures, not a reason to fall back.
      const denied = async () => {
        throw Object.assign(new Error("EACCES: permission denied, open"), { code: "EACCES" })
      }
      const e = await createFileDirect(path.join(dir, "new"), [randomBytes(10)], 0o600, denied).then(() => undefined, (err) => err as { code?: string })
      assert.strictEqual(e?.code, "EACCES")
    }))

  // tmpfs refuses O_DIRECT with EINVAL before Linux 6.6: the provider falls back to buffered I/O and works the same.
  it.effect.skipIf(!existsSync("/dev/shm") || takesDirectIo("/dev/shm"))("falls back to buffered I/O on a filesystem without O_DIRECT (tmpfs)", () =>
    Effect.gen(function*() {
      const shm = path.join("/dev/shm", `enigma-test-${process.pid}-${Date.now()}`)
      const p = makeLocalProvider("shm", shm)
      try {
        const bytes = randomBytes(2 * MiB + 5)
        assert.isUndefined(yield* Effect.promise(() => createFileDirect(path.join("/dev/shm", `enigma-direct-${process.pid}`), [bytes], 0o600)))
        yield* p.put("chunks/cd/cdef", cut(bytes))
        assert.isTrue(Buffer.from(yield* p.get("chunks/cd/cdef")).equals(bytes))
        yield* p.put("chunks/cd/cdef", bytes.subarray(0, MiB))
        assert.isTrue(Buffer.from(yield* p.get("chunks/cd/cdef")).equals(bytes.subarray(0, MiB)))
      } finally {
        spawnSync("rm", ["-rf", shm])
      }
    }))
})
