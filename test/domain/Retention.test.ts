import { assert, describe, it } from "@effect/vitest"
import { applyRetention, isEmptyPolicy, parseWithin, type Within } from "../../src/domain/Retention.ts"

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

  it("keep-within keeps every backup newer than the span before the newest one, not before now", () => {
    const within = (text: string) => parseWithin("--keep-within", text) as Within
    // 30 daily backups long ago: 10d from the newest (b029) keeps b020…b029, whatever today is.
    const d = applyRetention(daily(30), { within: within("10d") })
    assert.deepStrictEqual(d.keep.map((k) => k.item.id), Array.from({ length: 10 }, (_, i) => `b0${29 - i}`))
    assert.deepStrictEqual(d.keep[0]!.reasons, ["within 10d"])
    // Calendar months and hours: from 15 March 12:00, 1m2h reaches back to 15 February 10:00.
    const at = (m: number, dd: number, h: number) => new Date(2026, m, dd, h).getTime()
    const items = [{ id: "mar15", time: at(2, 15, 12) }, { id: "feb15-11h", time: at(1, 15, 11) }, { id: "feb15-10h", time: at(1, 15, 10) }]
    assert.deepStrictEqual(applyRetention(items, { within: within("1m2h") }).keep.map((k) => k.item.id), ["mar15", "feb15-11h"])
    assert.deepStrictEqual(applyRetention(items, { within: within("1y") }).remove, [])
  })

  it("keep-tag keeps every backup carrying all the tags of one of its lists", () => {
    const items = [
      { id: "a", time: base, tags: ["db", "monthly"] },
      { id: "b", time: base + day, tags: ["db"] },
      { id: "c", time: base + 2 * day, tags: [] },
      { id: "d", time: base + 3 * day, tags: ["keep"] }
    ]
    const d = applyRetention(items, { tags: [["db", "monthly"], ["keep"]] })
    assert.deepStrictEqual(d.keep.map((k) => [k.item.id, k.reasons]), [["d", ["tag keep"]], ["a", ["tag db,monthly"]]])
    assert.deepStrictEqual(d.remove.map((r) => r.id), ["c", "b"])
  })

  it("a span that is not y m d h in that order is refused with an example", () => {
    assert.deepStrictEqual(parseWithin("--keep-within", "1y6m2d3h"), { text: "1y6m2d3h", years: 1, months: 6, days: 2, hours: 3 })
    for (const bad of ["", "30", "2w", "1d1y", "-3d", "1.5d", "d"]) {
      assert.deepStrictEqual(parseWithin("--keep-within", bad), {
        error: `--keep-within "${bad}": give a span like 30d, 6m, 1y6m or 12h (y years, m months, d days, h hours, in that order)`
      }, bad)
    }
  })

  it("empty policy detection", () => {
    assert.isTrue(isEmptyPolicy({}))
    assert.isTrue(isEmptyPolicy({ last: 0 }))
    assert.isFalse(isEmptyPolicy({ monthly: 1 }))
    assert.isTrue(isEmptyPolicy({ within: parseWithin("f", "0d") as Within, tags: [] }))
    assert.isFalse(isEmptyPolicy({ within: parseWithin("f", "1h") as Within }))
    assert.isFalse(isEmptyPolicy({ tags: [["keep"]] }))
  })
})
