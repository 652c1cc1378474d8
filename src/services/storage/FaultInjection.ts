import { Effect, Stream } from "effect"
import { StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

/**
 * A provider decorator that misbehaves on purpose, deterministically (seeded), for tests of the
 * retry, fallback and integrity paths: fail a fraction of calls, add latency, truncate bodies.
 */
export interface Faults {
  /** Fraction (0–1) of put/get/head/delete calls that fail (putStream counts as put, getRange/getStream as get). */
  readonly failRate?: number
  /** The reason injected failures carry (default Transient: retried). */
  readonly failReason?: StorageFailure
  /** Only these operations misbehave (default: all). */
  readonly operations?: ReadonlyArray<"put" | "get" | "head" | "delete" | "list">
  readonly latencyMs?: number
  /** Fraction (0–1) of gets (and getRanges) whose body comes back cut short (a broken download). */
  readonly truncateRate?: number
  readonly seed?: number
  /** Sees every call of an operation that misbehaves (before its fate is drawn): tests count attempts with it. */
  readonly onCall?: (operation: "put" | "get" | "head" | "delete" | "list", key: string) => void
}

export const withFaults = (inner: StorageProvider, faults: Faults): StorageProvider => {
  let state = (faults.seed ?? 1) >>> 0
  // mulberry32: a tiny deterministic generator, so a failing test replays identically.
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const applies = (op: "put" | "get" | "head" | "delete" | "list") => faults.operations === undefined || faults.operations.includes(op)
  const misbehave = <A, E>(op: "put" | "get" | "head" | "delete" | "list", key: string, eff: Effect.Effect<A, E>): Effect.Effect<A, E | StorageError> => {
    if (!applies(op)) return eff
    const delayed = faults.latencyMs ? Effect.delay(eff, faults.latencyMs) : eff
    return Effect.suspend((): Effect.Effect<A, E | StorageError> => {
      faults.onCall?.(op, key)
      return random() < (faults.failRate ?? 0)
        ? Effect.fail(new StorageError({
          provider: inner.name,
          operation: op,
          key,
          reason: faults.failReason ?? "Transient",
          detail: "injected fault"
        }))
        : delayed
    })
  }
  /** A listing that fails at its start, now and then. */
  const listFault = (prefix: string) =>
    applies("list") && random() < (faults.failRate ?? 0)
      ? Stream.fail(new StorageError({ provider: inner.name, operation: "list", key: prefix, reason: faults.failReason ?? "Transient", detail: "injected fault" }))
      : undefined
  return {
    ...inner,
    put: (key, body, options) => misbehave("put", key, inner.put(key, body, options)),
    get: (key) =>
      misbehave("get", key, inner.get(key)).pipe(
        Effect.map((bytes) =>
          applies("get") && random() < (faults.truncateRate ?? 0) ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes
        )
      ),
    putStream: (key, body, options) => misbehave("put", key, inner.putStream(key, body, options)),
    getRange: (key, offset, length) =>
      misbehave("get", key, inner.getRange(key, offset, length)).pipe(
        Effect.map((bytes) =>
          applies("get") && random() < (faults.truncateRate ?? 0) ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes
        )
      ),
    // Streams fail or wait at their start (a connection that is refused or slow to answer).
    getStream: (key, range) => Stream.unwrap(misbehave("get", key, Effect.sync(() => inner.getStream(key, range)))),
    head: (key) => misbehave("head", key, inner.head(key)),
    delete: (key) => misbehave("delete", key, inner.delete(key)),
    list: (prefix) => listFault(prefix) ?? inner.list(prefix),
    ...(inner.listSized ? { listSized: (prefix: string) => listFault(prefix) ?? inner.listSized!(prefix) } : {})
  }
}
