import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { md5OffThread } from "../../../src/services/gateway/Md5OffThread.ts"

const MiB = 1024 * 1024

/** `bytes` fed block by block in random sizes (as an HTTP body arrives); its MD5 from the worker. */
const md5Of = (bytes: Uint8Array, maxBlock = 200_000) =>
  Effect.gen(function*() {
    const md5 = md5OffThread()
    let at = 0
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * maxBlock))
      // A fresh copy each time, as the HTTP parser hands out: and it is overwritten right after,
      // as a freed or reused block would be, so a hash that kept a reference would be wrong.
      const block = Buffer.from(bytes.subarray(at, at + n))
      yield* md5.update(block)
      block.fill(0)
      at += n
    }
    return (yield* md5.digest).toString("hex")
  })

const expected = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex")

describe("Md5OffThread", () => {
  it.effect("matches node:crypto's MD5 for every length: empty, inline (under one batch), one batch exactly, many", () =>
    Effect.gen(function*() {
      for (const size of [0, 1, 4096, MiB - 1, MiB, MiB + 1, 3 * MiB + 17, 20 * MiB + 5]) {
        const bytes = randomBytes(size)
        assert.strictEqual(yield* md5Of(bytes), expected(bytes), `${size} bytes`)
      }
    }))

  it.effect("keeps concurrent bodies apart (one worker hashes them all, interleaved)", () =>
    Effect.gen(function*() {
      const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(2 * MiB + i * 333_333))
      const digests = yield* Effect.forEach(bodies, (b) => md5Of(b, 70_000), { concurrency: "unbounded" })
      assert.deepStrictEqual(digests, bodies.map(expected))
    }))

  it.effect("a large block past the in-flight limit waits for the worker and still hashes right", () =>
    Effect.gen(function*() {
      const bytes = randomBytes(40 * MiB)
      const md5 = md5OffThread()
      yield* md5.update(bytes) // 40 batches, at most 8 away at a time
      assert.strictEqual((yield* md5.digest).toString("hex"), expected(bytes))
    }))

  it.effect("a discarded body leaves nothing behind that mixes into the next", () =>
    Effect.gen(function*() {
      const md5 = md5OffThread()
      yield* md5.update(randomBytes(3 * MiB))
      md5.discard()
      const bytes = randomBytes(2 * MiB + 1)
      assert.strictEqual(yield* md5Of(bytes), expected(bytes))
    }))

  it("does not keep a process alive once its work is done", () => {
    // A script that hashes a body through the worker and then has nothing left to do: it must
    // exit by itself. (Adding a "message" listener refs a worker's port again, so an `unref()`
    // before the listeners did not hold, and such a process never ended.)
    const module = pathToFileURL(path.resolve(import.meta.dirname, "../../../src/services/gateway/Md5OffThread.ts")).href
    const script = `
      import { Effect } from "effect"
      import { md5OffThread } from ${JSON.stringify(module)}
      const md5 = md5OffThread()
      await Effect.runPromise(md5.update(new Uint8Array(3 * 1024 * 1024).fill(7)))
      console.log((await Effect.runPromise(md5.digest)).toString("hex"))
    `
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 })
    assert.strictEqual(r.signal, null, "still running after 20 s: the worker keeps the process alive")
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stdout.trim(), expected(new Uint8Array(3 * MiB).fill(7)))
  })
})
