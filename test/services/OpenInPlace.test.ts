import { assert, describe, it } from "@effect/vitest"
import * as nodeCrypto from "node:crypto"
import { openInPlace } from "../../src/services/OpenInPlace.ts"

const key = nodeCrypto.randomBytes(32)
const aad = Buffer.from("chunk aad")
const header = 18

/** header ‖ AES-256-GCM(plain) ‖ tag, in a buffer of its own. */
const seal = (plain: Uint8Array) => {
  const nonce = nodeCrypto.randomBytes(12)
  const c = nodeCrypto.createCipheriv("aes-256-gcm", key, nonce)
  c.setAAD(aad)
  const body = Buffer.concat([Buffer.alloc(header, 7), c.update(plain), c.final(), c.getAuthTag()])
  const envelope = new Uint8Array(new ArrayBuffer(body.length))
  envelope.set(body)
  return { envelope, nonce }
}
const open = (envelope: Uint8Array, nonce: Uint8Array, withAad: Uint8Array = aad) =>
  openInPlace(nodeCrypto, key, nonce, withAad, envelope, header)

describe("openInPlace", () => {
  it("writes the plaintext over the ciphertext, for sizes around its 64 KiB slices, and leaves header and tag", () => {
    for (const n of [0, 1, 65535, 65536, 65537, 3 * 65536, 4 * 1024 * 1024 + 3]) {
      const plain = nodeCrypto.randomBytes(n)
      const { envelope, nonce } = seal(plain)
      const tag = Buffer.from(envelope.subarray(envelope.length - 16))
      const opened = open(envelope, nonce)
      assert.strictEqual(opened.buffer, envelope.buffer, `${n}: a view of the envelope's own buffer`)
      assert.strictEqual(opened.byteOffset, header)
      assert.isTrue(Buffer.from(opened).equals(plain), `${n} bytes`)
      assert.isTrue(Buffer.from(envelope.subarray(0, header)).equals(Buffer.alloc(header, 7)))
      assert.isTrue(Buffer.from(envelope.subarray(envelope.length - 16)).equals(tag))
    }
  })

  it("throws on a flipped ciphertext bit in any slice, a flipped tag, or another AAD", () => {
    const plain = nodeCrypto.randomBytes(300_000)
    for (const at of [header, header + 70_000, header + 299_999]) {
      const { envelope, nonce } = seal(plain)
      envelope[at]! ^= 1
      assert.throws(() => open(envelope, nonce), undefined, undefined, `flipped at ${at}`)
    }
    const badTag = seal(plain)
    badTag.envelope[badTag.envelope.length - 1]! ^= 1
    assert.throws(() => open(badTag.envelope, badTag.nonce))
    const other = seal(plain)
    assert.throws(() => open(other.envelope, other.nonce, Buffer.from("another chunk")))
  })
})
