import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { randomBytes } from "node:crypto"
import { Cause, Effect, type Exit, Schedule, Schema, Scope, Stream } from "effect"
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
  boot: Schema.optionalKey(Schema.String),
  /** A reader's lock (restore, get, dump, verify): it stops only the commands that delete. */
  shared: Schema.optionalKey(Schema.Boolean)
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
export const pidAlive = (pid: number) => {
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
  `${info.command}${info.shared === true ? " (reading)" : ""} (pid ${info.pid} on ${info.host}, since ${new Date(info.createdAt).toISOString()})`

/**
 * The writers that take away what a reader may be reading: forgotten backups' entries leave the
 * manifest (a restore reads them a window at a time) and gc deletes chunks. They wait for readers,
 * and readers for them; other writers (backup, put, tag, repair) run beside readers.
 */
export const deletingCommands: ReadonlySet<string> = new Set(["gc", "forget", "rewrite"])

/**
 * Whether a lock held by `other` keeps `command` out: any writer keeps another writer out; a
 * reader and a deleting writer keep each other out; readers never keep each other out.
 */
const conflicts = (command: string, shared: boolean, other: LockInfo) =>
  shared
    ? other.shared !== true && deletingCommands.has(other.command)
    : other.shared !== true || deletingCommands.has(command)

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
  command: string,
  options: { readonly shared?: boolean } = {}
) {
  const shared = options.shared === true
  const now = Date.now()
  const info: LockInfo = {
    id: randomBytes(16).toString("hex"),
    host: hostname(),
    pid: process.pid,
    command,
    createdAt: now,
    refreshedAt: now,
    ...(thisMachine.machine !== undefined ? { machine: thisMachine.machine } : {}),
    ...(thisMachine.boot !== undefined ? { boot: thisMachine.boot } : {}),
    ...(shared ? { shared: true } : {})
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
    // A reader goes on where it cannot write its lock (a disk mounted read-only, read-only
    // credentials): it keeps nothing out then, as before there were readers' locks.
    if (shared && holding.length === 0) {
      yield* Effect.logDebug(`reader's lock not written (${(Cause.squash((written[0]!.r as Exit.Failure<void, StorageError>).cause) as Error).message})`)
      return false
    }
    const majority = Math.floor(providers.length / 2) + 1
    if (!shared && holding.length < majority) {
      yield* removeOurs
      const failed = written.flatMap((w) => (w.r._tag === "Failure" ? [Cause.squash(w.r.cause)] : []))
      return yield* (failed[0] as StorageError)
    }
    for (const w of written) {
      if (w.r._tag === "Failure" && !shared) {
        yield* Effect.logWarning(`lock not written to provider ${w.p.name} (${(Cause.squash(w.r.cause) as Error).message}); writing with the other providers`)
      }
    }
    const others = yield* listLocks(holding).pipe(Effect.tapError(() => removeOurs))
    for (const other of others) {
      if (other.key === key) continue
      if (other.info && !conflicts(command, shared, other.info)) continue
      // An unreadable lock keeps writers out (it may be anyone's); a reader cannot tell it is a deleter's.
      if (other.info === undefined && shared) continue
      if (other.info && isStale(other.info, Date.now())) {
        yield* Effect.logWarning(`removing stale lock: ${describeLock(other.info)}`)
        yield* other.provider.delete(other.key).pipe(Effect.tapError(() => removeOurs))
        continue
      }
      yield* removeOurs
      return yield* new LockFailed({ holder: other.info ? describeLock(other.info) : `an unreadable lock ${other.key}` })
    }
    return true
  })
  const held = yield* Effect.acquireRelease(attempt, (taken) => taken ? removeOurs : Effect.void)
  if (!held) return
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
export const acquireLockWaiting = (providers: ReadonlyArray<StorageProvider>, command: string, waitMs: number | undefined, options: { readonly shared?: boolean } = {}) => {
  if (waitMs === undefined || waitMs <= 0) return acquireLock(providers, command, options)
  const deadline = Date.now() + waitMs
  let told = false
  return acquireLock(providers, command, options).pipe(
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

/**
 * `enigma unlock`: removes stale locks, or with `all` every lock. Returns what it removed, and the
 * live locks it left (each named once, however many providers hold it).
 */
export const removeLocks = Effect.fn("Lock.remove")(function*(
  providers: ReadonlyArray<StorageProvider>,
  all: boolean
) {
  const removed: Array<string> = []
  const live = new Set<string>()
  for (const l of yield* listLocks(providers)) {
    if (all || !l.info || isStale(l.info, Date.now())) {
      yield* l.provider.delete(l.key)
      removed.push(l.info ? describeLock(l.info) : l.key)
    } else {
      live.add(describeLock(l.info))
    }
  }
  return { removed, live: [...live] }
})

export type LockScope = Scope.Scope
