import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { defaultRetry, parseDuration, retrySettingsOf, timeoutFor } from "../../src/domain/Retry.ts"
import { decodeSettings, withDefaults } from "../../src/domain/Settings.ts"

const decode = (enigma: Record<string, unknown>) => decodeSettings(withDefaults({ enigma }, "/r"))

describe("retry and timeout settings (enigma.toml [enigma])", () => {
  it("parses durations", () => {
    assert.strictEqual(parseDuration("60s"), 60_000)
    assert.strictEqual(parseDuration("500ms"), 500)
    assert.strictEqual(parseDuration("2m"), 120_000)
    assert.strictEqual(parseDuration("1.5h"), 5_400_000)
    assert.strictEqual(parseDuration("60"), undefined)
    assert.strictEqual(parseDuration("60 seconds"), undefined)
    assert.strictEqual(parseDuration("-1s"), undefined)
  })

  it("defaults when absent: 5 retries from 50 ms, 60 s per call", () => {
    const r = decode({})
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) assert.deepStrictEqual(retrySettingsOf(r.success.enigma), defaultRetry)
    assert.strictEqual(defaultRetry.attempts, 5)
    assert.strictEqual(defaultRetry.baseDelayMs, 50)
    assert.strictEqual(defaultRetry.requestTimeoutMs, 60_000)
  })

  it("reads the configured values", () => {
    const r = decode({ retry_attempts: 0, retry_base_delay: "200ms", request_timeout: "2m" })
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) {
      const s = retrySettingsOf(r.success.enigma)
      assert.strictEqual(s.attempts, 0)
      assert.strictEqual(s.baseDelayMs, 200)
      assert.strictEqual(s.requestTimeoutMs, 120_000)
    }
  })

  it("a call moving a big body gets 1 s more per MiB", () => {
    assert.strictEqual(timeoutFor(defaultRetry, 0), 60_000)
    assert.strictEqual(timeoutFor(defaultRetry, 512 * 1024 * 1024), 60_000 + 512_000)
  })

  it("bad values are named in one line with what is expected", () => {
    for (const [field, value, expected] of [
      ["request_timeout", "60 seconds", 'expected a duration such as "60s"'],
      ["request_timeout", "1ms", "expected a duration between 10 ms"],
      ["retry_base_delay", "0ms", "expected a duration between 1 ms"],
      ["retry_attempts", -1, "enigma.retry_attempts"],
      ["retry_attempts", 1.5, "enigma.retry_attempts"],
      ["retry_attempts", 101, "enigma.retry_attempts"]
    ] as const) {
      const r = decode({ [field]: value })
      assert.isTrue(Result.isFailure(r), `${field} = ${value}`)
      if (Result.isFailure(r)) {
        assert.include(r.failure, `enigma.${field}`)
        assert.include(r.failure, expected)
        assert.notInclude(r.failure, "\n")
      }
    }
  })
})
