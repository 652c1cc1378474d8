import type { EnigmaSettings } from "./Settings.ts"

/**
 * How provider calls are retried and bounded in time: `[enigma] retry_attempts`,
 * `retry_base_delay` and `request_timeout` in enigma.toml, with their defaults.
 */
export interface RetrySettings {
  /** Retries after the first attempt (0 = no retry). Only transient errors are retried. */
  readonly attempts: number
  /** First backoff delay; it doubles on each retry (jittered), capped at `maxDelayMs`. */
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** The longest one provider call may take before it counts as a transient failure. */
  readonly requestTimeoutMs: number
  /** Extra time a call gets per MiB it moves, so a big chunk on a slow link is not cut off. */
  readonly timeoutPerMibMs: number
}

export const defaultRetry: RetrySettings = {
  attempts: 5,
  baseDelayMs: 50,
  maxDelayMs: 30_000,
  requestTimeoutMs: 60_000,
  timeoutPerMibMs: 1_000
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "60s", "500ms", "2m", "1.5h" → milliseconds; undefined when the text is not such a duration. */
export const parseDuration = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text)
  if (!m) return undefined
  return Math.round(Number(m[1]) * units[m[2]!]!)
}

/** The retry settings of a decoded config (its durations were validated when it was decoded). */
export const retrySettingsOf = (enigma: EnigmaSettings["enigma"]): RetrySettings => ({
  ...defaultRetry,
  ...(enigma.retry_attempts !== undefined ? { attempts: enigma.retry_attempts } : {}),
  ...(enigma.retry_base_delay !== undefined ? { baseDelayMs: parseDuration(enigma.retry_base_delay) ?? defaultRetry.baseDelayMs } : {}),
  ...(enigma.request_timeout !== undefined
    ? { requestTimeoutMs: parseDuration(enigma.request_timeout) ?? defaultRetry.requestTimeoutMs }
    : {})
})

/** The time one call moving `bytes` may take. */
export const timeoutFor = (r: RetrySettings, bytes: number): number =>
  r.requestTimeoutMs + Math.ceil((bytes / (1024 * 1024)) * r.timeoutPerMibMs)
