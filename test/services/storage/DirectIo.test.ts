import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import * as fsCb from "node:fs"
import * as path from "node:path"
import { closeFd, DirectWriter, type DirectIoCalls, readFileDirect } from "../../../src/services/storage/DirectIo.ts"
import { tempDir } from "../../support/cli.ts"
import { cutIntoParts } from "../../support/parts.ts"
import { newLocalProvider } from "../../support/localProvider.ts"

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


/** A new file with `parts` in it through a DirectWriter, closed; false where O_DIRECT was refused at open. */
const writeDirect = async (file: string, parts: ReadonlyArray<Uint8Array>, calls?: DirectIoCalls, sparse = false) => {
  const w = await DirectWriter.create(file, 0o600, calls, sparse)
  if (w === undefined) return false
  for (const p of parts) await w.write(p)
  await w.finish()
  await closeFd(w.fd)
  return true
}

const einval = () => Object.assign(new Error("EINVAL: invalid argument"), { code: "EINVAL" })
const realOpen = (file: string | Buffer, flags: number, mode?: number) =>
  new Promise<number>((resolve, reject) => fsCb.open(file, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))))
const realWrite = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => fsCb.write(fd, bytes, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))))

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
        const wrote = await writeDirect(file, cutIntoParts(bytes))
        if (!direct) {
          assert.isFalse(wrote, "a filesystem without O_DIRECT gets undefined")
          assert.isFalse(existsSync(file))
          continue
        }
        assert.isTrue(wrote, `O_DIRECT write of ${size} bytes`)
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
      const e = await writeDirect(file, [randomBytes(8192)]).then(() => undefined, (err) => err as { code?: string })
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
      const p = newLocalProvider("local", root)
      const bytes = randomBytes(4 * MiB + 77)
      yield* p.put("chunks/ab/abcd", cutIntoParts(bytes))
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
      const refusing: DirectIoCalls = {
        open: async (file, flags, mode) => {
          if ((flags & constants.O_DIRECT) !== 0) throw einval()
          return realOpen(file, flags, mode)
        },
        write: realWrite
      }
      assert.isFalse(await writeDirect(path.join(dir, "new"), [randomBytes(MiB)], refusing))
      assert.deepStrictEqual(readdirSync(dir), [])
      writeFileSync(path.join(dir, "old"), "x")
      assert.isUndefined(await readFileDirect(path.join(dir, "old"), refusing))
      // Other failures are failures, not a reason to fall back.
      const denied: DirectIoCalls = {
        open: async () => {
          throw Object.assign(new Error("EACCES: permission denied, open"), { code: "EACCES" })
        },
        write: realWrite
      }
      const e = await writeDirect(path.join(dir, "new"), [randomBytes(10)], denied).then(() => undefined, (err) => err as { code?: string })
      assert.strictEqual(e?.code, "EACCES")
    }))

  it.effect.skipIf(!takesDirectIo(tempDir()))("sparse: blocks of zeros become holes, the bytes and length are exact", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      const MiB = 1024 * 1024
      const data = randomBytes(MiB + 5)
      // Data, 20 MiB of zeros, data at an unaligned offset, and zeros to the end (a hole the length must cover).
      const parts = [data, Buffer.alloc(20 * MiB), data.subarray(0, 10_000), Buffer.alloc(9 * MiB + 333)]
      const file = path.join(dir, "sparse")
      assert.isTrue(await writeDirect(file, parts, undefined, true))
      const expected = Buffer.concat(parts)
      assert.isTrue(readFileSync(file).equals(expected))
      const st = statSync(file)
      assert.strictEqual(st.size, expected.length)
      assert.isBelow(st.blocks * 512, 3 * MiB, "the zeros take no space")
      const dense = path.join(dir, "dense")
      assert.isTrue(await writeDirect(dense, parts))
      assert.isAbove(statSync(dense).blocks * 512, 30 * MiB)
    }))

  // A FAKE device that takes O_DIRECT at open but refuses the transfers (an alignment it does not
  // take): the writer reopens the file without O_DIRECT and goes on from where it was.
  it.effect.skipIf(!takesDirectIo(tempDir()))("a direct write refused midway goes on buffered, and the file is exact", () =>
    Effect.promise(async () => {
      const dir = tempDir()
      for (const refuseAfter of [0, 1, 2]) {
        let directWrites = 0
        const calls: DirectIoCalls = {
          open: realOpen,
          write: async (fd, bytes, offset, length, position) => {
            // fdinfo's flags are the open file's, in octal.
            const isDirect = (parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8) & constants.O_DIRECT) !== 0
            if (isDirect && directWrites++ >= refuseAfter) throw einval()
            return realWrite(fd, bytes, offset, length, position)
          }
        }
        const bytes = randomBytes(2 * MiB + 333)
        const file = path.join(dir, `f${refuseAfter}`)
        assert.isTrue(await writeDirect(file, cutIntoParts(bytes), calls))
        assert.strictEqual(statSync(file).size, bytes.length)
        assert.isTrue(readFileSync(file).equals(bytes), `refused after ${refuseAfter} direct writes`)
      }
    }))

  // tmpfs refuses O_DIRECT with EINVAL before Linux 6.6: the provider falls back to buffered I/O and works the same.
  it.effect.skipIf(!existsSync("/dev/shm") || takesDirectIo("/dev/shm"))("falls back to buffered I/O on a filesystem without O_DIRECT (tmpfs)", () =>
    Effect.gen(function*() {
      const shm = path.join("/dev/shm", `enigma-test-${process.pid}-${Date.now()}`)
      const p = newLocalProvider("shm", shm)
      try {
        const bytes = randomBytes(2 * MiB + 5)
        assert.isFalse(yield* Effect.promise(() => writeDirect(path.join("/dev/shm", `enigma-direct-${process.pid}`), [bytes])))
        yield* p.put("chunks/cd/cdef", cutIntoParts(bytes))
        assert.isTrue(Buffer.from(yield* p.get("chunks/cd/cdef")).equals(bytes))
        yield* p.put("chunks/cd/cdef", bytes.subarray(0, MiB))
        assert.isTrue(Buffer.from(yield* p.get("chunks/cd/cdef")).equals(bytes.subarray(0, MiB)))
      } finally {
        spawnSync("rm", ["-rf", shm])
      }
    }))
})
