/**
 * Enigma for scripts: the CLI's operations as Effects. Each takes the repository's config dir
 * and passphrase, opens the repository, takes the writer lock where it changes something, and
 * seals new log events to the providers — exactly as the CLI does.
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Enigma from "enigma-backup"
 * const repo = { configDir: "/srv/enigma", passphrase: process.env.PASS! }
 * const result = await Effect.runPromise(Enigma.backup(repo, ["/home/me/docs"]))
 * ```
 */
import { Effect, Layer, Option, Redacted, type Stream } from "effect"
import { type BackupFilter, everyBackup, type GroupBy } from "../domain/BackupFilter.ts"
import type { RetentionPolicy } from "../domain/Retention.ts"
import { parseReadSubset } from "../domain/ReadSubset.ts"
import { UserError } from "../domain/Errors.ts"
import { parseBackupTags } from "../domain/BackupTags.ts"
import type { ArgonParams } from "../domain/KeystoreLayout.ts"
import { Backup, type BackupOptions } from "../services/backup/Backup.ts"
import { Keys } from "../services/keys/Keys.ts"
import { Maintenance, type VerifyProgress } from "../services/maintenance/Maintenance.ts"
import { repairRepository } from "../services/maintenance/Repair.ts"
import { Manifest } from "../services/manifest/Manifest.ts"
import { Pipe, type PutOptions } from "../services/pipe/Pipe.ts"
import { Restore, type RestoreOptions } from "../services/restore/Restore.ts"
import { resolveConfigDir } from "./Config.ts"
import { initRepository, recoverRepository } from "./Init.ts"
import { repositoryLayer, unlock, withRepository } from "./Open.ts"

export interface RepositoryOptions {
  readonly configDir: string
  readonly passphrase: string
}

const open = (o: RepositoryOptions) => unlock({ configDir: o.configDir, passphrase: Option.some(o.passphrase) })
const run = <A, E, R>(o: RepositoryOptions, command: string, write: boolean, body: Effect.Effect<A, E, R>) =>
  open(o).pipe(
    Effect.flatMap((opened) => withRepository(opened, command, write, body)),
    Effect.provide(Keys.layer)
  )

/** `argon`: the passphrase's Argon2id cost (memory in KiB), at least OWASP's minimum; default 64 MiB, 3 passes, 4 lanes. */
export const init = (o: RepositoryOptions & { readonly kemKeyFile?: string; readonly argon?: ArgonParams }) =>
  initRepository({ dir: resolveConfigDir(o.configDir), passphrase: Redacted.make(o.passphrase), kemKeyFile: o.kemKeyFile, argon: o.argon }).pipe(
    Effect.map((r) => ({ repositoryId: r.ring.repositoryId, configFile: r.file })),
    Effect.provide(Keys.layer)
  )

export const recover = (o: RepositoryOptions) =>
  recoverRepository({ dir: resolveConfigDir(o.configDir), passphrase: Redacted.make(o.passphrase) }).pipe(
    Effect.map(({ ring: _ring, ...rest }) => rest),
    Effect.provide(Keys.layer)
  )

export const backup = (o: RepositoryOptions, paths: ReadonlyArray<string>, options: Omit<BackupOptions, "onProgress"> = {}) =>
  run(o, "backup", true, Backup.use((b) => b.run(paths, options)))

/** Which backups `latest` means (`--host`, `--tag`): the newest one `filter` selects; an id must name one it selects. */
interface LatestOf {
  readonly filter?: Partial<BackupFilter>
}
const resolve = (backupId: string, filter: Partial<BackupFilter> | undefined) =>
  Manifest.use((m) => m.resolveBackup(backupId, { ...everyBackup, ...filter }))

export const restore = (o: RepositoryOptions, backupId: string, dest: string, options: RestoreOptions & LatestOf = {}) =>
  run(o, "restore", false, Effect.gen(function*() {
    const b = yield* resolve(backupId, options.filter)
    return yield* (yield* Restore).run(b.id, dest, options)
  }))

/**
 * restic's `dump`: a file's bytes, or a directory (`/`: the whole backup) as a tar archive, given
 * to `write` in order, each chunk verified before any of its bytes.
 */
export const dump = <E>(o: RepositoryOptions, backupId: string, path: string, write: (bytes: Uint8Array) => Effect.Effect<void, E>, options: { readonly windowEntries?: number } & LatestOf = {}) =>
  run(o, "dump", false, Effect.gen(function*() {
    const b = yield* resolve(backupId, options.filter)
    return yield* (yield* Restore).dump(b.id, path, write, options)
  }))

export const listBackups = (o: RepositoryOptions) => run(o, "list", false, Manifest.use((m) => m.backups("committed")))

export const listFiles = (o: RepositoryOptions, backupId: string, options: LatestOf = {}) =>
  run(o, "list files", false, Effect.gen(function*() {
    const b = yield* resolve(backupId, options.filter)
    return yield* Manifest.use((m) => m.files(b.id))
  }))

export const verify = (o: RepositoryOptions, backupId: string, options: { readonly readData?: boolean; readonly onProgress?: VerifyProgress } = {}) =>
  run(o, "verify", false, Maintenance.use((m) => m.verify(backupId, options.readData ?? false, options.onProgress)))

/** What changed between two backups (restic's diff): + - M T, and U too with `metadata`. */
export const diff = (o: RepositoryOptions, first: string, second: string, options: { readonly metadata?: boolean; readonly windowEntries?: number } = {}) =>
  run(o, "diff", false, Maintenance.use((m) => m.diff(first, second, { ...options, metadata: options.metadata ?? false })))

/**
 * Every chunk the repository references (backups, streams, objects): present, and with `readData`
 * intact; with `readDataSubset` ("n/t" or "x%") only that part is read back.
 */
export const verifyRepository = (
  o: RepositoryOptions,
  options: { readonly readData?: boolean; readonly readDataSubset?: string; readonly onProgress?: VerifyProgress } = {}
) =>
  Effect.gen(function*() {
    const subset = options.readDataSubset !== undefined ? parseReadSubset(options.readDataSubset) : undefined
    if (subset !== undefined && "error" in subset) return yield* new UserError({ detail: subset.error })
    return yield* run(o, "verify", false, Maintenance.use((m) => m.verifyRepository(subset ?? options.readData ?? false, options.onProgress)))
  })

export const forget = (
  o: RepositoryOptions,
  target: { readonly ids: ReadonlyArray<string> } | { readonly policy: RetentionPolicy; readonly filter?: BackupFilter; readonly groupBy?: GroupBy },
  options: { readonly dryRun?: boolean } = {}
) => run(o, "forget", !options.dryRun, Maintenance.use((m) => m.forget(target, options.dryRun ?? false)))

/**
 * Changes backups' labels, as `enigma tag`: those `select.ids` names (none: every backup), of
 * them those `select.filter` selects; `change.set` replaces the labels, else `remove` then `add`.
 */
export const tag = (
  o: RepositoryOptions,
  select: { readonly ids?: ReadonlyArray<string>; readonly filter?: Partial<BackupFilter> },
  change: { readonly add?: ReadonlyArray<string>; readonly remove?: ReadonlyArray<string>; readonly set?: ReadonlyArray<string> },
  options: { readonly dryRun?: boolean } = {}
) =>
  Effect.gen(function*() {
    // The labels the CLI's --add, --remove and --set take, and no others (BackupTags.ts).
    const labels = (values: ReadonlyArray<string>, name: string) => {
      const parsed = parseBackupTags(values, name)
      return "error" in parsed ? Effect.fail(new UserError({ detail: parsed.error })) : Effect.succeed(parsed)
    }
    const add = yield* labels(change.add ?? [], "add")
    const remove = yield* labels(change.remove ?? [], "remove")
    const set = change.set === undefined ? undefined : yield* labels(change.set, "set")
    return yield* run(o, "tag", !options.dryRun, Maintenance.use((m) =>
      m.retag({ ids: select.ids ?? [], filter: { ...everyBackup, ...select.filter } }, { add, remove, set }, options.dryRun ?? false)))
  })

export const gc = (o: RepositoryOptions, options: { readonly dryRun?: boolean } = {}) =>
  run(o, "gc", true, Maintenance.use((m) => m.gc(options.dryRun ?? false)))

/** `enigma repair`: every copy back from an intact one, and copies added up to `copies` (Repair.ts). */
export const repair = (o: RepositoryOptions, options: { readonly readData?: boolean; readonly dryRun?: boolean } = {}) =>
  run(o, "repair", !options.dryRun, repairRepository({ readData: options.readData ?? false, dryRun: options.dryRun ?? false }))

/**
 * Pipe mode for scripts: stores `input` (any byte stream) as the stream `name`, resuming an
 * interrupted put of that name, like `… | enigma put NAME`.
 */
export const put = <E>(o: RepositoryOptions, name: string, input: Stream.Stream<Uint8Array, E>, options: Omit<PutOptions, "name"> = {}) =>
  run(o, "put", true, Pipe.use((p) => p.put(input, { ...options, name })))

/** Reads the stream `name`, verifying every chunk; `write` gets the bytes in order. */
export const get = <E>(o: RepositoryOptions, name: string, write: (bytes: Uint8Array) => Effect.Effect<void, E>) =>
  run(o, "get", false, Pipe.use((p) => p.get(name, write)))

export const listStreams = (o: RepositoryOptions) => run(o, "list", false, Manifest.use((m) => m.streams()))

export const status = (o: RepositoryOptions) => run(o, "status", false, Manifest.use((m) => m.totals))

/** Services and layers for scripts that compose their own programs. */
export { Backup, Keys, Maintenance, Manifest, Pipe, Restore }
export { ChunkStore } from "../services/ChunkStore.ts"
export { EventLog } from "../services/manifest/EventLog.ts"
export { Repository } from "../services/Repository.ts"
export { makeLocalProvider } from "../services/storage/LocalProvider.ts"
export type { StorageProvider } from "../services/storage/StorageProvider.ts"
export * from "../domain/Errors.ts"
export type { BackupOptions, BackupResult } from "../services/backup/Backup.ts"
export type { DiffReport, RepositoryVerifyReport, VerifyReport } from "../services/maintenance/Maintenance.ts"
export type { RepairReport } from "../services/maintenance/Repair.ts"
export type { GetResult, PutOptions, PutResult } from "../services/pipe/Pipe.ts"
export type { RetentionPolicy } from "../domain/Retention.ts"

/**
 * Every repository service (Backup, Restore, Maintenance, Manifest, ChunkStore, EventLog…) as one
 * layer, for scripts that compose their own programs. It does not take the writer lock: hold it
 * with `acquireLock` around changes if other writers may run.
 */
export const repositoryLayerFor = (o: RepositoryOptions) =>
  Layer.unwrap(open(o).pipe(Effect.map(repositoryLayer), Effect.provide(Keys.layer)))
export { acquireLock } from "../services/Lock.ts"
