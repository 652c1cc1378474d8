import { assert, describe, it } from "@effect/vitest"
import { makePlacementRule, sharesOf } from "../../src/domain/Placement.ts"

/** How many of `chunks` chunks' copies each provider gets, and whether every chunk's picks are distinct. */
const spread = (weights: Record<string, number>, copies: number, chunks: number) => {
  const rule = makePlacementRule(Object.entries(weights).map(([provider, weight]) => ({ provider, weight })), copies)
  const counts: Record<string, number> = Object.fromEntries(Object.keys(weights).map((k) => [k, 0]))
  let distinct = true
  for (let i = 0; i < chunks; i++) {
    const picked = rule.next().slice(0, copies)
    if (new Set(picked).size !== picked.length) distinct = false
    for (const p of picked) counts[p]!++
  }
  return { counts, distinct }
}

describe("Placement: smooth weighted round-robin over `copies` distinct providers", () => {
  it("one copy: nginx's sequence (5,1,1 gives a a b a c a a)", () => {
    const rule = makePlacementRule([{ provider: "a", weight: 5 }, { provider: "b", weight: 1 }, { provider: "c", weight: 1 }], 1)
    assert.deepStrictEqual(Array.from({ length: 7 }, () => rule.next()[0]), ["a", "a", "b", "a", "c", "a", "a"])
  })

  it("equal weights: round-robin, for one copy and for two", () => {
    assert.deepStrictEqual(spread({ a: 1, b: 1, c: 1 }, 1, 300), { counts: { a: 100, b: 100, c: 100 }, distinct: true })
    assert.deepStrictEqual(spread({ a: 1, b: 1, c: 1 }, 2, 300), { counts: { a: 200, b: 200, c: 200 }, distinct: true })
  })

  it("where every provider holds every chunk, each is first in turn (reads follow the first copy)", () => {
    const rule = makePlacementRule([{ provider: "disk", weight: 1 }, { provider: "s3", weight: 1 }], 2)
    assert.deepStrictEqual(Array.from({ length: 4 }, () => rule.next().join(",")), ["disk,s3", "s3,disk", "disk,s3", "s3,disk"])
  })

  it("two copies follow the weights too (second copies included), capped at one copy per chunk", () => {
    // 2,1,1 with two copies: a is owed one copy of every chunk, b and c half each.
    assert.deepStrictEqual(spread({ a: 2, b: 1, c: 1 }, 2, 1000), { counts: { a: 1000, b: 500, c: 500 }, distinct: true })
    // 1,8,1: s would be owed 1.6 per chunk; it gets every chunk, the others share the rest evenly.
    assert.deepStrictEqual(spread({ l: 1, s: 8, z: 1 }, 2, 1000), { counts: { l: 500, s: 1000, z: 500 }, distinct: true })
    // What one provider cannot take goes to the others by weight: the shares always add up to the copies.
    assert.deepStrictEqual(sharesOf([1, 8, 1], 2), [0.5, 1, 0.5])
    assert.deepStrictEqual(sharesOf([1, 1, 6, 2], 3), [0.5, 0.5, 1, 1])
        // 1,2,3,4 with two copies: 200, 400, 600, 800 of 1000 chunks.
    assert.deepStrictEqual(spread({ a: 1, b: 2, c: 3, d: 4 }, 2, 1000), { counts: { a: 200, b: 400, c: 600, d: 800 }, distinct: true })
  })
})
