import { assert, describe, it } from "@effect/vitest"
import { compareStoredPaths } from "../../src/domain/BackupDiff.ts"

/** A random string over code points that sort differently as UTF-16 units and as UTF-8 bytes. */
const randomPath = (rand: () => number) => {
  const pool = [0x2f, 0x2d, 0x41, 0x61, 0x7f, 0xe9, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff]
  const n = 1 + Math.floor(rand() * 6)
  return String.fromCodePoint(...Array.from({ length: n }, () => pool[Math.floor(rand() * pool.length)]!))
}

describe("compareStoredPaths", () => {
  it("orders paths as SQLite orders them (UTF-8 bytes), not as JavaScript's < does", () => {
    let seed = 12345
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    let disagreesWithLessThan = 0
    for (let i = 0; i < 20_000; i++) {
      const a = randomPath(rand)
      const b = randomPath(rand)
      const bytes = Math.sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")))
      assert.strictEqual(Math.sign(compareStoredPaths(a, b)), bytes, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
      if (Math.sign(a < b ? -1 : a > b ? 1 : 0) !== bytes) disagreesWithLessThan++
    }
    // The cases that matter were drawn: the two orders differ on them.
    assert.isAbove(disagreesWithLessThan, 100)
    assert.isBelow(compareStoredPaths("a\uffff", "a\u{10000}"), 0)
    assert.isBelow(compareStoredPaths("data-x", "data/x"), 0)
    assert.strictEqual(compareStoredPaths("same", "same"), 0)
  })
})
