import { assert, describe, it } from "@effect/vitest"
import { applyRetention, isEmptyPolicy } from "../../src/domain/Retention.ts"

const day = 86_400_000
// Local-time noon on consecutive days, newest last.
const base = new Date(2026, 0, 1, 12).getTime()
const daily = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `b${String(i).padStart(3, "0")}`, time: base + i * day }))

describe("Retention (restic's forget --keep-*)", () => {
  it("keep-last keeps the N newest", () => {
    const d = applyRetention(daily(5), { last: 2 })
    assert.deepStrictEqual(d.keep.map((k) => k.item.id), ["b004", "b003"])
    assert.deepStrictEqual(d.remove.map((r) => r.id).sort(), ["b000", "b001", "b002"])
  })

  it("keep-daily keeps the newest backup of each of the last N days", () => {
    const items = [...daily(3), { id: "late", time: base + 2 * day + 3_600_000 }]
    const d = applyRetention(items, { daily: 2 })
    assert.deepStrictEqual(d.keep.map((k) => k.item.id), ["late", "b001"])
  })

  it("keep-weekly and keep-monthly use ISO weeks and calendar months", () => {
    const d = applyRetention(daily(70), { weekly: 2, monthly: 3 })
    const kept = d.keep.map((k) => k.item.id)
    // newest of the newest ISO week, and of the week before
    assert.include(kept, "b069")
    assert.strictEqual(d.keep.filter((k) => k.reasons.some((r) => r.startsWith("weekly"))).length, 2)
    assert.strictEqual(d.keep.filter((k) => k.reasons.some((r) => r.startsWith("monthly"))).length, 3)
    // Jan 31 is the newest of January
    assert.include(kept, "b030")
  })

  it("rules combine: a backup kept by any rule stays; reasons are listed", () => {
    const d = applyRetention(daily(10), { last: 1, daily: 3 })
    assert.deepStrictEqual(d.keep.map((k) => k.item.id), ["b009", "b008", "b007"])
    assert.deepStrictEqual(d.keep[0]!.reasons, ["last", "daily 2026-01-10"])
    assert.strictEqual(d.keep.length + d.remove.length, 10)
  })

  it("empty policy detection", () => {
    assert.isTrue(isEmptyPolicy({}))
    assert.isTrue(isEmptyPolicy({ last: 0 }))
    assert.isFalse(isEmptyPolicy({ monthly: 1 }))
  })
})
