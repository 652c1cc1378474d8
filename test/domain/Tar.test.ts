import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Tar from "../../src/domain/Tar.ts"

const archive = (files: ReadonlyArray<readonly [string, Uint8Array]>, mtimeMs: number) =>
  Buffer.concat(files.flatMap(([name, content]) => [Tar.fileHeader(name, content.length, mtimeMs), content, Tar.padding(content.length)]).concat([Tar.end()]))

describe("Tar (the ustar subset of get --no-decrypt)", () => {
  it("GNU tar lists and extracts what it writes: names, sizes, modes, times, contents", () => {
    const files = [
      ["stream.json", Buffer.from("{}\n")],
      ["chunks/000000.age", Buffer.alloc(512, 7)], // exactly one block: no padding
      ["chunks/000001.age", Buffer.alloc(1000, 9)],
      ["chunks/000002.age", Buffer.alloc(0)]
    ] as const
    const tar = archive(files, Date.UTC(2026, 10, 26, 12, 0, 0))
    assert.strictEqual(tar.length % Tar.blockSize, 0)
    const listing = spawnSync("tar", ["-tv", "--utc", "--numeric-owner"], { input: tar, encoding: "utf8" })
    assert.strictEqual(listing.status, 0, listing.stderr)
    const lines = listing.stdout.trim().split("\n")
    assert.deepStrictEqual(lines.map((l) => l.split(/\s+/).at(-1)), files.map(([name]) => name))
    assert.deepStrictEqual(lines.map((l) => Number(l.split(/\s+/)[2])), files.map(([, c]) => c.length))
    for (const l of lines) {
      assert.match(l, /^-rw-r--r-- 0\/0 /)
      assert.include(l, "2026-11-26 12:00")
    }
    const second = spawnSync("tar", ["-xO", "chunks/000001.age"], { input: tar })
    assert.isTrue(second.stdout.equals(files[2][1]))
  })

  it("padding and end", () => {
    assert.strictEqual(Tar.padding(0).length, 0)
    assert.strictEqual(Tar.padding(1).length, 511)
    assert.strictEqual(Tar.padding(512).length, 0)
    assert.strictEqual(Tar.end().length, 1024)
  })

  it("refuses names of 100 bytes or more and sizes it cannot write", () => {
    assert.throws(() => Tar.fileHeader("x".repeat(100), 1, 0), /name too long/)
    assert.throws(() => Tar.fileHeader("a", 8 ** 11, 0), /too large/)
    assert.throws(() => Tar.fileHeader("a", -1, 0), /too large/)
  })
})
