import { assert, describe, it } from "@effect/vitest"
import { Crc32cJs, Crc64NvmeJs } from "@aws-sdk/checksums/crc"
import {
  algorithmOfHeader,
  checksumHeader,
  crc32Bytes,
  crc32c,
  Crc64Nvme,
  isWellFormed,
  mismatchMessage,
  parseAlgorithm
} from "../../src/domain/s3/Checksum.ts"
import { digestMatches, makeHasher } from "../../src/services/gateway/Checksums.ts"
import { prng } from "../support/cli.ts"

const text = (s: string) => new TextEncoder().encode(s)
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64")

describe("Checksum", () => {
  it("CRC32C and CRC64NVME give the catalogue check values for \"123456789\"", () => {
    assert.strictEqual(crc32c(text("123456789")).toString(16), "e3069283")
    assert.strictEqual(hex(new Crc64Nvme().update(text("123456789")).digest()), "ae8b14860a799888")
    assert.strictEqual(crc32c(new Uint8Array(0)), 0)
    assert.strictEqual(hex(new Crc64Nvme().digest()), "0000000000000000")
  })

  it("agrees with the AWS SDK's own CRC32C and CRC64NVME on every length 0..300 and on split input", async () => {
    const data = prng(7)(300_003)
    for (const len of [...Array.from({ length: 301 }, (_, i) => i), 4096, 65_537, 300_003]) {
      const slice = data.subarray(0, len)
      const c = new Crc32cJs()
      c.update(slice)
      assert.strictEqual(hex(crc32Bytes(crc32c(slice))), hex(await c.digest()), `crc32c of ${len} bytes`)
      const n = new Crc64NvmeJs()
      n.update(slice)
      assert.strictEqual(hex(new Crc64Nvme().update(slice).digest()), hex(await n.digest()), `crc64nvme of ${len} bytes`)
    }
    // Continuing over pieces equals one pass, at any split point (also inside an 8-byte step).
    for (const cut of [1, 3, 8, 13, 65_536]) {
      assert.strictEqual(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data))
      assert.strictEqual(hex(new Crc64Nvme().update(data.subarray(0, cut)).update(data.subarray(cut)).digest()), hex(new Crc64Nvme().update(data).digest()))
    }
  })

  it("hashes each algorithm the way S3 writes it (base64 of the big-endian digest)", () => {
    const a = new Uint8Array(66_560).fill(0x61)
    const digest = (alg: Parameters<typeof makeHasher>[0], d: Uint8Array) => {
      const h = makeHasher(alg)
      h.update(d.subarray(0, 1000))
      h.update(d.subarray(1000))
      return b64(h.digest())
    }
    // The CRC32C trailer of the AWS "Including Trailing Headers" example (66,560 bytes of 'a').
    assert.strictEqual(digest("CRC32C", a), "sOO8/Q==")
    assert.strictEqual(digest("CRC32", text("abc")), "NSRBwg==")
    assert.strictEqual(digest("SHA1", text("abc")), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
    assert.strictEqual(digest("SHA256", text("abc")), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
    assert.strictEqual(digest("CRC64NVME", text("123456789")), b64(Buffer.from("ae8b14860a799888", "hex")))
    assert.isTrue(digestMatches(Buffer.from("sOO8/Q==", "base64"), "sOO8/Q=="))
    assert.isFalse(digestMatches(Buffer.from("sOO8/Q==", "base64"), "sOO8/A=="))
    assert.isFalse(digestMatches(Buffer.from("sOO8/Q==", "base64"), "AAAAAAAAAAA="))
  })

  it("parses header names and refuses malformed values", () => {
    assert.strictEqual(algorithmOfHeader("X-Amz-Checksum-CRC64NVME"), "CRC64NVME")
    assert.strictEqual(algorithmOfHeader("x-amz-checksum-mode"), undefined)
    assert.strictEqual(algorithmOfHeader("x-amz-checksum-type"), undefined)
    assert.strictEqual(parseAlgorithm("crc32c"), "CRC32C")
    assert.strictEqual(checksumHeader("SHA256"), "x-amz-checksum-sha256")
    assert.isTrue(isWellFormed("CRC32", "NSRBwg=="))
    assert.isTrue(isWellFormed("CRC64NVME", "rosUhgp5mIg="))
    assert.isTrue(isWellFormed("SHA1", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="))
    for (const bad of ["NSRBwg", "NSRBwg=", "NSRBwg==A", "NSR*wg==", "", "N=RBwg=="]) assert.isFalse(isWellFormed("CRC32", bad), bad)
    assert.isFalse(isWellFormed("CRC64NVME", "NSRBwg=="))
    assert.strictEqual(mismatchMessage("CRC32C"), "The x-amz-checksum-crc32c you specified did not match the calculated checksum.")
  })
})
