import { Effect, Option, Stream } from "effect"
import { defaultGroupBy, groupKey, selects } from "../../domain/BackupFilter.ts"
import { UserError } from "../../domain/Errors.ts"
import type { FileEntry } from "../../domain/Events.ts"
import { sizeColumn, typeChar } from "../../domain/Listing.ts"
import { rootPlacesOf } from "../../domain/ExcludeRules.ts"
import { findMatches, globProblem } from "../../domain/PathFilter.ts"
import { Maintenance } from "../../services/maintenance/Maintenance.ts"
import { describeLock, isStale, listLocks } from "../../services/Lock.ts"
import { Manifest } from "../../services/manifest/Manifest.ts"
import { ChunkStore } from "../../services/ChunkStore.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { configLocation, loadConfig, maskSecrets, renderConfig } from "../Config.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, formatBytes, formatTime } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { backupFilter } from "./backupFilter.ts"

export const list = Effect.fn("cli.list")(function*(a: {
  readonly json: boolean
  readonly prefix: Option.Option<string>
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
  readonly latest: Option.Option<number>
}) {
  const { json, prefix } = a
  const filter = yield* backupFilter(a)
  if (Option.isSome(a.latest) && a.latest.value < 1) return yield* new UserError({ detail: "--latest must be 1 or more" })
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "list", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    // --prefix (s3duct's list filter) selects streams by name; backups have no name, so none match.
    // --tag and --path select backups (streams have key=value tags of their own, shown but not
    // selected by it); --host selects both.
    const selected = Option.isSome(prefix) ? [] : (yield* manifest.backups("committed")).filter((b) => selects(filter, b))
    const rows = Option.isSome(a.latest) ? newestOfEachGroup(selected, a.latest.value) : selected
    const streams = (yield* manifest.streams())
      .filter((s) => (Option.isNone(prefix) || s.name.startsWith(prefix.value)) && (filter.hosts.length === 0 || filter.hosts.includes(s.host)))
    const backupLines = [
      `${"ID".padEnd(16)}  ${"Time".padEnd(20)}  ${"Host".padEnd(12)}  ${"Files".padStart(7)}  ${"Size".padStart(10)}  Paths`,
      ...rows.map((b) =>
        `${b.id}  ${formatTime(b.startedAt).padEnd(20)}  ${b.host.slice(0, 12).padEnd(12)}  ${String(b.stats?.files ?? 0).padStart(7)}  ${formatBytes(b.stats?.bytes ?? 0).padStart(10)}  ${b.paths.join(", ")}${b.tags.length > 0 ? `  [${b.tags.join(",")}]` : ""}`
      ),
      `${rows.length} backup(s)`
    ]
    const streamLines = [
      `${"Stream".padEnd(24)}  ${"Time".padEnd(20)}  ${"Host".padEnd(12)}  ${"Chunks".padStart(7)}  ${"Size".padStart(10)}  Tags`,
      ...streams.map((s) =>
        `${s.name.padEnd(24)}  ${formatTime(s.startedAt).padEnd(20)}  ${s.host.slice(0, 12).padEnd(12)}  ${String(s.chunks).padStart(7)}  ${formatBytes(s.bytes).padStart(10)}  ${[...s.tags.map(([k, v]) => `${k}=${v}`), ...(s.ageRecipients ? ["(age)"] : s.unencrypted ? ["(unencrypted)"] : [])].join(",")}${s.status === "running" ? "  (interrupted: put it again to resume)" : ""}`
      ),
      `${streams.length} stream(s)`
    ]
    // One array, as before streams existed: each entry says what it is.
    yield* emit(json, [
      ...rows.map((b) => ({ type: "backup", id: b.id, time: new Date(b.startedAt).toISOString(), host: b.host, paths: b.paths, tags: b.tags, parent: b.parent ?? null, ...b.stats })),
      ...streams.map((s) => ({
        type: "stream",
        name: s.name,
        id: s.id,
        status: s.status === "committed" ? "complete" : "interrupted",
        time: new Date(s.startedAt).toISOString(),
        host: s.host,
        chunks: s.chunks,
        bytes: s.bytes,
        chunking: s.chunking,
        encryption: s.unencrypted ? "none" : s.ageRecipients ? `age:${s.ageRecipients.join(",")}` : "repository",
        storageClass: s.storageClass ?? null,
        tags: Object.fromEntries(s.tags)
      }))
    ], () =>
      rows.length === 0 && streams.length === 0
        ? Option.isSome(prefix) ? `no streams named ${prefix.value}…` : "no backups or streams yet"
        : [...(rows.length > 0 ? backupLines : []), ...(rows.length > 0 && streams.length > 0 ? [""] : []), ...(streams.length > 0 ? streamLines : [])].join("\n"))
  }))
})

/** restic's `snapshots --latest N`: the N newest backups of each host and set of paths, in the order given (oldest first). */
const newestOfEachGroup = <B extends { readonly host: string; readonly paths: ReadonlyArray<string>; readonly tags: ReadonlyArray<string> }>(backups: ReadonlyArray<B>, n: number) => {
  const seen = new Map<string, number>()
  const keep = new Set<B>()
  for (const b of [...backups].reverse()) {
    const key = groupKey(defaultGroupBy, b)
    const count = seen.get(key) ?? 0
    if (count < n) keep.add(b)
    seen.set(key, count + 1)
  }
  return backups.filter((b) => keep.has(b))
}

export const status = Effect.fn("cli.status")(function*({ json }: { readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "status", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const totals = yield* manifest.totals
    const byProvider = yield* manifest.chunksByProvider
    // What a lost provider, a raised `copies` or a provider taken out of the config left short.
    // The placement rule's own numbers (ChunkStore): copies on a provider being drained do not count.
    const { copiesWanted: wantedCopies, draining } = yield* ChunkStore
    const fewerCopies = yield* manifest.fewerCopies(wantedCopies, opened.providers.map((p) => p.name).filter((n) => !draining.has(n)))
    // Backups begun and not committed: running now (the lock says so) or left by a killed run.
    const unfinished = (yield* manifest.backups("running")).length
    const providers = yield* Effect.forEach(opened.providers, (p) =>
      p.check.pipe(
        Effect.andThen(p.list(ObjectKeys.chunkPrefix).pipe(Stream.runCount)),
        Effect.map((objects) => ({ name: p.name, type: p.kind, reachable: true, error: null as string | null, objects })),
        Effect.catch((e) => Effect.succeed({ name: p.name, type: p.kind, reachable: false, error: e.message, objects: 0 }))
      ))
    // Who holds the repository lock, once per lock (each is written to most providers).
    const found = yield* listLocks(opened.providers.filter((_, i) => providers[i]!.reachable)).pipe(Effect.orElseSucceed(() => []))
    const now = Date.now()
    const locks = [...new Map(found.map((l) => [l.key, l])).values()].map((l) =>
      l.info === undefined
        ? { key: l.key, command: null, host: null, pid: null, since: null, stale: false, description: `an unreadable lock ${l.key}` }
        : {
          key: l.key,
          command: l.info.command,
          host: l.info.host,
          pid: l.info.pid,
          since: new Date(l.info.createdAt).toISOString(),
          stale: isStale(l.info, now),
          description: describeLock(l.info)
        }
    )
    // Over the chunks something references: those awaiting gc say nothing of deduplication.
    const dedup = totals.logicalBytes / Math.max(totals.storedBytes - totals.unreferencedBytes, 1)
    const data = {
      repositoryId: opened.ring.repositoryId,
      backups: totals.backups,
      streams: totals.streams,
      objects: totals.objects,
      chunks: totals.chunks,
      logicalBytes: totals.logicalBytes,
      uniqueBytes: totals.uniqueBytes,
      storedBytes: totals.storedBytes,
      unreferencedChunks: totals.unreferencedChunks,
      unreferencedBytes: totals.unreferencedBytes,
      interruptedStreams: totals.interruptedStreams,
      interruptedBytes: totals.interruptedBytes,
      unfinishedBackups: unfinished,
      copies: wantedCopies,
      fewerCopies,
      dedupRatio: dedup,
      currentKeyId: opened.ring.currentKeyId,
      providers: providers.map((p) => ({ ...p, draining: draining.has(p.name), chunks: byProvider.find((b) => b.provider === p.name)?.chunks ?? 0, storedBytes: byProvider.find((b) => b.provider === p.name)?.bytes ?? 0 })),
      locks: locks.map(({ description: _, ...l }) => l)
    }
    yield* emit(json, data, () =>
      [
        `repository ${data.repositoryId} (${opened.dir})`,
        `  backups: ${data.backups}, streams: ${data.streams}, objects: ${data.objects}, chunks: ${data.chunks}, key: ${data.currentKeyId}`,
        `  logical: ${formatBytes(data.logicalBytes)}, unique: ${formatBytes(data.uniqueBytes)}, stored: ${formatBytes(data.storedBytes)}, dedup ratio: ${dedup.toFixed(2)}x`,
        ...(data.unreferencedChunks > 0
          ? [`  unreferenced: ${data.unreferencedChunks} chunks, ${formatBytes(data.unreferencedBytes)} stored (\`enigma gc\` reclaims them)`]
          : []),
        ...(data.interruptedStreams > 0
          ? [`  interrupted: ${data.interruptedStreams} stream(s), ${formatBytes(data.interruptedBytes)} so far (put again to resume, or \`enigma forget NAME\`)`]
          : []),
        ...(fewerCopies > 0
          ? [`  fewer copies: ${fewerCopies} chunk(s) have fewer than ${wantedCopies} on the providers configured (\`enigma repair\` adds them)`]
          : []),
        ...(unfinished > 0
          ? [`  unfinished: ${unfinished} backup(s) begun and not committed: running now, or left by a run that was killed (\`enigma gc\` abandons those and reclaims their chunks)`]
          : []),
        ...locks.map((l) => `  locked by ${l.description}${l.stale ? " (stale: its process is gone or silent; `enigma unlock` removes it)" : ""}`),
        "  providers:",
        ...data.providers.map((p) =>
          `    ${p.name} (${p.type}): ${p.reachable ? "reachable" : `UNREACHABLE: ${p.error}`}, ${p.chunks} chunks, ${formatBytes(p.storedBytes)}` +
            (p.draining ? " (draining: `enigma repair` moves its copies)" : ""))
      ].join("\n"))
  }))
})

export const config = Effect.fn("cli.config")(function*({ json }: { readonly json: boolean }) {
  const root = yield* rootCommand
  const at = configLocation(root)
  const { file, settings } = yield* loadConfig(at.dir, at.file)
  const masked = maskSecrets(settings)
  yield* emit(json, { file, ...masked }, () => `# ${file}\n${renderConfig(masked)}`)
})

/** restic's `diff`: what changed from one backup to another, and how much data each holds that the other does not. */
export const diff = Effect.fn("cli.diff")(function*({ first, second, metadata, json }: {
  readonly first: string
  readonly second: string
  readonly metadata: boolean
  readonly json: boolean
}) {
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "diff", false, Effect.gen(function*() {
    const r = yield* Maintenance.use((m) => m.diff(first, second, { metadata }))
    yield* emit(json, r, () =>
      [
        `comparing backup ${r.first} to ${r.second}:`,
        ...r.changes.map((l) => `${l.change.padEnd(4)} ${l.path}${l.kind === "dir" ? "/" : ""}`),
        `files: ${r.files.new} new, ${r.files.removed} removed, ${r.files.changed} changed`,
        `dirs: ${r.dirs.new} new, ${r.dirs.removed} removed`,
        ...(r.metadataChanged !== undefined ? [`metadata only: ${r.metadataChanged} entries`] : []),
        `added: ${formatBytes(r.addedBytes)} of data the first backup does not have, removed: ${formatBytes(r.removedBytes)}`
      ].join("\n"))
  }))
})

/**
 * restic's `find`: the files, directories and symlinks whose name (or, with a `/` in the pattern,
 * path: PathFilter.findMatches) matches a glob, in every backup (or one), newest backup first.
 */
export const find = Effect.fn("cli.find")(function*({ pattern, backup, json }: {
  readonly pattern: string
  readonly backup: Option.Option<string>
  readonly json: boolean
}) {
  if (pattern === "") return yield* new UserError({ detail: "find needs a pattern: a name (or a glob, e.g. '*.conf'), or a path with /" })
  const problem = globProblem(pattern)
  if (problem !== undefined) return yield* new UserError({ detail: problem.replace("--glob", "pattern") })
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "find", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const backups = Option.isSome(backup) ? [yield* manifest.resolveBackup(backup.value)] : [...(yield* manifest.backups("committed"))].reverse()
    const found: Array<{ backupId: string; time: number; path: string; kind: FileEntry["kind"]; size: number; rdev?: number | undefined; mtime: number }> = []
    // Row by row, without extents: a backup of millions of files is never held whole.
    for (const b of backups) {
      const places = rootPlacesOf(b.paths)
      yield* manifest.eachEntryHead(b.id, (f) => {
        const slash = f.path.indexOf("/")
        if (findMatches(f.path, pattern, places.get(slash < 0 ? f.path : f.path.slice(0, slash)))) found.push({ backupId: b.id, time: b.startedAt, path: f.path, kind: f.kind, size: f.size, ...(f.rdev !== undefined ? { rdev: f.rdev } : {}), mtime: f.mtimeMs })
      })
    }
    yield* emit(json, found, () =>
      found.length === 0
        ? `nothing matches ${pattern} in ${backups.length} backup(s)`
        : [
          ...found.map((f) => `${f.backupId.slice(0, 8)}  ${formatTime(f.time)}  ${typeChar(f.kind)} ${sizeColumn(f, 12)}  ${formatTime(f.mtime)}  ${f.path}`),
          `${found.length} match(es) in ${new Set(found.map((f) => f.backupId)).size} of ${backups.length} backup(s)`
        ].join("\n"))
  }))
})
