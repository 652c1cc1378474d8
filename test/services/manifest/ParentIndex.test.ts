import { assert, describe, it } from "@effect/vitest"
import { ParentIndex } from "../../../src/services/manifest/ParentIndex.ts"

const hex = (i: number) => i.toString(16).padStart(64, "0")

describe("ParentIndex", () => {
  it("gives back each file's stat fields and extents as stored, whatever their form, across blocks", () => {
    const index = new ParentIndex()
    const stored = new Map<string, { size: number; mtimeMs: number; ino: number; ctimeMs: number; json: string }>()
    for (let i = 0; i < 10_000; i++) {
      const extents = i % 5 === 0
        ? [[hex(i % 7), 10, 20], [hex(i % 11), 0, 5]] // several
        : i % 17 === 0
        ? [] // an empty file
        : [[hex(i % 3), i * 1000, 2 ** 40 + i]] // the usual one, in chunks shared by many
      const f = { size: i, mtimeMs: 1_700_000_000_000.125 + i, ino: 2 ** 50 + i, ctimeMs: 1_700_000_000_500.5 + i, json: JSON.stringify(extents) }
      stored.set(`d/${i}`, f)
      index.add(`d/${i}`, f.size, f.mtimeMs, f.ino, f.ctimeMs, f.json, i % 13 === 0 ? JSON.stringify([["user.n", String(i)]]) : null)
    }
    // Extents in forms the compact path does not parse are kept as they came.
    index.add("odd/upper", 1, 2, 3, 4, `[["${"A".repeat(64)}",0,1]]`, null)
    index.add("odd/spaced", 1, 2, 3, 4, `[[ "${hex(1)}", 0, 1 ]]`, null)
    assert.strictEqual(index.size, 10_002)
    for (const [p, f] of stored) {
      const got = index.get(p)!
      assert.deepStrictEqual([got.size, got.mtimeMs, got.ino, got.ctimeMs], [f.size, f.mtimeMs, f.ino, f.ctimeMs], p)
      assert.deepStrictEqual(got.extents(), JSON.parse(f.json), p)
      const i = Number(p.slice(2))
      assert.deepStrictEqual(got.xattrs(), i % 13 === 0 ? [["user.n", String(i)]] : undefined, p)
    }
    assert.deepStrictEqual(index.get("odd/upper")!.extents(), [["A".repeat(64), 0, 1]])
    assert.deepStrictEqual(index.get("odd/spaced")!.extents(), [[hex(1), 0, 1]])
    assert.isUndefined(index.get("d/10000"))
    // Each call makes new extents: the caller may keep them.
    const f = index.get("d/1")!
    assert.notStrictEqual(f.extents(), f.extents())
  })
})
