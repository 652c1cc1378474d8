import { assert, describe, it } from "@effect/vitest"
import type { Extent, FileEntry } from "../../../src/domain/Events.ts"
import { PendingFiles } from "../../../src/services/backup/PendingFiles.ts"

/** A file of the walk: every 7th a hard link, every 11th without an owner (an old record). */
const file = (i: number) => ({
  path: `d/${i}`,
  mode: 0o100644 + (i % 3),
  mtimeMs: 1_700_000_000_123.5 + i,
  ino: 2 ** 40 + i,
  ctimeMs: 1_700_000_001_000.25 + i,
  ...(i % 11 === 0 ? {} : { uid: 1000 + (i % 5), gid: 100 + (i % 4) }),
  ...(i % 7 === 0 ? { linkTo: `d/first-${i}` } : {}),
  kind: "file" as const,
  size: 10 + (i % 13),
  extents: [] as Array<Extent>
})

describe("PendingFiles", () => {
  it("gives back, first in first out and across blocks, each file as its entry with the extents of its range", () => {
    const q = new PendingFiles()
    const ranges: Array<[number, number]> = []
    let at = 0
    const total = 10_000 // more than two blocks of rows
    for (let i = 0; i < total; i++) {
      const f = file(i)
      q.push(f, at, at + f.size)
      ranges.push([at, at + f.size])
      at += f.size
    }
    assert.strictEqual(q.length, total)
    assert.strictEqual(q.firstStart(), 0)
    const out: Array<FileEntry> = []
    const extentsOf = (start: number, end: number): Array<Extent> => [["c", start, end - start]]
    // Chunks arrive in pieces; a file is given only once its whole range is covered.
    for (const covered of [5, ranges[4_500]![1] - 1, ranges[4_500]![1], at]) {
      q.takeReady(covered, extentsOf, (e) => void out.push(e))
      const expected = ranges.filter(([, end]) => end <= covered).length
      assert.strictEqual(out.length, expected, `covered ${covered}`)
      assert.strictEqual(q.length, total - expected)
      assert.strictEqual(q.firstStart(), expected === total ? undefined : ranges[expected]![0])
    }
    for (let i = 0; i < total; i++) {
      assert.deepStrictEqual(out[i], { ...file(i), extents: [["c", ranges[i]![0], ranges[i]![1] - ranges[i]![0]]] })
      // The same keys in the same order as the walk's entry: the logged JSON does not change.
      assert.strictEqual(JSON.stringify(out[i]), JSON.stringify({ ...file(i), extents: out[i]!.extents }))
    }
    // Empty again, it fills and drains as new.
    q.push(file(3), at, at + 5)
    assert.strictEqual(q.firstStart(), at)
    q.takeReady(at + 5, extentsOf, (e) => void out.push(e))
    assert.strictEqual(q.length, 0)
    assert.strictEqual(out[out.length - 1]!.path, "d/3")
  })

  it("takes at most `max` ready files a call, in order, and says how many it took", () => {
    const q = new PendingFiles()
    let at = 0
    const total = 9_000 // across blocks of rows
    for (let i = 0; i < total; i++) {
      q.push(file(i), at, at + 10)
      at += 10
    }
    const out: Array<string> = []
    const extentsOf = (): Array<Extent> => []
    const covered = 8_000 * 10 // the first 8,000 are ready
    const takes: Array<number> = []
    for (;;) {
      const n = q.takeReady(covered, extentsOf, (e) => void out.push(e.path), 512)
      takes.push(n)
      if (n < 512) break
    }
    assert.deepStrictEqual(takes, [...Array(15).fill(512), 8_000 - 15 * 512])
    assert.deepStrictEqual(out, Array.from({ length: 8_000 }, (_, i) => `d/${i}`))
    assert.strictEqual(q.length, 1_000)
    assert.strictEqual(q.firstStart(), 80_000)
    assert.strictEqual(q.takeReady(covered, extentsOf, () => {}, 512), 0)
    assert.strictEqual(q.takeReady(at, extentsOf, (e) => void out.push(e.path)), 1_000)
    assert.strictEqual(out[out.length - 1], `d/${total - 1}`)
  })
})
