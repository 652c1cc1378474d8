import { parseBytes } from "./Size.ts"

/**
 * Bandwidth limits (`--limit-upload 50M`): parsing rates, and a token bucket in reservation
 * style — a caller takes its bytes at once (the balance may go negative) and waits until the
 * debt is paid back at the configured rate. The average rate then holds exactly, however many
 * callers share the bucket, and big transfers are not starved by small ones. Pure: time is given.
 */
export interface TokenBucket {
  /** bytes per second */
  readonly rate: number
  /** bytes that may go without waiting after a quiet period */
  readonly burst: number
  tokens: number
  last: number
}

export const makeBucket = (rate: number, now: number, burst = Math.min(rate / 4, 4 * 1024 * 1024)): TokenBucket => ({
  rate,
  burst,
  tokens: burst,
  last: now
})

/** Takes `bytes` from the bucket at time `now` (ms); returns how long to wait (ms) before sending. */
export const reserve = (b: TokenBucket, now: number, bytes: number): number => {
  b.tokens = Math.min(b.burst, b.tokens + ((now - b.last) / 1000) * b.rate)
  b.last = now
  b.tokens -= bytes
  return b.tokens >= 0 ? 0 : (-b.tokens / b.rate) * 1000
}

/** `50M`, `1.5G`, `800K`, `123456` (bytes per second; binary multiples, as rclone/restic). */
export const parseRate = (text: string): number | string => {
  const value = parseBytes(text, true)
  if (value === undefined) return `"${text}" is not a rate; use bytes per second like 50M, 1.5G or 800K`
  if (!(value >= 1024)) return `"${text}" is too small; the lowest limit is 1K (1024 bytes per second)`
  return value
}
