import { Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { ChunkCorrupt, UserError } from "../../domain/Errors.ts"
import { applyRetention, isEmptyPolicy } from "../../domain/Retention.ts"
import { ChunkStore } from "../../services/ChunkStore.ts"
import { removeLocks } from "../../services/Lock.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { Manifest } from "../../services/manifest/Manifest.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { isChunkId } from "../../domain/Envelope.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, ExitWith, formatBytes, formatTime, print } from "../Output.ts"
import { dryRunFlag, jsonFlag, rootCommand } from "./shared.ts"

export const verifyCommand = Command.make("verify", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or unique prefix)")),
  readData: Flag.Boolean("read-data").pipe(Flag.withDescription("Download, decrypt and re-hash every chunk"), Flag.withDefault(false)),
  json: jsonFlag
}, Effect.fn("cli.verify")(function*({ id, readData, json }) {
  const opened = yield* unlock(yield* rootCommand)
  const bad = yield* withRepository(opened, "verify", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const chunks = yield* ChunkStore
    const backup = yield* manifest.resolveBackup(id)
    const ids = yield* manifest.chunksOf(backup.id)
    const failures = yield* Effect.forEach(ids, (c) =>
      chunks.check(c, readData).pipe(
        Effect.as(undefined),
        Effect.catch((e: ChunkCorrupt) => Effect.succeed(e))
      ), { concurrency: 8 })
    const badChunks = failures.filter((f): f is ChunkCorrupt => f !== undefined)
    const files = badChunks.length > 0 ? yield* manifest.files(backup.id) : []
    const report = badChunks.map((e) => ({
      chunk: e.chunkId,
      provider: e.provider,
      problem: e.detail,
      files: files.filter((f) => f.extents.some((x) => x[0] === e.chunkId)).map((f) => f.path)
    }))
    yield* emit(json, { backupId: backup.id, chunks: ids.length, readData, ok: report.length === 0, bad: report }, () =>
      report.length === 0
        ? `backup ${backup.id}: ${ids.length} chunks ${readData ? "read, decrypted and re-hashed" : "present"}; no errors`
        : [
          ...report.map((r) => `bad chunk ${r.chunk} on ${r.provider}: ${r.problem}; affects ${r.files.length} file(s): ${r.files.slice(0, 20).join(", ")}${r.files.length > 20 ? ", …" : ""}`),
          `backup ${backup.id}: ${report.length} of ${ids.length} chunks are bad`
        ].join("\n"))
    return report.length
  }))
  if (bad > 0) return yield* new ExitWith({ code: 1 })
})).pipe(Command.withDescription("Check that every chunk of a backup exists (--read-data: and is intact)"))

const keepFlag = (name: string, what: string) =>
  Flag.Int(`keep-${name}`).pipe(Flag.withDescription(`Keep the newest backup of each of the last N ${what}`), Flag.optional)

export const forgetCommand = Command.make("forget", {
  ids: Argument.String("backup-id").pipe(Argument.withDescription("Backups to forget"), Argument.variadic()),
  last: Flag.Int("keep-last").pipe(Flag.withDescription("Keep the N most recent backups"), Flag.optional),
  hourly: keepFlag("hourly", "hours"),
  daily: keepFlag("daily", "days"),
  weekly: keepFlag("weekly", "weeks"),
  monthly: keepFlag("monthly", "months"),
  yearly: keepFlag("yearly", "years"),
  dryRun: dryRunFlag,
  json: jsonFlag
}, Effect.fn("cli.forget")(function*(a) {
  const policy = {
    last: Option.getOrUndefined(a.last),
    hourly: Option.getOrUndefined(a.hourly),
    daily: Option.getOrUndefined(a.daily),
    weekly: Option.getOrUndefined(a.weekly),
    monthly: Option.getOrUndefined(a.monthly),
    yearly: Option.getOrUndefined(a.yearly)
  }
  for (const [k, v] of Object.entries(policy)) {
    if (v !== undefined && v < 0) return yield* new UserError({ detail: `--keep-${k} must be 0 or more` })
  }
  const byPolicy = !isEmptyPolicy(policy)
  if (byPolicy === (a.ids.length > 0)) {
    return yield* new UserError({ detail: "forget takes either backup ids or --keep-* options (one of the two)" })
  }
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "forget", !a.dryRun, Effect.gen(function*() {
    const manifest = yield* Manifest
    const log = yield* EventLog
    let remove: Array<{ id: string; time: number }>
    let keep: Array<{ id: string; time: number; reasons: ReadonlyArray<string> }> = []
    if (byPolicy) {
      // Like restic, retention applies per host and set of paths.
      const groups = new Map<string, Array<{ id: string; time: number }>>()
      for (const b of yield* manifest.backups("committed")) {
        const key = `${b.host}\u0000${JSON.stringify(b.paths)}`
        groups.set(key, [...(groups.get(key) ?? []), { id: b.id, time: b.startedAt }])
      }
      remove = []
      for (const items of groups.values()) {
        const d = applyRetention(items, policy)
        remove.push(...d.remove)
        keep.push(...d.keep.map((k) => ({ ...k.item, reasons: k.reasons })))
      }
    } else {
      remove = []
      for (const id of a.ids) {
        const b = yield* manifest.resolveBackup(id)
        remove.push({ id: b.id, time: b.startedAt })
      }
    }
    if (!a.dryRun && remove.length > 0) {
      yield* log.append(remove.map((r) => ({ _tag: "BackupForgotten" as const, backupId: r.id, at: Date.now() })))
    }
    yield* emit(a.json, { dryRun: a.dryRun, removed: remove.map((r) => r.id), kept: keep.map((k) => ({ id: k.id, reasons: k.reasons })) }, () =>
      [
        ...keep.map((k) => `keep   ${k.id}  ${formatTime(k.time)}  (${k.reasons.join(", ")})`),
        ...remove.map((r) => `${a.dryRun ? "would remove" : "remove"} ${r.id}  ${formatTime(r.time)}`),
        `${remove.length} backup(s) ${a.dryRun ? "would be " : ""}forgotten${remove.length > 0 && !a.dryRun ? "; run `enigma gc` to reclaim their space" : ""}`
      ].join("\n"))
  }))
})).pipe(Command.withDescription("Forget backups by id or by retention policy (then run gc)"))

/**
 * gc: under the repository lock (so no backup runs meanwhile), marks backups that never committed
 * as abandoned, then deletes chunks no committed backup references, and chunk objects in the
 * providers that the manifest does not know (left by a crash between upload and record).
 */
export const gcCommand = Command.make("gc", { dryRun: dryRunFlag, json: jsonFlag }, Effect.fn("cli.gc")(function*({ dryRun, json }) {
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "gc", true, Effect.gen(function*() {
    const manifest = yield* Manifest
    const chunks = yield* ChunkStore
    const log = yield* EventLog
    const running = yield* manifest.backups("running")
    if (!dryRun && running.length > 0) {
      yield* log.append(running.map((b) => ({ _tag: "BackupAbandoned" as const, backupId: b.id, at: Date.now() })))
    }
    const unreferenced = yield* manifest.unreferencedChunks
    // In a dry run the running (dead) backups are still in the tables: leave their chunks out.
    const pinned = new Set<string>()
    if (dryRun) for (const b of running) for (const c of yield* manifest.chunksOf(b.id)) pinned.add(c)
    const toDelete = unreferenced.filter((c) => !pinned.has(c.id))
    const known = yield* manifest.allChunkIds
    const orphans: Array<{ provider: string; key: string }> = []
    for (const p of opened.providers) {
      const keys = yield* p.list(ObjectKeys.chunkPrefix).pipe(Stream.runCollect)
      for (const key of keys) {
        const id = ObjectKeys.chunkIdOf(key)
        if (isChunkId(id) && !known.has(id)) orphans.push({ provider: p.name, key })
      }
    }
    if (!dryRun) {
      yield* Effect.forEach(toDelete, (c) => chunks.remove(c.id), { concurrency: 8, discard: true })
      yield* Effect.forEach(orphans, (o) => opened.providers.find((p) => p.name === o.provider)!.delete(o.key), { concurrency: 8, discard: true })
    }
    const bytes = toDelete.reduce((a, c) => a + c.storedSize, 0)
    yield* emit(json, { dryRun, abandonedBackups: running.map((b) => b.id), deletedChunks: toDelete.map((c) => c.id), reclaimedBytes: bytes, orphanObjects: orphans.map((o) => `${o.provider}:${o.key}`) }, () =>
      [
        ...(running.length > 0 ? [`${dryRun ? "would abandon" : "abandoned"} ${running.length} incomplete backup(s): ${running.map((b) => b.id).join(", ")}`] : []),
        ...(dryRun ? toDelete.map((c) => `would delete chunk ${c.id} (${formatBytes(c.storedSize)})`) : []),
        `${dryRun ? "would delete" : "deleted"} ${toDelete.length} unreferenced chunk(s), ${formatBytes(bytes)}; ${orphans.length} orphaned object(s)`
      ].join("\n"))
  }))
})).pipe(Command.withDescription("Delete chunks that no backup references (--dry-run to list them)"))

export const unlockCommand = Command.make("unlock", {
  all: Flag.Boolean("remove-all").pipe(Flag.withDescription("Remove every lock, not only stale ones"), Flag.withDefault(false))
}, Effect.fn("cli.unlock")(function*({ all }) {
  const opened = yield* unlock(yield* rootCommand)
  const removed = yield* removeLocks(opened.providers, all)
  yield* print(removed.length === 0 ? "no stale locks" : removed.map((r) => `removed lock: ${r}`).join("\n"))
})).pipe(Command.withDescription("Remove stale repository locks"))
