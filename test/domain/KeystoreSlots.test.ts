import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  decodeAnyKeyfile,
  encodeKeyfile,
  encodeSlottedHeader,
  encodeSlottedKeyfile,
  type KeyfileHeader,
  MAX_SLOTS,
  type Slot,
  type SlottedHeader
} from "../../src/domain/Keystore.ts"
import { argonInputs, slotArgonInputs } from "../../src/domain/KeystoreLayout.ts"

const fill = (n: number, v: number) => new Uint8Array(n).fill(v)

const slot = (id: number, embedded: boolean): Slot => ({
  id,
  argon: { memory: 65536 + id, passes: 3, parallelism: 4 },
  salt: fill(32, id),
  kemCiphertext: fill(1088, 0x20 + id),
  embedded: embedded ? { dkNonce: fill(12, 0x40 + id), dkSealed: fill(2514, 0x50 + id) } : undefined,
  wrapNonce: fill(12, 0x60 + id),
  wrapped: fill(48, 0x70 + id)
})
const header = (mode: "embedded" | "split", ids: ReadonlyArray<number>): SlottedHeader => ({
  version: 2,
  mode,
  slots: ids.map((id) => slot(id, mode === "embedded")),
  ekFingerprint: fill(16, 3),
  sealedLength: 200
})
const nonce = fill(12, 6)
const sealed = fill(200, 7)

const decode = (bytes: Uint8Array) => {
  const r = decodeAnyKeyfile(bytes)
  if (Result.isFailure(r)) return assert.fail(`expected success, got: ${r.failure}`)
  if (r.success.version !== 2) return assert.fail("expected version 2")
  return r.success.decoded
}
const decodeErr = (bytes: Uint8Array) => {
  const r = decodeAnyKeyfile(bytes)
  if (Result.isSuccess(r)) return assert.fail("expected a decode failure")
  return r.failure
}

describe("Keystore codec, version 2 (passphrase slots)", () => {
  for (const mode of ["embedded", "split"] as const) {
    it(`round-trips one and three slots (${mode})`, () => {
      for (const ids of [[1], [1, 4, 9]]) {
        const h = header(mode, ids)
        const bytes = encodeSlottedKeyfile(h, nonce, sealed)
        const d = decode(bytes)
        assert.deepStrictEqual(d.header, h)
        assert.deepStrictEqual(d.headerBytes, encodeSlottedHeader(h))
        assert.deepStrictEqual(d.nonce, nonce)
        assert.deepStrictEqual(d.sealed, sealed)
        assert.strictEqual(bytes[8], 2)
        assert.strictEqual(bytes[9], mode === "embedded" ? 0 : 1)
        assert.strictEqual(bytes[10], ids.length)
      }
    })
  }

  it("the first slot's Argon2id inputs are where the launcher reads them, in both versions", () => {
    const v2 = encodeSlottedKeyfile(header("embedded", [5, 6]), nonce, sealed)
    assert.deepStrictEqual(argonInputs(v2.subarray(0, 80)), { salt: fill(32, 5), argon: { memory: 65541, passes: 3, parallelism: 4 } })
    const v1Header: KeyfileHeader = {
      version: 1,
      argon: { memory: 65536, passes: 2, parallelism: 1 },
      salt: fill(32, 9),
      kemCiphertext: fill(1088, 2),
      ekFingerprint: fill(16, 3),
      sealedLength: 200,
      embedded: undefined
    }
    const v1 = encodeKeyfile(v1Header, nonce, sealed)
    assert.deepStrictEqual(argonInputs(v1.subarray(0, 80)), { salt: fill(32, 9), argon: v1Header.argon })
    const v3 = v2.slice()
    v3[8] = 3
    assert.isUndefined(argonInputs(v3))
    // --key-hint: any slot's, found by walking the slots, in either mode.
    for (const mode of ["embedded", "split"] as const) {
      const bytes = encodeSlottedKeyfile(header(mode, [5, 6, 9]), nonce, sealed)
      for (const id of [5, 6, 9]) assert.deepStrictEqual(slotArgonInputs(bytes, id), { salt: fill(32, id), argon: { memory: 65536 + id, passes: 3, parallelism: 4 } }, `${mode} ${id}`)
      assert.isUndefined(slotArgonInputs(bytes, 7))
      assert.isUndefined(slotArgonInputs(bytes.subarray(0, 1500), 9))
    }
    assert.isUndefined(slotArgonInputs(v1, 1))
  })

  it("reports truncation at every length of the header, naming the slot", () => {
    const bytes = encodeSlottedKeyfile({ ...header("split", [1, 2]), sealedLength: 16 }, nonce, fill(16, 9))
    for (let n = 9; n < bytes.length; n += n < 200 ? 1 : 97) assert.match(decodeErr(bytes.subarray(0, n)), /truncated/, `length ${n}`)
    assert.match(decodeErr(bytes.subarray(0, 40)), /passphrase slot 1/)
    assert.match(decodeErr(bytes.subarray(0, 1300)), /passphrase slot 2/)
  })

  it("rejects an unknown mode, no or too many slots, duplicate ids and trailing bytes", () => {
    const bytes = encodeSlottedKeyfile(header("split", [1, 2]), nonce, sealed)
    const mode = bytes.slice()
    mode[9] = 7
    assert.match(decodeErr(mode), /unknown key mode 7/)
    const none = bytes.slice()
    none[10] = 0
    assert.match(decodeErr(none), /0 passphrase slots/)
    const many = bytes.slice()
    many[10] = MAX_SLOTS + 1
    assert.match(decodeErr(many), /17 passphrase slots/)
    const dup = encodeSlottedKeyfile(header("split", [1, 2]), nonce, sealed)
    const slotLength = 2 + 9 + 32 + 2 + 1088 + 12 + 48
    dup[11 + slotLength + 1] = 1 // slot 2's id → 1
    assert.match(decodeErr(dup), /duplicate slot id/)
    const padded = new Uint8Array(bytes.length + 2)
    padded.set(bytes)
    assert.match(decodeErr(padded), /2 unexpected bytes/)
  })

  it("refuses to encode a header that could not be read back", () => {
    assert.throws(() => encodeSlottedHeader(header("split", [])), /at least one/)
    assert.throws(() => encodeSlottedHeader(header("split", [1, 1])), /duplicate/)
    assert.throws(() => encodeSlottedHeader({ ...header("split", [1]), slots: [slot(1, true)] }), /mode/)
    assert.throws(() => encodeSlottedHeader(header("split", Array.from({ length: MAX_SLOTS + 1 }, (_, i) => i + 1))), /at most/)
  })
})
