import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { randomBytes } from "node:crypto"
import { Cause, Effect, Schedule, Schema, Scope, Stream } from "effect"
import { LockFailed } from "../domain/Errors.ts"
import { Keys, type StorageError, type StorageProvider } from "./storage/StorageProvider.ts"

/**
 * One writer per repository: a lock object in the providers (restic's model). Acquire writes
 * ours to every provider (a majority must take it), then lists the others; any live lock but ours means somebody else writes, so ours is
 * removed again and we fail with LockFailed (exit 11). A lock is stale — and removed with a
 * warning — when its process is gone on this host, or it was not refreshed for `staleAfter`.
 * Holders refresh their lock while they run and remove it when their scope closes.
 */
export const LockInfo = Schema.Struct({
  id: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  command: Schema.String,
  createdAt: Schema.Number,
  refreshedAt: Schema.Number,
  /** /etc/machine-id: two machines may share a host name (cloned VMs, default names); not this. */
  machine: Schema.optionalKey(Schema.String),
  /** The kernel's boot id: a lock from an earlier boot of this machine has no process left. */
  boot: Schema.optionalKey(Schema.String)
})
export type LockInfo = typeof LockInfo.Type

const readId = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8").trim() || undefined
  } catch {
    return undefined
  }
}

/** This machine and this boot of it, where the system says (Linux); locks without them are judged by host name alone. */
export const thisMachine = { machine: readId("/etc/machine-id") ?? readId("/var/lib/dbus/machine-id"), boot: readId("/proc/sys/kernel/random/boot_id") }

const staleAfterMs = 30 * 60 * 1000
const refreshEvery = "5 minutes"
const decode = Schema.decodeUnknownSync(Schema.fromJsonString(LockInfo))
const encode = (info: LockInfo) => new TextEncoder().encode(JSON.stringify(info))

/**
 * Whether a process on this host still runs. A killed process whose parent never reaps it (a
 * container without an init) stays a zombie that signal 0 still finds; /proc tells them apart.
 */
const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true // no /proc (not Linux): signal 0 is all we have
  }
}

/**
 * Whether a lock's holder is gone: on this machine (same host name, and same machine id where
 * both are known), from an earlier boot or with its process not running; anywhere, silent for
 * `staleAfter`. Another machine with this host name is not this one: its process cannot be seen
 * from here, and taking its live lock for stale let two writers in.
 */
export const isStale = (info: LockInfo, now: number, host = hostname(), here: { readonly machine?: string | undefined; readonly boot?: string | undefined } = thisMachine): boolean => {
  const sameMachine = info.host === host && (info.machine === undefined || here.machine === undefined || info.machine === here.machine)
  const earlierBoot = sameMachine && info.boot !== undefined && here.boot !== undefined && info.boot !== here.boot
  return earlierBoot || (sameMachine && !pidAlive(info.pid)) || now - info.refreshedAt > staleAfterMs
}

export const describeLock = (info: LockInfo) =>
  `${info.command} (pid ${info.pid} on ${info.host}, since ${new Date(info.createdAt).toISOString()})`

/** Every lock object in every provider, with the provider it sits in. Unreadable ones count as held. */
export const listLocks = (providers: ReadonlyArray<StorageProvider>) =>
  Effect.forEach(providers, (p) =>
    p.list(Keys.lockPrefix).pipe(
      Stream.mapEffect((key) =>
        p.get(key).pipe(
          Effect.map((bytes) => {
            try {
              return { provider: p, key, info: decode(new TextDecoder().decode(bytes)) }
            } catch {
              return { provider: p, key, info: undefined }
            }
          }),
          // A lock removed between list and get is simply gone.
          Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
        )
      ),
      Stream.runCollect,
      Effect.map((xs) => xs.filter((x) => x !== undefined))
    )).pipe(Effect.map((xs) => xs.flat()))

/**
 * Takes the repository lock for the lifetime of the current scope. A failed attempt leaves
 * nothing behind and registers nothing with the scope (so `acquireLockWaiting` can try again and
 * again); only the lock taken is removed when the scope closes.
 */
export const acquireLock = Effect.fn("Lock.acquire")(function*(
  providers: ReadonlyArray<StorageProvider>,
  command: string
) {
  const now = Date.now()
  const info: LockInfo = {
    id: randomBytes(16).toString("hex"),
    host: hostname(),
    pid: process.pid,
    command,
    createdAt: now,
    refreshedAt: now,
    ...(thisMachine.machine !== undefined ? { machine: thisMachine.machine } : {}),
    ...(thisMachine.boot !== undefined ? { boot: thisMachine.boot } : {})
  }
  const key = Keys.lock(info.id)
  const removeOurs = Effect.forEach(providers, (p) => p.delete(key).pipe(Effect.ignore), { discard: true })
  // Written, checked and (on failure) removed again as one step the scope only hears of when the
  // lock is ours.
  const attempt = Effect.gen(function*() {
    // The lock must reach a majority of the providers: two writers' majorities always share a
    // provider, where each sees the other's lock. So one provider being down does not stop writes
    // (with copies on the others), and no split view lets two writers in.
    const written = yield* Effect.forEach(providers, (p) => Effect.exit(p.put(key, encode(info))).pipe(Effect.map((r) => ({ p, r }))), {
      concurrency: "unbounded"
    })
    const holding = written.filter((w) => w.r._tag === "Success").map((w) => w.p)
    const majority = Math.floor(providers.length / 2) + 1
    if (holding.length < majority) {
      yield* removeOurs
      const failed = written.flatMap((w) => (w.r._tag === "Failure" ? [Cause.squash(w.r.cause)] : []))
      return yield* (failed[0] as StorageError)
    }
    for (const w of written) {
      if (w.r._tag === "Failure") {
        yield* Effect.logWarning(`lock not written to provider ${w.p.name} (${(Cause.squash(w.r.cause) as Error).message}); writing with the other providers`)
      }
    }
    const others = yield* listLocks(holding).pipe(Effect.tapError(() => removeOurs))
    for (const other of others) {
      if (other.key === key) continue
      if (other.info && isStale(other.info, Date.now())) {
        yield* Effect.logWarning(`removing stale lock: ${describeLock(other.info)}`)
        yield* other.provider.delete(other.key).pipe(Effect.tapError(() => removeOurs))
        continue
      }
      yield* removeOurs
      return yield* new LockFailed({ holder: other.info ? describeLock(other.info) : `an unreadable lock ${other.key}` })
    }
  })
  yield* Effect.acquireRelease(attempt, () => removeOurs)
  // Keep the lock fresh for long runs so other hosts do not take it for stale.
  yield* Effect.forEach(providers, (p) => p.put(key, encode({ ...info, refreshedAt: Date.now() })), { discard: true })
    .pipe(Effect.ignore, Effect.repeat(Schedule.spaced(refreshEvery)), Effect.delay(refreshEvery), Effect.forkScoped)
})

const lockRetryEveryMs = 2_000

/**
 * `acquireLock`, tried again every few seconds while another writer holds the lock, for up to
 * `waitMs` (restic's --retry-lock): a nightly backup that meets a weekly gc waits for it instead
 * of failing. Says once (a warning) what it waits for.
 */
export const acquireLockWaiting = (providers: ReadonlyArray<StorageProvider>, command: string, waitMs: number | undefined) => {
  if (waitMs === undefined || waitMs <= 0) return acquireLock(providers, command)
  const deadline = Date.now() + waitMs
  let told = false
  return acquireLock(providers, command).pipe(
    Effect.tapError((e) => {
      if (e._tag !== "LockFailed" || told) return Effect.void
      told = true
      return Effect.logWarning(`repository is locked by ${e.holder}; waiting for it up to ${Math.ceil(waitMs / 1000)} s (--retry-lock)`)
    }),
    Effect.retry({
      schedule: Schedule.spaced(`${lockRetryEveryMs} millis`),
      while: (e) => e._tag === "LockFailed" && Date.now() + lockRetryEveryMs <= deadline
    })
  )
}

/** `enigma unlock`: removes stale locks, or with `all` every lock. Returns what it removed. */
export const removeLocks = Effect.fn("Lock.remove")(function*(
  providers: ReadonlyArray<StorageProvider>,
  all: boolean
) {
  const removed: Array<string> = []
  for (const l of yield* listLocks(providers)) {
    if (all || !l.info || isStale(l.info, Date.now())) {
      yield* l.provider.delete(l.key)
      removed.push(l.info ? describeLock(l.info) : l.key)
    }
  }
  return removed
})

export type LockScope = Scope.Scope
