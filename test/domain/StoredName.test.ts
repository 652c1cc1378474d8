import { assert, describe, it } from "@effect/vitest"
import { besidePath, bytesOfStored, fsPathOf, hasEscapes, joinStored, shownPath, storedName } from "../../src/domain/StoredName.ts"

const bytes = (...b: Array<number>) => Buffer.from(b)
const latin1 = (s: string) => Buffer.from(s, "latin1")

describe("StoredName: file names that are not UTF-8, as a backup stores them", () => {
  it("a UTF-8 name is stored as its text, and its fs path is that string", () => {
    for (const name of ["plain.txt", "café", "日本語", "emoji 😀", "a b\nc", ""]) {
      const stored = storedName(Buffer.from(name, "utf8"))
      assert.strictEqual(stored, name)
      assert.isFalse(hasEscapes(stored))
      assert.strictEqual(fsPathOf(stored), name)
    }
  })

  it("each invalid byte becomes U+FFFD and two hex digits; a real U+FFFD is doubled", () => {
    assert.strictEqual(storedName(latin1("caf\xe9")), "caf\uFFFDe9")
    assert.strictEqual(storedName(Buffer.from("a\uFFFDb", "utf8")), "a\uFFFD\uFFFDb")
    // Truncated, overlong and surrogate sequences are invalid byte by byte; valid runs around them stay text.
    assert.strictEqual(storedName(bytes(0xe6, 0x97, 0x41)), "\uFFFDe6\uFFFD97A")
    assert.strictEqual(storedName(bytes(0xc0, 0xaf)), "\uFFFDc0\uFFFDaf")
    assert.strictEqual(storedName(bytes(0xed, 0xa0, 0x80)), "\uFFFDed\uFFFDa0\uFFFD80")
    assert.strictEqual(storedName(Buffer.concat([latin1("\xff"), Buffer.from("é\uFFFD", "utf8")])), "\uFFFDffé\uFFFD\uFFFD")
  })

  it("every byte string comes back exactly, and different ones are stored differently", () => {
    let seed = 12345
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16
    const seen = new Map<string, string>()
    for (let n = 0; n < 5000; n++) {
      // Bytes biased to the interesting ranges: ASCII, continuation bytes, lead bytes, EF BF BD.
      const len = next() % 12
      const parts: Array<number> = []
      for (let i = 0; i < len; i++) {
        const r = next() % 6
        if (r === 0) parts.push(0xef, 0xbf, 0xbd)
        else if (r === 1) parts.push(0x41 + (next() % 26))
        else parts.push(0x80 + (next() % 128))
      }
      const b = Buffer.from(parts)
      const stored = storedName(b)
      assert.isTrue(bytesOfStored(stored).equals(b), `${b.toString("hex")} → ${JSON.stringify(stored)}`)
      // Stored forms are well-formed text: they survive UTF-8 (SQLite, JSON) unchanged.
      assert.strictEqual(Buffer.from(stored, "utf8").toString("utf8"), stored)
      const other = seen.get(stored)
      if (other !== undefined) assert.strictEqual(other, b.toString("hex"))
      seen.set(stored, b.toString("hex"))
    }
  })

  it("an escape never stands for an ASCII byte: '/', '.' and NUL cannot be smuggled in", () => {
    for (const s of ["\uFFFD2f", "\uFFFD2e\uFFFD2e", "\uFFFD00", "\uFFFD7f", "\uFFFDzz", "\uFFFD", "end\uFFFD", "\uFFFDE9"]) {
      const b = bytesOfStored(s)
      assert.isTrue(b.equals(Buffer.from(s, "utf8")), JSON.stringify(s))
    }
  })

  it("paths: joined to a base as a string when plain, as bytes when not; shown in stored form", () => {
    assert.strictEqual(joinStored("/dest", "src/a.txt"), "/dest/src/a.txt")
    assert.strictEqual(joinStored("/", "src"), "/src")
    const p = joinStored("/dest", "src/caf\uFFFDe9/x")
    assert.isTrue(Buffer.isBuffer(p))
    assert.isTrue((p as Buffer).equals(latin1("/dest/src/caf\xe9/x")))
    assert.strictEqual(shownPath(p), "/dest/src/caf\uFFFDe9/x")
    assert.isTrue((joinStored(p, "y") as Buffer).equals(latin1("/dest/src/caf\xe9/x/y")))
  })

  it("a name beside a path keeps its directory and bytes", () => {
    assert.strictEqual(besidePath("/d/file", ".", ".tmp"), "/d/.file.tmp")
    const b = besidePath(latin1("/d\xe9/f\xff"), ".", ".tmp")
    assert.isTrue((b as Buffer).equals(latin1("/d\xe9/.f\xff.tmp")))
  })
})
