import { assert, describe, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { mkdirSync, statSync, utimesSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { ArenaReader } from "../../../src/services/backup/ArenaReader.ts"
import { tempDir } from "../../support/cli.ts"

const KiB = 1024

const fileOf = (dir: string, name: string, bytes: Uint8Array) => {
  const f = path.join(dir, name)
  writeFileSync(f, bytes)
  return f
}

/** What the walk saw of `file`, as `readFile` takes it. */
const seen = (file: string) => statSync(file)

const joined = (parts: ReadonlyArray<Uint8Array>) => Buffer.concat(parts.map((p) => Buffer.from(p)))

describe("ArenaReader", () => {
  it("files go back to back into arenas; sealing retires the current one; retired parts come in order", () => {
    const dir = tempDir()
    const reader = new ArenaReader(64 * KiB, 4 * KiB)
    const files = [10 * KiB, 50 * KiB, 30 * KiB, 0, 100 * KiB, 1].map((n) => randomBytes(n))
    const retired: Array<Uint8Array> = []
    files.forEach((bytes, i) => {
      const f = fileOf(dir, `f${i}`, bytes)
      assert.deepStrictEqual(reader.readFile(f, seen(f)), { n: bytes.length, changed: false })
      retired.push(...reader.takeRetired())
    })
    assert.isAbove(retired.length, 1, "the 100 KiB file spans arenas")
    reader.seal()
    retired.push(...reader.takeRetired())
    assert.isTrue(joined(retired).equals(joined(files)))
    for (const part of retired) assert.strictEqual(part.byteOffset, 0, "each part is an arena's filled start")
    reader.seal()
    assert.deepStrictEqual(reader.takeRetired(), [], "sealing an empty arena retires nothing")
  })

  it("a file that cannot be read leaves none of its bytes behind, even after it made a new arena", () => {
    const dir = tempDir()
    const reader = new ArenaReader(64 * KiB, 16 * KiB)
    const first = randomBytes(60 * KiB) // leaves 4 KiB: the next file needs a new arena
    const firstFile = fileOf(dir, "first", first)
    reader.readFile(firstFile, seen(firstFile))
    const unreadable = path.join(dir, "a-directory")
    mkdirSync(unreadable)
    // Opening a directory works; reading it fails (EISDIR) after the arena was renewed.
    assert.throws(() => reader.readFile(unreadable, { size: 4096, mtimeMs: 0, ctimeMs: 0 }), /EISDIR/)
    assert.deepStrictEqual(reader.takeRetired(), [], "the first arena is current again, not retired")
    const second = randomBytes(2 * KiB)
    const secondFile = fileOf(dir, "second", second)
    reader.readFile(secondFile, seen(secondFile))
    reader.seal()
    const retired = reader.takeRetired()
    assert.strictEqual(retired.length, 1, "the second file followed the first in the same arena")
    assert.isTrue(joined(retired).equals(joined([first, second])))
  })

  it("says when a file changed between the walk's stat and the end of the read", () => {
    const dir = tempDir()
    const reader = new ArenaReader(64 * KiB, 4 * KiB)
    const f = fileOf(dir, "grows", randomBytes(1000))
    const before = seen(f)
    writeFileSync(f, randomBytes(1500))
    assert.deepStrictEqual(reader.readFile(f, before), { n: 1500, changed: true })
    const touched = fileOf(dir, "touched", randomBytes(10))
    const early = seen(touched)
    utimesSync(touched, 1_600_000_000, 1_600_000_000)
    assert.isTrue(reader.readFile(touched, early).changed)
  })
})
