import { Context, Effect, Layer, Stream } from "effect"
import { isChunkId } from "../../domain/Envelope.ts"
import { ChunkCorrupt, keystoreChangedElsewhere, type NotFound, UserError } from "../../domain/Errors.ts"
import { type BackupFilter, defaultGroupBy, everyBackup, type GroupBy, groupKey, selects } from "../../domain/BackupFilter.ts"
import { applyRetention, isEmptyPolicy, type RetentionPolicy } from "../../domain/Retention.ts"
import { ChunkStore, type ListedCopies } from "../ChunkStore.ts"
import { EventLog, type ManifestError } from "../manifest/EventLog.ts"
import { progressTeller, type VerifyProgress } from "../VerifyProgress.ts"
import { type ChunkReferrers, Manifest } from "../manifest/Manifest.ts"
import { makePlainCodec } from "../ChunkCodec.ts"
import { compareStoredPaths, type DiffLine, entryChange, sameMetadata } from "../../domain/BackupDiff.ts"
import type { FileEntry } from "../../domain/Events.ts"
import { describeReadSubset, inReadSubset, type ReadSubset } from "../../domain/ReadSubset.ts"
import { ChunkCache } from "../restore/ChunkCache.ts"
import { sameBytes } from "./SameBytes.ts"
import { Repository } from "../Repository.ts"
import { Keys as ObjectKeys, type StorageError } from "../storage/StorageProvider.ts"
import { sealedKey } from "../manifest/Segments.ts"
import { keyfileBehind, keyfileState, listedChunks, listingPays, segmentReach, type Unchecked, uncheckedOf, unreachableProviders } from "./ProviderMetadata.ts"

/**
 * A temp file older than this is a dead writer's: gc runs under the repository lock, so no chunk
 * write is in progress, and the only writes that do not need the lock (lock objects) take
 * milliseconds. The margin covers clock differences between hosts sharing a directory.
 */
const incompleteWriteAge = 60 * 60 * 1000

/**
 * Chunk objects the manifest does not know are what a crash leaves between an upload and its
 * record: a few, at most what was in flight. Most of a provider's chunks unknown means the
 * manifest is not this repository's whole story (a stale copy, tables lost), and deleting them
 * would delete the backups it does not know: gc refuses, before it deletes anything.
 */
export const implausibleOrphans = (provider: string, unknown: number, objects: number): string | undefined =>
  unknown > 100 && unknown * 4 > objects
    ? `gc stopped, nothing deleted: the manifest knows none of ${unknown} of the ${objects} chunk objects on provider ${provider}, ` +
      "more than a crash leaves; it may be missing backups that use them. Rebuild it from the providers " +
      "(`enigma --config-dir NEW recover` with this enigma.toml) and run gc from there"
    : undefined

export interface VerifyReport extends Unchecked {
  readonly backupId: string
  readonly chunks: number
  readonly readData: boolean
  readonly bad: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly problem: string; readonly files: ReadonlyArray<string> }>
}

export interface DiffReport {
  readonly first: string
  readonly second: string
  readonly changes: ReadonlyArray<DiffLine>
  /** `changed`: content (M) and kind (T) changes, whatever the entry is now. */
  readonly files: { readonly new: number; readonly removed: number; readonly changed: number }
  readonly dirs: { readonly new: number; readonly removed: number }
  /** With `metadata`: entries whose mode, mtime or owner alone changed. */
  readonly metadataChanged?: number
  /** Plaintext bytes of the chunks the second backup references and the first does not. */
  readonly addedBytes: number
  readonly removedBytes: number
}

/** `verify` with no backup or stream: every chunk anything references. */
export interface RepositoryVerifyReport extends Unchecked {
  readonly chunks: number
  readonly readData: boolean
  /** With a subset: which, and how many chunks it read back (the others were checked for presence). */
  readonly subset?: { readonly spec: string; readonly read: number }
  /** Chunks of streams encrypted to age recipients: only their presence is checked (reading needs the identity). */
  readonly presenceOnly: number
  readonly bad: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly problem: string } & ChunkReferrers>
  /**
   * What a provider lacks of the repository's own objects (ProviderMetadata.ts): its keyfile, or
   * log segments up to what was sealed there; `enigma repair` writes them again.
   */
  readonly providers: ReadonlyArray<{ readonly provider: string; readonly problem: string; readonly fix?: string }>
}

export interface ForgetReport {
  readonly dryRun: boolean
  readonly removed: ReadonlyArray<{ readonly id: string; readonly time: number }>
  readonly kept: ReadonlyArray<{ readonly id: string; readonly time: number; readonly reasons: ReadonlyArray<string> }>
}

/** `enigma tag`: each selected backup's labels before and after (the same when nothing changed). */
export interface RetagReport {
  readonly dryRun: boolean
  readonly backups: ReadonlyArray<{ readonly id: string; readonly time: number; readonly before: ReadonlyArray<string>; readonly after: ReadonlyArray<string> }>
}

/** What `enigma tag` does to each backup's labels: `set` replaces them all, else `remove` then `add`. */
export interface TagChange {
  readonly add: ReadonlyArray<string>
  readonly remove: ReadonlyArray<string>
  readonly set: ReadonlyArray<string> | undefined
}

export interface GcReport {
  readonly dryRun: boolean
  readonly abandonedBackups: ReadonlyArray<string>
  readonly deletedChunks: ReadonlyArray<{ readonly id: string; readonly storedSize: number }>
  readonly orphanObjects: ReadonlyArray<string>
  /** `provider:key` of what writers killed mid-write left behind (Local temp files, S3 multipart uploads). */
  readonly incompleteWrites: ReadonlyArray<string>
  readonly reclaimedBytes: number
}

export type { VerifyProgress }

/**
 * Repository upkeep shared by the CLI and the scripting API: verify, forget, gc. Callers that
 * change the repository (forget, gc) must hold the repository lock (see runtime/Open.ts).
 */
export class Maintenance extends Context.Service<Maintenance, {
  /** `onProgress`: told after each chunk is checked (for a progress line). */
  readonly verify: (backupId: string, readData: boolean, onProgress?: VerifyProgress) => Effect.Effect<VerifyReport, NotFound | UserError>
  readonly verifyRepository: (readData: boolean | ReadSubset, onProgress?: VerifyProgress) => Effect.Effect<RepositoryVerifyReport>
  /** `windowEntries`: each backup's entries read at a time (default 20,000); tests set it small. */
  readonly diff: (first: string, second: string, options: { readonly metadata: boolean; readonly windowEntries?: number }) => Effect.Effect<DiffReport, NotFound | UserError | ChunkCorrupt>
  readonly forget: (
    target: { readonly ids: ReadonlyArray<string> } | { readonly policy: RetentionPolicy; readonly filter?: BackupFilter; readonly groupBy?: GroupBy },
    dryRun: boolean
  ) => Effect.Effect<ForgetReport, NotFound | UserError | ManifestError>
  readonly gc: (dryRun: boolean) => Effect.Effect<GcReport, StorageError | ManifestError | UserError>
  /** Changes the labels of the backups `ids` names (none: every committed one), of them those `filter` selects. */
  readonly retag: (
    select: { readonly ids: ReadonlyArray<string>; readonly filter: BackupFilter },
    change: TagChange,
    dryRun: boolean
  ) => Effect.Effect<RetagReport, NotFound | UserError | ManifestError>
}>()("enigma/services/maintenance/Maintenance") {
  static readonly layer = Layer.effect(Maintenance)(Effect.gen(function*() {
    const repo = yield* Repository
    const manifest = yield* Manifest
    const chunks = yield* ChunkStore
    const log = yield* EventLog

    /** Entries of a backup read at a time to name the files of its bad chunks. */
    const verifyWindow = 50_000
    const verify = Effect.fn("Maintenance.verify")(function*(backupId: string, readData: boolean, onProgress?: VerifyProgress) {
      const backup = yield* manifest.resolveBackup(backupId)
      const ids = yield* manifest.chunksOf(backup.id)
      const unreachable = yield* unreachableProviders(repo)
      const up = repo.providers.filter((p) => !unreachable.has(p.name))
      // Presence from a provider's listing where that takes fewer requests (listingPays): a
      // backup of 100,000 chunks on S3 is then checked in ~100 requests instead of 100,000.
      let listed: ListedCopies | undefined
      if (!readData) {
        const held = new Map((yield* manifest.chunksByProvider).map((p) => [p.provider, p.chunks]))
        listed = yield* listedChunks(up.filter((p) => listingPays(held.get(p.name) ?? 0, ids.length)))
      }
      const told = progressTeller(ids.length, onProgress)
      const failures = yield* Effect.forEach(ids, (c) =>
        chunks.check(c, readData, undefined, listed, unreachable).pipe(
          Effect.map((checked) => checked ? undefined : "unchecked" as const),
          Effect.catch((e: ChunkCorrupt) => Effect.succeed(e)),
          Effect.tap(told)
        ), { concurrency: 8 })
      const badChunks = failures.filter((f): f is ChunkCorrupt => f instanceof ChunkCorrupt)
      // The files each bad chunk holds bytes of: the backup's entries a window at a time.
      const affected = new Map<string, Array<string>>(badChunks.map((e) => [e.chunkId, []]))
      if (affected.size > 0) {
        yield* manifest.eachFilePage(backup.id, verifyWindow, (page) =>
          Effect.sync(() => {
            for (const f of page) {
              for (const id of new Set(f.extents.map((x) => x[0]))) affected.get(id)?.push(f.path)
            }
          }))
      }
      return {
        backupId: backup.id,
        chunks: ids.length,
        readData,
        ...uncheckedOf(unreachable, failures),
        bad: badChunks.map((e) => ({
          chunk: e.chunkId,
          provider: e.provider,
          problem: e.detail,
          files: affected.get(e.chunkId)!
        }))
      }
    })

    const verifyRepository = Effect.fn("Maintenance.verifyRepository")(function*(read: boolean | ReadSubset, onProgress?: VerifyProgress) {
      const referenced = yield* manifest.referencedChunks
      const told = progressTeller(referenced.length, onProgress)
      const plain = makePlainCodec(repo.ring.chunkIdKey)
      const subset = typeof read === "boolean" ? undefined : read
      const readData = read !== false
      const unreachable = yield* unreachableProviders(repo)
      const up = repo.providers.filter((p) => !unreachable.has(p.name))
      // Presence from one listing per provider where it gives sizes (taken after the chunks to
      // check were read: each was stored before it), not a HEAD per copy.
      const listed = readData && subset === undefined ? undefined : yield* listedChunks(up)
      const reads = (id: string) => subset === undefined ? readData : inReadSubset(subset, id)
      let readCount = 0
      const failures = yield* Effect.forEach(referenced, (c) =>
        Effect.suspend(() => {
          const full = reads(c.id) && c.format !== "age"
          if (full) readCount++
          return chunks.check(c.id, full, c.format === "plain" ? plain : undefined, listed, unreachable)
        }).pipe(
          Effect.map((checked) => checked ? undefined : "unchecked" as const),
          Effect.catch((e: ChunkCorrupt) => Effect.succeed(e)),
          Effect.tap(told)
        ), { concurrency: 8 })
      const bad: Array<RepositoryVerifyReport["bad"][number]> = []
      for (const e of failures) {
        if (!(e instanceof ChunkCorrupt)) continue
        bad.push({ chunk: e.chunkId, provider: e.provider, problem: e.detail, ...(yield* manifest.referrersOf(e.chunkId)) })
      }
      // Each provider's keyfile and log, as `recover` from it alone would need them.
      const providers: Array<RepositoryVerifyReport["providers"][number]> = []
      const keyfiles = repo.ring.sealed.length > 0 ? yield* Effect.forEach(up, (p) => Effect.result(keyfileState(p, repo.ring.sealed))) : []
      const behind = keyfileBehind(keyfiles.flatMap((r) => r._tag === "Success" ? [r.success] : []))
      // This machine's keyfile behind the providers' is not for repair to write over theirs.
      if (behind) providers.push({ provider: "-", problem: "this machine's keyfile is behind the providers' keystore", fix: keystoreChangedElsewhere(repo.settings.enigma.keyfile_path) })
      for (const [i, p] of up.entries()) {
        const problem = (detail: string) => void providers.push({ provider: p.name, problem: detail })
        const held = keyfiles[i]
        if (held !== undefined && !behind) {
          if (held._tag === "Failure") problem(`keyfile not checked: ${held.failure.message}`)
          else if (held.success === "missing") problem("keyfile missing")
          else if (held.success === "differs") problem("keyfile is not this repository's current one")
        }
        const through = Number((yield* log.getMeta(sealedKey(p.name))) ?? "0")
        if (through === 0) continue
        const reach = yield* Effect.result(segmentReach(p, readData ? repo.ring.logKey : undefined, false))
        if (reach._tag === "Failure") problem(`log not checked: ${reach.failure.message}`)
        else if (reach.success < through) {
          problem(`log segments reach event ${reach.success} of the ${through} sealed there${readData ? " (or one does not open)" : ""}`)
        }
      }
      return {
        chunks: referenced.length,
        readData,
        ...(subset !== undefined ? { subset: { spec: describeReadSubset(subset), read: readCount } } : {}),
        presenceOnly: readData && subset === undefined ? referenced.filter((c) => c.format === "age").length : 0,
        ...uncheckedOf(unreachable, failures),
        bad,
        providers
      } satisfies RepositoryVerifyReport
    })

    /** Entries of each backup a diff reads at a time. */
    const diffWindow = 20_000
    const diff = Effect.fn("Maintenance.diff")(function*(first: string, second: string, options: { readonly metadata: boolean; readonly windowEntries?: number }) {
      const window = options.windowEntries ?? diffWindow
      const a = yield* manifest.resolveBackup(first)
      const b = yield* manifest.resolveBackup(second)
      const cache = new ChunkCache(chunks.load, 8)
      const changes: Array<DiffLine> = []
      // Both backups' entries in path order, a window at a time, side by side (a merge): memory
      // holds two windows and the changes, however many files the backups have.
      interface Cursor {
        page: ReadonlyArray<FileEntry>
        at: number
        more: boolean
        after: string | undefined
        readonly load: Effect.Effect<void>
      }
      const cursor = (backupId: string): Cursor => {
        const c: Cursor = {
          page: [] as ReadonlyArray<FileEntry>,
          at: 0,
          more: true,
          after: undefined as string | undefined,
          /** The next window, once this one is used up. */
          load: Effect.gen(function*() {
            c.page = yield* manifest.filePage(backupId, c.after, window)
            c.at = 0
            c.more = c.page.length === window
            if (c.page.length > 0) c.after = c.page[c.page.length - 1]!.path
          })
        }
        return c
      }
      const ca = cursor(a.id)
      const cb = cursor(b.id)
      for (;;) {
        if (ca.at === ca.page.length && ca.more) yield* ca.load
        if (cb.at === cb.page.length && cb.more) yield* cb.load
        const x = ca.page[ca.at]
        const y = cb.page[cb.at]
        if (x === undefined && y === undefined) break
        const order = x === undefined ? 1 : y === undefined ? -1 : compareStoredPaths(x.path, y.path)
        if (order <= 0) ca.at++
        if (order >= 0) cb.at++
        const line = entryChange(order <= 0 ? x : undefined, order >= 0 ? y : undefined, true)
        if (line === undefined) continue
        if (line.change === "M" && line.kind === "file" && x!.size === y!.size && (yield* sameBytes(cache, x!.extents, y!.extents))) {
          if (options.metadata && !sameMetadata(x!, y!)) changes.push({ ...line, change: "U" })
          continue
        }
        if (line.change === "U" && !options.metadata) continue
        changes.push(line)
      }
      const sizesA = yield* manifest.chunkSizesOf(a.id)
      const sizesB = yield* manifest.chunkSizesOf(b.id)
      const only = (x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>) => {
        let bytes = 0
        for (const [id, size] of x) if (!y.has(id)) bytes += size
        return bytes
      }
      const count = (change: DiffLine["change"], dirs: boolean) => changes.filter((l) => l.change === change && (l.kind === "dir") === dirs).length
      return {
        first: a.id,
        second: b.id,
        changes,
        files: { new: count("+", false), removed: count("-", false), changed: count("M", false) + count("T", false) + count("T", true) },
        dirs: { new: count("+", true), removed: count("-", true) },
        ...(options.metadata ? { metadataChanged: count("U", false) + count("U", true) } : {}),
        addedBytes: only(sizesB, sizesA),
        removedBytes: only(sizesA, sizesB)
      } satisfies DiffReport
    })

    const forget = Effect.fn("Maintenance.forget")(function*(
      target: { readonly ids: ReadonlyArray<string> } | { readonly policy: RetentionPolicy; readonly filter?: BackupFilter; readonly groupBy?: GroupBy },
      dryRun: boolean
    ) {
      const removed: Array<{ id: string; time: number }> = []
      const kept: Array<{ id: string; time: number; reasons: ReadonlyArray<string> }> = []
      if ("policy" in target) {
        if (isEmptyPolicy(target.policy)) return yield* new UserError({ detail: "the retention policy keeps nothing; give at least one --keep-* of 1 or more" })
        // Like restic, retention applies per group: by default, per host and set of paths.
        const groupBy = target.groupBy ?? defaultGroupBy
        const groups = new Map<string, Array<{ id: string; time: number; tags: ReadonlyArray<string> }>>()
        for (const b of yield* manifest.backups("committed")) {
          // With a filter (--tag, --host, --path), the policy applies to the backups it selects; the others are untouched.
          if (!selects(target.filter ?? everyBackup, b)) continue
          const key = groupKey(groupBy, b)
          groups.set(key, [...(groups.get(key) ?? []), { id: b.id, time: b.startedAt, tags: b.tags }])
        }
        for (const items of groups.values()) {
          const d = applyRetention(items, target.policy)
          removed.push(...d.remove.map((r) => ({ id: r.id, time: r.time })))
          kept.push(...d.keep.map((k) => ({ id: k.item.id, time: k.item.time, reasons: k.reasons })))
        }
      } else {
        for (const id of target.ids) {
          const b = yield* manifest.resolveBackup(id)
          if (!removed.some((r) => r.id === b.id)) removed.push({ id: b.id, time: b.startedAt })
        }
      }
      if (!dryRun && removed.length > 0) {
        yield* log.append(removed.map((r) => ({ _tag: "BackupForgotten" as const, backupId: r.id, at: Date.now() })))
      }
      return { dryRun, removed, kept }
    })

    /**
     * Marks backups that never committed as abandoned, then deletes chunks no committed backup
     * references and chunk objects the manifest does not know (left by a crash between upload
     * and record). Safe only under the repository lock: no backup runs meanwhile.
     */
    const gc = Effect.fn("Maintenance.gc")(function*(dryRun: boolean) {
      // First, before anything changes: which chunk objects the manifest does not know, and whether that is plausible.
      const known = yield* manifest.allChunkIds
      const orphans: Array<{ provider: string; key: string }> = []
      for (const p of repo.providers) {
        const keys = yield* p.list(ObjectKeys.chunkPrefix).pipe(Stream.runCollect)
        let objects = 0
        let unknown = 0
        for (const key of keys) {
          const id = ObjectKeys.chunkIdOf(key)
          // Only where this repository puts a chunk: another repository whose prefix lies inside
          // this one's chunks/ (a --repo URL nested in another) holds objects gc must not touch.
          if (!isChunkId(id) || key !== ObjectKeys.chunk(id)) continue
          objects++
          if (known.has(id)) continue
          unknown++
          orphans.push({ provider: p.name, key })
        }
        const problem = implausibleOrphans(p.name, unknown, objects)
        if (problem !== undefined) return yield* new UserError({ detail: problem })
      }
      const running = yield* manifest.backups("running")
      if (!dryRun && running.length > 0) {
        yield* log.append(running.map((b) => ({ _tag: "BackupAbandoned" as const, backupId: b.id, at: Date.now() })))
      }
      const unreferenced = yield* manifest.unreferencedChunks
      // In a dry run the dead backups are still in the tables: their chunks count as unreferenced too.
      const pinned = new Set<string>()
      if (dryRun) for (const b of running) for (const c of yield* manifest.chunksOf(b.id)) pinned.add(c)
      const toDelete = unreferenced.filter((c) => !pinned.has(c.id))
      const incompleteWrites: Array<string> = []
      for (const p of repo.providers) {
        const sweep = p.sweepIncomplete
        if (sweep === undefined) continue
        const swept = yield* Effect.forEach(ObjectKeys.namespaces, (prefix) => sweep(prefix, incompleteWriteAge, dryRun)).pipe(
          Effect.map((found) => found.flat()),
          // Housekeeping: a store that cannot list incomplete uploads (s3rver, some S3 clones) must not stop gc.
          Effect.catch((e) =>
            Effect.as(
              Effect.logWarning(`${e.message}; incomplete uploads there are not cleaned up (on S3, a lifecycle rule AbortIncompleteMultipartUpload does it)`),
              [] as ReadonlyArray<string>
            ))
        )
        for (const key of swept) incompleteWrites.push(`${p.name}:${key}`)
      }
      if (!dryRun) {
        yield* chunks.remove(toDelete.map((c) => c.id))
        yield* Effect.forEach(orphans, (o) => repo.providers.find((p) => p.name === o.provider)!.delete(o.key), { concurrency: 8, discard: true })
      }
      return {
        dryRun,
        abandonedBackups: running.map((b) => b.id),
        deletedChunks: toDelete,
        orphanObjects: orphans.map((o) => `${o.provider}:${o.key}`),
        incompleteWrites,
        reclaimedBytes: toDelete.reduce((a, c) => a + c.storedSize, 0)
      }
    })

    const retag = Effect.fn("Maintenance.retag")(function*(
      select: { readonly ids: ReadonlyArray<string>; readonly filter: BackupFilter },
      change: TagChange,
      dryRun: boolean
    ) {
      const backups = (yield* manifest.selectBackups(select)).map((b) => {
        const after = change.set !== undefined
          ? [...change.set]
          : [...b.tags.filter((t) => !change.remove.includes(t)), ...change.add.filter((t) => !b.tags.includes(t))]
        return { id: b.id, time: b.startedAt, before: b.tags, after }
      })
      const changed = backups.filter((b) => JSON.stringify(b.before) !== JSON.stringify(b.after))
      if (!dryRun && changed.length > 0) {
        const at = Date.now()
        yield* log.append(changed.map((b) => ({ _tag: "BackupTagged" as const, backupId: b.id, at, tags: b.after })))
      }
      return { dryRun, backups } satisfies RetagReport
    })

    return Maintenance.of({ verify, verifyRepository, diff, forget, gc, retag })
  }))
}
