import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { digestMismatch, genesisLink, nextLink } from "../../../src/services/pipe/StreamChain.ts"

const digestChunk = (data: Uint8Array) => ({
  size: data.length,
  sha256: createHash("sha256").update(data).digest("hex"),
  sha3: createHash("sha3-256").update(data).digest("hex")
})

const key = new Uint8Array(32).fill(7)
const chainOf = (streamId: string, chunks: ReadonlyArray<string>) => {
  let link = genesisLink(key, streamId)
  return chunks.map((c, i) => (link = nextLink(link, i, digestChunk(Buffer.from(c)))))
}

describe("stream chain", () => {
  it("digests are SHA-256 and SHA3-256 of the plaintext", () => {
    const d = digestChunk(Buffer.from("abc"))
    assert.strictEqual(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert.strictEqual(d.sha3, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
    assert.strictEqual(d.size, 3)
  })

  it("a changed, removed or reordered chunk changes every later link; the genesis depends on stream and key", () => {
    const base = chainOf("s1", ["a", "b", "c"])
    assert.notStrictEqual(chainOf("s1", ["a", "B", "c"])[2], base[2])
    assert.notStrictEqual(chainOf("s1", ["a", "c"])[1], base[2])
    assert.notStrictEqual(chainOf("s1", ["b", "a", "c"])[2], base[2])
    assert.notStrictEqual(chainOf("s2", ["a", "b", "c"])[0], base[0])
    assert.deepStrictEqual(chainOf("s1", ["a", "b", "c"]), base)
    assert.notStrictEqual(genesisLink(new Uint8Array(32).fill(8), "s1"), genesisLink(key, "s1"))
  })

  it("names the first difference between two digests", () => {
    const a = digestChunk(Buffer.from("abc"))
    assert.strictEqual(digestMismatch(a, a), undefined)
    assert.strictEqual(digestMismatch(a, digestChunk(Buffer.from("abcd"))), "size 4 instead of 3")
    assert.strictEqual(digestMismatch(a, digestChunk(Buffer.from("abd"))), "SHA-256 differs")
  })
})
