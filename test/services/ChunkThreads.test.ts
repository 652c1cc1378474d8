import { assert, describe, it } from "@effect/vitest"
import { createCipheriv, createHash, randomBytes } from "node:crypto"
import { Effect } from "effect"
import type { IdKey } from "../../src/domain/ChunkIdHash.ts"
import * as Envelope from "../../src/domain/Envelope.ts"
import { chunkDigests, openEnvelope } from "../../src/services/ChunkThreads.ts"
import { idKeysOfBothHashes, referenceId } from "../support/referenceIds.ts"

const MiB = 1024 * 1024
const expected = (key: IdKey, data: Uint8Array) => ({
  id: referenceId(key, data),
  sha256: createHash("sha256").update(data).digest("hex"),
  sha3: createHash("sha3-256").update(data).digest("hex")
})

describe("ChunkThreads", () => {
  it.effect("id, SHA-256 and SHA3-256 match reference implementations, inline and on the workers, for keys of both hashes at once", () =>
    Effect.gen(function*() {
      const keys = idKeysOfBothHashes(randomBytes)
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
      const key: IdKey = { hash: "blake3", key: randomBytes(32) }
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
      const key: IdKey = { hash: "blake3", key: Buffer.alloc(32, 7) }
      const want = expected(key, data)
      const got = yield* chunkDigests(data, key, true)
      assert.isTrue(data.buffer.detached)
      assert.strictEqual(got.id, want.id)
    }))

  it.effect("an envelope opens on a worker, with the id of its plaintext; tampered bytes, tag or AAD do not", () =>
    Effect.gen(function*() {
      const dataKey = randomBytes(32)
      const idKey: IdKey = { hash: "blake3", key: randomBytes(32) }
      const plain = randomBytes(3 * MiB + 5)
      const id = referenceId(idKey, plain)
      const aad = Envelope.chunkAad(Buffer.from(id, "hex"), 0)
      const seal = () => {
        const nonce = randomBytes(12)
        const c = createCipheriv("aes-256-gcm", dataKey, nonce)
        c.setAAD(aad)
        const body = Buffer.concat([Envelope.encodeHeader(0, 1, nonce), c.update(plain), c.final(), c.getAuthTag()])
        // A buffer of its own, as a provider's read gives.
        const envelope = new Uint8Array(new ArrayBuffer(body.length))
        envelope.set(body)
        return { envelope, nonce }
      }
      const open = (envelope: Uint8Array, nonce: Uint8Array, withAad = aad) =>
        openEnvelope(envelope, true, { dataKey, nonce, aad: withAad, headerLength: Envelope.headerLength, idKey })

      const good = seal()
      const opened = yield* open(good.envelope, good.nonce)
      assert.isDefined(opened)
      assert.isTrue(Buffer.from(opened!.plain).equals(plain))
      assert.strictEqual(opened!.id, id)
      assert.isTrue(good.envelope.buffer.detached, "the envelope travelled, not a copy")
      // Opened in place: the plaintext is the envelope's buffer, between header and tag, and as
      // that buffer's sole view it travels on whole (as a restore's id check and a get's digests do).
      assert.strictEqual(opened!.plain.byteOffset, Envelope.headerLength)
      assert.strictEqual(opened!.plain.buffer.byteLength, Envelope.headerLength + plain.length + Envelope.tagLength)
      const rehashed = yield* chunkDigests(opened!.plain, idKey, true)
      assert.isTrue((opened!.plain.buffer as ArrayBuffer).detached, "the plaintext travelled, not a copy")
      assert.strictEqual(rehashed.id, id)
      assert.isTrue(Buffer.from(rehashed.data).equals(plain))

      const flipped = seal()
      flipped.envelope[Envelope.headerLength + 1000]! ^= 1
      assert.isUndefined(yield* open(flipped.envelope, flipped.nonce))
      const badTag = seal()
      badTag.envelope[badTag.envelope.length - 1]! ^= 1
      assert.isUndefined(yield* open(badTag.envelope, badTag.nonce))
      const otherChunk = seal()
      assert.isUndefined(yield* open(otherChunk.envelope, otherChunk.nonce, Envelope.chunkAad(randomBytes(32), 0)))
      // The workers go on serving after a failure.
      const again = seal()
      assert.strictEqual((yield* open(again.envelope, again.nonce))!.id, id)
    }))
})
