import { assert, beforeAll, describe, it } from "@effect/vitest"
import { generateHybridIdentity } from "age-encryption"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, enigmaPipe, initRepo, json, prng, tempDir } from "../support/cli.ts"
import { ensureDebianCommand } from "../support/debian.ts"

const chunkFiles = (dir: string) =>
  readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60)
    .map((n) => path.join(dir, "storage", "chunks", n))

/** A classic X25519 key pair made by Debian's age-keygen. */
const ageKeygen = (file: string) => {
  const r = spawnSync("age-keygen", ["-o", file], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(r.stderr)
  return spawnSync("age-keygen", ["-y", file], { encoding: "utf8" }).stdout.trim()
}

describe("pipe mode: age and --no-encrypt", () => {
  beforeAll(() => {
    ensureDebianCommand("age")
  })

  it("--age-recipient: chunks are age files (Debian's age decrypts them); get and verify need the identity", () => {
    const { root, dir, g } = initRepo()
    const key = path.join(root, "key.txt")
    const other = path.join(root, "other.txt")
    const recipient = ageKeygen(key)
    ageKeygen(other)
    const data = prng(1)(700_000)
    // One chunk (fixed size larger than the input), so the single object is the whole stream.
    const put = enigmaPipe([...g, "put", "s", "--age-recipient", recipient, "--chunk-size", "1M"], data)
    assert.strictEqual(put.code, 0, put.stderr)
    const [object] = chunkFiles(dir)
    const decrypted = spawnSync("age", ["-d", "-i", key, object!])
    assert.strictEqual(decrypted.status, 0, decrypted.stderr.toString())
    assert.isTrue(decrypted.stdout.equals(data), "age -d gives the plaintext")

    const noId = enigmaPipe([...g, "get", "s"])
    assert.strictEqual(noId.code, 1)
    assert.match(noId.stderr, /^enigma: stream s is encrypted to age recipients; give the identity with --age-identity FILE\n$/)
    assert.strictEqual(noId.stdout.length, 0)
    const wrong = enigmaPipe([...g, "get", "s", "--age-identity", other])
    assert.strictEqual(wrong.code, 1)
    assert.match(wrong.stderr, /^enigma: none of the given age identities can decrypt stream s/)
    const got = enigmaPipe([...g, "get", "s", "--age-identity", key])
    assert.strictEqual(got.code, 0, got.stderr)
    assert.isTrue(got.stdout.equals(data))

    assert.strictEqual(enigma([...g, "verify", "s"]).code, 0, "presence needs no identity")
    assert.strictEqual(enigma([...g, "verify", "s", "--read-data"]).code, 1)
    assert.strictEqual(enigma([...g, "verify", "s", "--read-data", "--age-identity", key]).code, 0)
    // Tampering shows up as an age failure naming the chunk.
    const bytes = readFileSync(object!)
    bytes[bytes.length - 5]! ^= 1
    writeFileSync(object!, bytes)
    const v = enigma([...g, "verify", "s", "--read-data", "--age-identity", key])
    assert.strictEqual(v.code, 1)
    assert.match(v.stdout, /bad chunk 0 \([0-9a-f]{64}\) on local: age decryption failed/)
  })

  it("get --no-decrypt: a tar of the chunks as stored; age chunks decrypt with Debian's age, in order, to the stream", () => {
    const { root, dir, g } = initRepo()
    const key = path.join(root, "key.txt")
    const recipient = ageKeygen(key)
    const data = prng(5)(300_000)
    assert.strictEqual(enigmaPipe([...g, "put", "s", "--age-recipient", recipient, "--chunk-size", "64K"], data).code, 0)
    const raw = enigmaPipe([...g, "get", "s", "--no-decrypt", "--summary", "json"])
    assert.strictEqual(raw.code, 0, raw.stderr)
    assert.strictEqual(JSON.parse(raw.stderr).chunks, 5)
    const out = tempDir()
    const untar = spawnSync("tar", ["-x", "-C", out], { input: raw.stdout })
    assert.strictEqual(untar.status, 0, untar.stderr.toString())
    const description = JSON.parse(readFileSync(path.join(out, "stream.json"), "utf8"))
    assert.strictEqual(description.encryption, "age")
    assert.deepStrictEqual(description.entries.map((e: { file: string }) => e.file), [0, 1, 2, 3, 4].map((i) => `chunks/00000${i}.age`))
    const plain = description.entries.map((e: { file: string; sha256: string; storedSize: number }) => {
      const file = path.join(out, e.file)
      assert.strictEqual(readFileSync(file).length, e.storedSize)
      const d = spawnSync("age", ["-d", "-i", key, file])
      assert.strictEqual(d.status, 0, d.stderr.toString())
      assert.strictEqual(createHash("sha256").update(d.stdout).digest("hex"), e.sha256)
      return d.stdout
    })
    assert.isTrue(Buffer.concat(plain).equals(data), "the decrypted chunks, in order, are the stream")

    // The repository's own encryption: .enigma envelopes, not the plaintext.
    assert.strictEqual(enigmaPipe([...g, "put", "r", "--chunk-size", "64K"], data).code, 0)
    const sealed = enigmaPipe([...g, "get", "r", "--no-decrypt"])
    assert.strictEqual(sealed.code, 0, sealed.stderr)
    const listing = spawnSync("tar", ["-t"], { input: sealed.stdout, encoding: "utf8" }).stdout.trim().split("\n")
    assert.deepStrictEqual(listing, ["stream.json", ...[0, 1, 2, 3, 4].map((i) => `chunks/00000${i}.enigma`)])
    assert.strictEqual(sealed.stdout.indexOf(data.subarray(1000, 1064)), -1, "no plaintext in the archive")

    // Bad input: one line, exit 1; a missing chunk stops the archive naming it.
    const both = enigmaPipe([...g, "get", "s", "--no-decrypt", "--age-identity", key])
    assert.strictEqual(both.code, 1)
    assert.match(both.stderr, /^enigma: --no-decrypt writes the chunks still encrypted; it takes no --age-identity\n$/)
    const victim = description.entries[2].chunkId as string
    unlinkSync(chunkFiles(dir).find((f) => f.endsWith(victim))!)
    const broken = enigmaPipe([...g, "get", "s", "--no-decrypt"])
    assert.strictEqual(broken.code, 1)
    assert.match(broken.stderr, new RegExp(`^enigma: stream s: chunk 2 \\(${victim}\\): missing \\(provider local\\)`))
  })

  it("post-quantum hybrid identity (ML-KEM-768 + X25519): put derives the recipient, same recipients deduplicate", async () => {
    const { root, g } = initRepo([], "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n")
    const key = path.join(root, "pq.txt")
    const identity = await generateHybridIdentity()
    writeFileSync(key, `# post-quantum\n${identity}\n`)
    const data = prng(2)(1_500_000)
    const first = enigmaPipe([...g, "put", "pq1", "--age-identity", key, "--summary", "json"], data)
    assert.strictEqual(first.code, 0, first.stderr)
    const list = json(enigma([...g, "list", "--json"]))
    assert.match(list[0].encryption, /^age:age1pq1/)
    const second = enigmaPipe([...g, "put", "pq2", "--age-identity", key, "--summary", "json"], data)
    const s2 = JSON.parse(second.stderr)
    assert.strictEqual(s2.uploadedChunks, 0)
    assert.strictEqual(s2.dedupChunks, s2.chunks)
    // …but never against chunks encrypted another way.
    const repoKeys = JSON.parse(enigmaPipe([...g, "put", "plain-keys", "--summary", "json"], data).stderr)
    assert.strictEqual(repoKeys.dedupChunks, 0)
    const got = enigmaPipe([...g, "get", "pq2", "--age-identity", key])
    assert.strictEqual(got.code, 0, got.stderr)
    assert.isTrue(got.stdout.equals(data))
  })

  it("--no-encrypt warns and stores the plaintext; bad age options are one line each", () => {
    const { root, dir, g } = initRepo()
    const data = Buffer.from("plain text dump\n".repeat(1000))
    const put = enigmaPipe([...g, "put", "clear", "--no-encrypt", "--chunk-size", "1M"], data)
    assert.strictEqual(put.code, 0, put.stderr)
    assert.match(put.stderr, /^warning: --no-encrypt stores this stream in the clear/)
    assert.isTrue(readFileSync(chunkFiles(dir)[0]!).equals(data), "the object is the plaintext")
    assert.isTrue(enigmaPipe([...g, "get", "clear"]).stdout.equals(data))

    const key = path.join(root, "key.txt")
    const recipient = ageKeygen(key)
    writeFileSync(path.join(root, "junk.txt"), "not a key\n")
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["put", "x", "--age-recipient", "age1nope!"], /^enigma: --age-recipient age1nope! is not an age recipient/],
      [["put", "x", "--age-identity", path.join(root, "missing.txt")], /^enigma: --age-identity .*missing.txt: cannot read it/],
      [["put", "x", "--age-identity", path.join(root, "junk.txt")], /^enigma: --age-identity .*junk.txt has a line that is not an age identity/],
      [["put", "x", "--age-recipient", recipient, "--no-encrypt"], /^enigma: --no-encrypt and age recipients contradict each other/]
    ]
    for (const [args, message] of cases) {
      const r = enigmaPipe([...g, ...args], Buffer.from("x"))
      assert.strictEqual(r.code, 1, args.join(" "))
      assert.match(r.stderr, message, args.join(" "))
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`)
    }
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 1, "nothing else was stored")
  })
})
