import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { statSync } from "node:fs"
import * as path from "node:path"
import * as Tar from "../../src/domain/Tar.ts"
import { tempDir } from "../support/cli.ts"

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

  it("times before 1970 and after 2242 (which ustar's field cannot hold) go in pax records GNU tar reads", () => {
    const times = [
      ["before-1970", -315619199876.5432], // 1960-01-01 00:00:00.123456…
      ["whole-before-1970", -1000],
      ["after-2242", 13582598400000], // 2400-06-01
      ["in-range", Date.UTC(2020, 0, 1, 0, 0, 0, 123)]
    ] as const
    const tar = Buffer.concat(
      times.flatMap(([name, mtimeMs]) => [Tar.entryHeader({ name: Buffer.from(name), kind: "file", size: 1, mode: 0o644, mtimeMs }), Buffer.from("x"), Tar.padding(1)])
        .concat([Tar.end()])
    )
    // Extracted, not listed: GNU tar 1.34 lists a negative time with a fraction wrongly (it
    // shows 00:00:01.876… for the time it writes itself as -315619199.876…), and sets it right.
    const dir = tempDir()
    const x = spawnSync("tar", ["-x", "-C", dir], { input: tar, encoding: "utf8" })
    assert.strictEqual(x.status, 0, x.stderr)
    for (const [name, mtimeMs] of times) {
      // The archive keeps microseconds, truncated downwards.
      assert.approximately(statSync(path.join(dir, name)).mtimeMs, Math.floor(mtimeMs * 1000) / 1000, 0.0005, name)
    }
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
