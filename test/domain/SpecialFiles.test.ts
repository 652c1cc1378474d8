import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { deviceNumbers, mknodArgs, rdevOf, specialKindOf, specialsCount } from "../../src/domain/SpecialFiles.ts"
import { modeString, sizeColumn } from "../../src/domain/Listing.ts"
import * as Tar from "../../src/domain/Tar.ts"

describe("SpecialFiles", () => {
  it("splits a device number as Linux's major() and minor(), both halves of each", () => {
    // Values lstat gave for nodes made with mknod on Linux.
    assert.deepStrictEqual(deviceNumbers(259), { major: 1, minor: 3 })
    assert.deepStrictEqual(deviceNumbers(286327664), { major: 259, minor: 70000 })
    assert.deepStrictEqual(deviceNumbers(4294967295), { major: 4095, minor: 1048575 })
    assert.deepStrictEqual(mknodArgs("blockdev", 286327664), ["b", "259", "70000"])
    assert.deepStrictEqual(mknodArgs("chardev", 259), ["c", "1", "3"])
    assert.deepStrictEqual(mknodArgs("fifo", undefined), ["p"])
  })

  it("knows FIFOs and device nodes, not sockets; only a device keeps its number; a count of none is left out", () => {
    const st = (t: string) => ({ isFIFO: () => t === "p", isCharacterDevice: () => t === "c", isBlockDevice: () => t === "b" })
    assert.deepStrictEqual(["p", "c", "b", "s", "-"].map((t) => specialKindOf(st(t))), ["fifo", "chardev", "blockdev", undefined, undefined])
    assert.deepStrictEqual([rdevOf("chardev", 259), rdevOf("fifo", 0), rdevOf("file", 0)], [259, undefined, undefined])
    assert.deepStrictEqual([specialsCount(0), specialsCount(2)], [{}, { specials: 2 }])
  })

  it("lists them as ls -l does", () => {
    assert.strictEqual(modeString("fifo", 0o010640), "prw-r-----")
    assert.strictEqual(modeString("chardev", 0o020620), "crw--w----")
    assert.strictEqual(modeString("blockdev", 0o060600), "brw-------")
    assert.strictEqual(sizeColumn({ kind: "blockdev", size: 0, rdev: 286327664 }, 12), "  259, 70000")
    assert.strictEqual(sizeColumn({ kind: "file", size: 42 }, 4), "  42")
  })

  it("writes tar entries GNU tar reads as a FIFO and a device with its numbers", () => {
    const tar = Buffer.concat([
      Tar.entryHeader({ name: Buffer.from("pipe"), kind: "fifo", size: 0, mode: 0o640, mtimeMs: 0 }),
      Tar.entryHeader({ name: Buffer.from("disk"), kind: "blockdev", size: 0, mode: 0o600, mtimeMs: 0, device: { major: 259, minor: 70000 } }),
      Tar.end()
    ])
    const listing = spawnSync("tar", ["-tv", "--numeric-owner"], { input: tar, encoding: "utf8" })
    assert.strictEqual(listing.status, 0, listing.stderr)
    const lines = listing.stdout.trim().split("\n")
    assert.match(lines[0]!, /^prw-r----- 0\/0\s+0 .* pipe$/)
    assert.match(lines[1]!, /^brw------- 0\/0\s+259,70000 .* disk$/)
  })
})
