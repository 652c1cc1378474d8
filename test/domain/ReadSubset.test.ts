import { assert, describe, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { inReadSubset, parseReadSubset } from "../../src/domain/ReadSubset.ts"

describe("ReadSubset: verify --read-data-subset", () => {
  it("n/t groups split the chunks: each id in exactly one group, evenly, the same every time", () => {
    const ids = Array.from({ length: 7000 }, () => randomBytes(32).toString("hex"))
    const groups = [1, 2, 3, 4, 5, 6, 7].map((n) => parseReadSubset(`${n}/7`))
    for (const id of ids) {
      const hits = groups.filter((g) => "error" in g ? false : inReadSubset(g, id)).length
      assert.strictEqual(hits, 1, id)
    }
    const first = groups[0]!
    if ("error" in first) throw new Error(first.error)
    const size = ids.filter((id) => inReadSubset(first, id)).length
    assert.isAbove(size, 800)
    assert.isBelow(size, 1200)
  })

  it("x% takes that share at random", () => {
    const ten = parseReadSubset("10%")
    if ("error" in ten) throw new Error(ten.error)
    assert.isTrue(inReadSubset(ten, "ab", () => 0.05))
    assert.isFalse(inReadSubset(ten, "ab", () => 0.15))
    assert.deepStrictEqual(parseReadSubset("100%"), { _tag: "Percent", percent: 100 })
  })

  it("anything else is refused with what to write instead", () => {
    for (const spec of ["0/7", "8/7", "1/0", "0%", "101%", "half", "1/", "-1/2"]) {
      const r = parseReadSubset(spec)
      assert.isTrue("error" in r, spec)
      if ("error" in r) assert.include(r.error, "use n/t with 1 ≤ n ≤ t")
    }
  })
})
