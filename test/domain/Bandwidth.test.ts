import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { makeBucket, parseRate, reserve } from "../../src/domain/Bandwidth.ts"
import { makeLimiter } from "../../src/services/storage/Bandwidth.ts"

describe("bandwidth limits", () => {
  it("parses rates like rclone and restic", () => {
    assert.strictEqual(parseRate("50M"), 50 * 1024 * 1024)
    assert.strictEqual(parseRate("1.5G"), 1.5 * 1024 ** 3)
    assert.strictEqual(parseRate("800k"), 800 * 1024)
    assert.strictEqual(parseRate("2MiB/s"), 2 * 1024 * 1024)
    assert.strictEqual(parseRate("4096"), 4096)
    assert.isString(parseRate("fast"))
    assert.isString(parseRate("10"))
    assert.isString(parseRate("-5M"))
  })

  it("the token bucket's average rate is exact: the last byte of N leaves at (N - burst) / rate", () => {
    const b = makeBucket(1000, 0, 100)
    let now = 0
    for (let i = 0; i < 50; i++) now += reserve(b, now, 200)
    // 50 × 200 = 10,000 bytes at 1,000 B/s with a 100-byte burst: done after 9.9 s.
    assert.approximately(now, 9900, 1e-6)
    // A quiet period refills up to the burst only.
    now += 60_000
    assert.strictEqual(reserve(b, now, 100), 0)
    assert.approximately(reserve(b, now, 1000), 1000, 1e-6)
  })

  it.effect("concurrent takers share one limit (virtual time)", () =>
    Effect.gen(function*() {
      const limiter = makeLimiter(1024 * 1024)
      const fibers = yield* Effect.forEach([1, 2, 3, 4], () =>
        Effect.forkChild(Effect.forEach(Array.from({ length: 10 }), () => limiter.take(256 * 1024), { discard: true })))
      // 40 × 256 KiB = 10 MiB at 1 MiB/s, less the 256 KiB burst: 9.75 s.
      yield* TestClock.adjust("9700 millis")
      assert.isTrue(fibers.some((f) => f.pollUnsafe() === undefined))
      yield* TestClock.adjust("100 millis")
      yield* Effect.forEach(fibers, Fiber.join)
    }))
})
