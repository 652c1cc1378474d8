import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import {
  decodeKeyfile,
  encodeHeader,
  encodeKeyfile,
  KEYFILE_MAGIC,
  type KeyfileHeader,
  keyfileMode,
  chunkIdHashOf,
  KeystorePayload,
  KeystorePayloadJson
} from "../../src/domain/Keystore.ts"

const fill = (n: number, v: number) => new Uint8Array(n).fill(v)

const splitHeader: KeyfileHeader = {
  version: 1,
  argon: { memory: 65536, passes: 3, parallelism: 4 },
  salt: fill(32, 1),
  kemCiphertext: fill(1088, 2),
  ekFingerprint: fill(16, 3),
  sealedLength: 200,
  embedded: undefined
}
const embeddedHeader: KeyfileHeader = {
  ...splitHeader,
  embedded: { dkNonce: fill(12, 4), dkSealed: fill(2514, 5) }
}
const nonce = fill(12, 6)
const sealed = fill(200, 7)

const decodeOk = (bytes: Uint8Array) => {
  const r = decodeKeyfile(bytes)
  if (Result.isFailure(r)) assert.fail(`expected success, got: ${r.failure}`)
  return r.success
}
const decodeErr = (bytes: Uint8Array) => {
  const r = decodeKeyfile(bytes)
  if (Result.isSuccess(r)) assert.fail("expected a decode failure")
  return r.failure
}

describe("Keystore codec", () => {
  it("round-trips a split-mode keyfile", () => {
    const bytes = encodeKeyfile(splitHeader, nonce, sealed)
    const d = decodeOk(bytes)
    assert.deepStrictEqual(d.header, splitHeader)
    assert.strictEqual(keyfileMode(d.header), "split")
    assert.deepStrictEqual(d.nonce, nonce)
    assert.deepStrictEqual(d.sealed, sealed)
    assert.deepStrictEqual(d.headerBytes, encodeHeader(splitHeader))
    assert.strictEqual(d.headerBytes.length + 12 + sealed.length, bytes.length)
    assert.deepStrictEqual(bytes.subarray(0, 8), KEYFILE_MAGIC)
    assert.strictEqual(bytes[8], 1)
    assert.strictEqual(bytes[9], 1)
  })

  it("round-trips an embedded-mode keyfile", () => {
    const bytes = encodeKeyfile(embeddedHeader, nonce, sealed)
    const d = decodeOk(bytes)
    assert.deepStrictEqual(d.header, embeddedHeader)
    assert.strictEqual(keyfileMode(d.header), "embedded")
    assert.strictEqual(bytes[9], 0)
    assert.deepStrictEqual(d.sealed, sealed)
  })

  it("stores argon2 parameters big-endian at fixed offsets", () => {
    const bytes = encodeKeyfile(splitHeader, nonce, sealed)
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    assert.strictEqual(view.getUint32(10), 65536)
    assert.strictEqual(view.getUint32(14), 3)
    assert.strictEqual(view.getUint8(18), 4)
    assert.strictEqual(view.getUint16(19 + 32), 1088)
    assert.strictEqual(view.getUint32(53 + 1088 + 16), 200)
  })

  it("reports truncation at every length, naming where the file ends", () => {
    for (const h of [splitHeader, embeddedHeader]) {
      const bytes = encodeKeyfile({ ...h, sealedLength: 16 }, nonce, fill(16, 9))
      for (let n = 0; n < bytes.length; n++) {
        const err = decodeErr(bytes.subarray(0, n))
        assert.match(err, n === 0 ? /empty/ : /truncated/, `length ${n}`)
      }
      decodeOk(bytes)
    }
    const full = encodeKeyfile(splitHeader, nonce, sealed)
    assert.match(decodeErr(full.subarray(0, 60)), /KEM ciphertext/)
    assert.match(decodeErr(full.subarray(0, full.length - 1)), /truncated.*sealed payload/)
  })

  it("rejects bytes after the sealed payload", () => {
    const full = encodeKeyfile(splitHeader, nonce, sealed)
    const padded = new Uint8Array(full.length + 3)
    padded.set(full)
    assert.match(decodeErr(padded), /3 unexpected bytes/)
  })

  it("rejects a bad magic, an unsupported version and an unknown mode", () => {
    const bytes = encodeKeyfile(splitHeader, nonce, sealed)
    const magic = bytes.slice()
    magic[0] = 0x58
    assert.match(decodeErr(magic), /bad magic/)
    assert.match(decodeErr(new TextEncoder().encode("{\"json\": true}")), /bad magic/)
    const v3 = bytes.slice()
    v3[8] = 3
    assert.match(decodeErr(v3), /unsupported keyfile version 3 \(this Enigma reads versions 1 and 2\)/)
    const mode = bytes.slice()
    mode[9] = 7
    assert.match(decodeErr(mode), /unknown key mode 7/)
  })

  it("rejects argon2 parameters that would make a damaged header expensive", () => {
    const bytes = encodeKeyfile(splitHeader, nonce, sealed)
    const big = bytes.slice()
    new DataView(big.buffer).setUint32(10, 0x7fffffff)
    assert.match(decodeErr(big), /memory/)
    const passes = bytes.slice()
    new DataView(passes.buffer).setUint32(14, 1_000_000)
    assert.match(decodeErr(passes), /passes/)
    const lanes = bytes.slice()
    lanes[18] = 0
    assert.match(decodeErr(lanes), /parallelism/)
  })

  it("refuses to encode malformed headers", () => {
    assert.throws(() => encodeHeader({ ...splitHeader, salt: fill(31, 0) }))
    assert.throws(() => encodeHeader({ ...splitHeader, ekFingerprint: fill(15, 0) }))
    assert.throws(() => encodeHeader({ ...splitHeader, argon: { memory: 1, passes: 1, parallelism: 1 } }))
    assert.throws(() => encodeKeyfile(splitHeader, fill(11, 0), sealed))
    assert.throws(() => encodeKeyfile(splitHeader, nonce, fill(199, 0)))
  })
})

describe("Keystore payload", () => {
  const b64 = (n: number, v: number) => btoa(String.fromCharCode(...fill(n, v)))
  const valid = {
    version: 1,
    repositoryId: "0123456789abcdef0123456789abcdef",
    master: b64(32, 1),
    dataKeys: [
      { id: 1, key: b64(32, 2), createdAt: "2024-01-01T00:00:00.000Z" },
      { id: 2, key: b64(32, 3), createdAt: "2024-06-01T00:00:00.000Z" }
    ],
    currentKeyId: 2
  }
  const decode = (u: unknown) => Schema.decodeUnknownResult(KeystorePayload)(u)

  it("decodes base64 keys to bytes and round-trips through JSON", () => {
    const r = decode(valid)
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) {
      assert.deepStrictEqual(r.success.master, fill(32, 1))
      const json = Schema.encodeSync(KeystorePayloadJson)(r.success)
      assert.deepStrictEqual(Schema.decodeSync(KeystorePayloadJson)(json), r.success)
    }
  })

  it("version 2 names its chunk-id hash, version 1 (HMAC-SHA256 ids) does not", () => {
    const hashOf = (u: unknown) => {
      const r = decode(u)
      return Result.isSuccess(r) ? chunkIdHashOf(r.success) : "rejected"
    }
    assert.strictEqual(hashOf(valid), "hmac-sha256")
    assert.strictEqual(hashOf({ ...valid, version: 2, chunkIdHash: "blake3" }), "blake3")
    assert.strictEqual(hashOf({ ...valid, version: 2, chunkIdHash: "hmac-sha256" }), "hmac-sha256")
    assert.strictEqual(hashOf({ ...valid, version: 2 }), "rejected")
    assert.strictEqual(hashOf({ ...valid, chunkIdHash: "blake3" }), "rejected")
    assert.strictEqual(hashOf({ ...valid, version: 2, chunkIdHash: "md5" }), "rejected")
  })

  it("rejects bad keys, ids and references", () => {
    assert.isTrue(Result.isFailure(decode({ ...valid, master: b64(31, 1) })))
    assert.isTrue(Result.isFailure(decode({ ...valid, repositoryId: "xyz" })))
    assert.isTrue(Result.isFailure(decode({ ...valid, version: 3 })))
    assert.isTrue(Result.isFailure(decode({ ...valid, currentKeyId: 3 })))
    assert.isTrue(Result.isFailure(decode({ ...valid, dataKeys: [] })))
    assert.isTrue(Result.isFailure(decode({ ...valid, dataKeys: [valid.dataKeys[0], valid.dataKeys[0]], currentKeyId: 1 })))
    assert.isTrue(Result.isFailure(decode({ ...valid, dataKeys: [{ ...valid.dataKeys[0], id: 0 }], currentKeyId: 0 })))
    assert.isTrue(Result.isFailure(decode({ ...valid, dataKeys: [{ ...valid.dataKeys[0], createdAt: "soon" }], currentKeyId: 1 })))
  })
})
