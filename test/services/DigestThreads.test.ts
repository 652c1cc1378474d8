import { assert, describe, it } from "@effect/vitest"
import { createHash, createHmac, randomBytes } from "node:crypto"
import { Effect } from "effect"
import { chunkDigests } from "../../src/services/DigestThreads.ts"

const MiB = 1024 * 1024
const expected = (key: Uint8Array, data: Uint8Array) => ({
  id: createHmac("sha256", key).update(data).digest("hex"),
  sha256: createHash("sha256").update(data).digest("hex"),
  sha3: createHash("sha3-256").update(data).digest("hex")
})

describe("DigestThreads", () => {
  it.effect("id, SHA-256 and SHA3-256 match node:crypto, inline and on the workers, for several keys at once", () =>
    Effect.gen(function*() {
      const keys = [randomBytes(32), randomBytes(32)]
      // Small (inline), odd-sized, and large; many at once so both workers take some.
      const sizes = [0, 1, 64 * 1024 - 1, 64 * 1024, 3 * MiB + 17, 4 * MiB, 1 * MiB + 1, 5 * MiB, 2 * MiB]
      const cases = sizes.map((n, i) => ({ key: keys[i % 2]!, data: new Uint8Array(randomBytes(n)) }))
      const wants = cases.map((c) => ({ ...expected(c.key, c.data), bytes: Buffer.from(c.data) }))
      const got = yield* Effect.all(cases.map((c) => chunkDigests(c.data, c.key, true)), { concurrency: "unbounded" })
      got.forEach((g, i) => {
        const want = wants[i]!
        assert.deepStrictEqual({ id: g.id, sha256: g.sha256, sha3: g.sha3 }, { id: want.id, sha256: want.sha256, sha3: want.sha3 }, `size ${sizes[i]}`)
        assert.isTrue(Buffer.from(g.data).equals(want.bytes), `size ${sizes[i]}: the bytes come back unchanged`)
        assert.strictEqual(g.fresh, sizes[i]! >= 64 * 1024)
      })
    }))

  it.effect("a chunk the caller does not own travels as a copy: the caller's buffer and its other views stay intact", () =>
    Effect.gen(function*() {
      const key = randomBytes(32)
      const block = Buffer.from(randomBytes(4 * MiB))
      const before = Buffer.from(block)
      // Two views of one buffer (a read block cut into chunks), and a Buffer whose `slice` is a view.
      const first = block.subarray(0, 3 * MiB)
      const second = block.subarray(3 * MiB)
      const [a, b] = yield* Effect.all([chunkDigests(first, key, false), chunkDigests(second, key, false)], { concurrency: 2 })
      assert.isFalse(block.buffer.detached)
      assert.isTrue(block.equals(before))
      assert.strictEqual(a!.id, expected(key, before.subarray(0, 3 * MiB)).id)
      assert.strictEqual(b!.sha3, expected(key, before.subarray(3 * MiB)).sha3)
      // Owned, but a view of part of its buffer: copied too, since the rest may be someone's.
      const part = new Uint8Array(new ArrayBuffer(2 * MiB), MiB, MiB)
      yield* chunkDigests(part, key, true)
      assert.isFalse(part.buffer.detached)
    }))

  it.effect("an owned chunk's buffer is transferred, not copied: the one given is detached", () =>
    Effect.gen(function*() {
      const data = new Uint8Array(randomBytes(MiB))
      const want = expected(Buffer.alloc(32, 7), data)
      const got = yield* chunkDigests(data, Buffer.alloc(32, 7), true)
      assert.isTrue(data.buffer.detached)
      assert.strictEqual(got.id, want.id)
    }))
})
