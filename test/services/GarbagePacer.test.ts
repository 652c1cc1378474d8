import { assert, describe, it } from "@effect/vitest"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { makeGarbagePacer } from "../../src/services/GarbagePacer.ts"

/** Major GCs that run while `body` does (observed through perf_hooks' "gc" entries). */
const majorGcsDuring = async (body: () => void) => {
  let majors = 0
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  body()
  await new Promise((r) => setTimeout(r, 50)) // entries are delivered asynchronously
  observer.disconnect()
  return majors
}

describe("GarbagePacer", () => {
  it("runs a full GC once enough stream bytes passed while RSS and buffers are above their marks", async () => {
    const pace = makeGarbagePacer({ every: 1024, highWaterBytes: 0, minGapMs: 0 })
    // (≤ 1, not 0: V8 may collect on its own; unpaced, each of these calls would collect.)
    assert.isAtMost(await majorGcsDuring(() => pace(1000)), 1, "not before every")
    assert.isAtLeast(await majorGcsDuring(() => pace(100)), 1)
  })

  it("does nothing while RSS is below the high-water mark, or more often than minGapMs", async () => {
    const low = makeGarbagePacer({ every: 1, highWaterBytes: 1e15, minGapMs: 0 })
    assert.isAtMost(await majorGcsDuring(() => { for (let i = 0; i < 10; i++) low(10) }), 1)
    const gapped = makeGarbagePacer({ every: 1, highWaterBytes: 0, minGapMs: 60_000 })
    const n = await majorGcsDuring(() => { for (let i = 0; i < 10; i++) gapped(10) })
    assert.isAtLeast(n, 1)
    assert.isAtMost(n, 2)
  })

  it("does nothing while the buffers outside V8's heap are below their mark, whatever RSS is", async () => {
    const held = Array.from({ length: 4 }, () => new ArrayBuffer(8 * 1024 * 1024)) // 32 MiB of buffers
    const heldBytes = process.memoryUsage().arrayBuffers
    assert.isAtLeast(heldBytes, 32 * 1024 * 1024)
    const few = makeGarbagePacer({ every: 1, highWaterBytes: 0, minGapMs: 0, buffersBytes: heldBytes + 1e12 })
    assert.isAtMost(await majorGcsDuring(() => { for (let i = 0; i < 10; i++) few(10) }), 1)
    const many = makeGarbagePacer({ every: 1, highWaterBytes: 0, minGapMs: 0, buffersBytes: heldBytes / 2 })
    assert.isAtLeast(await majorGcsDuring(() => { for (let i = 0; i < 10; i++) many(10) }), 5)
    assert.strictEqual(held.length, 4) // kept alive until here
  })
})
