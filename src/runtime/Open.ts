import * as fs from "node:fs"
import { Effect, Layer, Option, Redacted } from "effect"
import { KeystoreError, RepositoryNotFound, UserError } from "../domain/Errors.ts"
import { parseDuration } from "../domain/Retry.ts"
import type { EnigmaSettings } from "../domain/Settings.ts"
import { Backup } from "../services/backup/Backup.ts"
import { ChunkStore } from "../services/ChunkStore.ts"
import { Keys, type KeyRing } from "../services/keys/Keys.ts"
import { kemKeyLocationOf } from "../services/keys/KemKeyStore.ts"
import { acquireLockWaiting } from "../services/Lock.ts"
import { EventLog } from "../services/manifest/EventLog.ts"
import { Manifest } from "../services/manifest/Manifest.ts"
import { pullNewestSegments, pullSegments, sealPending } from "../services/manifest/Segments.ts"
import { Repository } from "../services/Repository.ts"
import { Restore } from "../services/restore/Restore.ts"
import { Maintenance } from "../services/maintenance/Maintenance.ts"
import { Pipe } from "../services/pipe/Pipe.ts"
import * as NodeSqliteClient from "../services/sql/NodeSqliteClient.ts"
import type { StorageProvider } from "../services/storage/StorageProvider.ts"
import { configLocation, decryptSecrets, loadConfig } from "./Config.ts"
import { manifestLog, openFailure } from "./ManifestLog.ts"
import { foreignManifest, requireProvidersHoldRepository, warnFewerProvidersThanCopies, warnStrangerProviders } from "./RepositoryChecks.ts"
import { openUrl } from "./OpenUrl.ts"
import { getPassphrase } from "./Passphrase.ts"
import { buildProviders } from "./Providers.ts"

export interface GlobalOptions {
  readonly configDir: string
  /** `--config FILE`: the config file itself, any name (wins over configDir). */
  readonly configFile?: Option.Option<string>
  readonly passphrase: Option.Option<string>
  readonly passphraseFile?: Option.Option<string>
  readonly passphraseCommand?: Option.Option<string>
  readonly limitUpload?: Option.Option<string>
  readonly limitDownload?: Option.Option<string>
  /** A repository URL (s3://…, file:///…): no config dir needed. */
  readonly repo?: Option.Option<string>
  /** A raw key (hex:…, file:…, env:…) for a `--repo` repository. */
  readonly key?: Option.Option<string>
  readonly endpointUrl?: Option.Option<string>
  readonly region?: Option.Option<string>
  /** `--retry-lock 5m`: how long a writer waits for another's lock before exit 11. */
  readonly retryLock?: Option.Option<string>
  /** `--key-hint ID`: the passphrase slot to try first. */
  readonly keyHint?: Option.Option<string>
}

/** Command-line limits win over the config's. */
const withLimitFlags = (s: EnigmaSettings, global: GlobalOptions): EnigmaSettings => {
  const up = global.limitUpload && Option.isSome(global.limitUpload) ? global.limitUpload.value : undefined
  const down = global.limitDownload && Option.isSome(global.limitDownload) ? global.limitDownload.value : undefined
  if (up === undefined && down === undefined) return s
  return {
    ...s,
    enigma: { ...s.enigma, ...(up !== undefined ? { limit_upload: up } : {}), ...(down !== undefined ? { limit_download: down } : {}) }
  }
}

export interface Opened {
  readonly dir: string
  readonly file: string
  readonly settings: EnigmaSettings
  readonly providers: ReadonlyArray<StorageProvider>
  readonly ring: KeyRing
  readonly passphrase: Redacted.Redacted<string>
  /** Set for `--repo URL` repositories: the local database is a cache of the provider's log. */
  readonly remote?: { readonly url: string; readonly created: boolean }
  /** `--retry-lock`: how long to wait for another writer's lock (none: fail at once, exit 11). */
  readonly lockWaitMs?: number
}

/** `--retry-lock`'s duration, checked before anything is opened. */
const lockWaitOf = (global: GlobalOptions) =>
  Effect.gen(function*() {
    if (global.retryLock === undefined || Option.isNone(global.retryLock)) return {}
    const ms = parseDuration(global.retryLock.value)
    if (ms === undefined || ms <= 0) {
      return yield* new UserError({ detail: `--retry-lock "${global.retryLock.value}": give how long to wait for the lock, e.g. 30s, 5m or 2h` })
    }
    return { lockWaitMs: ms }
  })

/** `--key-hint ID` (or ENIGMA_KEY_HINT) as a passphrase id, or the user's error. */
const keyHintOf = (global: GlobalOptions) =>
  Effect.gen(function*() {
    const text = global.keyHint !== undefined ? Option.getOrUndefined(global.keyHint) : undefined
    if (text === undefined) return undefined
    if (!/^[1-9]\d{0,4}$/.test(text.trim())) {
      return yield* new UserError({ detail: `--key-hint "${text}": give a passphrase's id, as \`enigma key list\` shows them (1, 2, …)` })
    }
    return Number(text.trim())
  })

/** Loads config, asks for the passphrase and unlocks the keystore. */
export const unlock = (global: GlobalOptions, options: { readonly create?: boolean } = {}) =>
  Effect.gen(function*() {
    const lockWait = yield* lockWaitOf(global)
    return { ...(yield* unlockRepository(global, options)), ...lockWait } satisfies Opened
  })

const unlockRepository = (global: GlobalOptions, options: { readonly create?: boolean }) =>
  Effect.gen(function*() {
    if (global.repo && Option.isSome(global.repo)) {
      const url = global.repo.value
      return yield* withLimitFlagsOn(openUrl(global, url, { create: options.create ?? false }), global)
    }
    if (global.key && Option.isSome(global.key)) {
      return yield* new UserError({ detail: "--key works with --repo URL only (a config-dir repository has its own keystore)" })
    }
    const { dir, file: configFile } = configLocation(global)
    const { file, settings: raw } = yield* loadConfig(dir, configFile)
    const keyfile = raw.enigma.keyfile_path
    if (!fs.existsSync(keyfile)) {
      return yield* new RepositoryNotFound({
        path: dir,
        hint: `keyfile ${keyfile} is missing; run \`enigma init\` for a new repository or \`enigma recover\` to fetch it from the providers`
      })
    }
    const passphrase = yield* getPassphrase(global)
    const keys = yield* Keys
    const hint = yield* keyHintOf(global)
    const ring = yield* keys.open({ keyfilePath: keyfile, passphrase, kemKey: kemKeyLocationOf(raw.enigma), hint }).pipe(
      // A damaged keyfile: every provider holds the sealed keystore too, and recover fetches it.
      Effect.catchTag("KeystoreError", (e) =>
        Effect.fail(
          e.file === keyfile && !e.detail.includes("ML-KEM key file")
            ? new KeystoreError({ file: e.file, detail: `${e.detail}; \`enigma recover\` writes it again from the providers' copy (keeping this one)` })
            : e
        ))
    )
    const settings = withLimitFlags(yield* decryptSecrets(file, raw, passphrase), global)
    const providers = yield* buildProviders(file, settings)
    return { dir, file, settings, providers, ring, passphrase } satisfies Opened
  })

/** Every service a repository command may use, over the opened repository's database. */
export const repositoryLayer = (opened: Opened) => {
  const base = Layer.mergeAll(
    Layer.succeed(Repository)({
      dir: opened.dir,
      configFile: opened.file,
      settings: opened.settings,
      providers: opened.providers,
      ring: opened.ring
    }),
    NodeSqliteClient.layer({ filename: opened.settings.enigma.db_path, describeOpenFailure: openFailure })
  )
  const log = EventLog.layerNoDeps.pipe(Layer.provideMerge(base))
  const manifest = Manifest.layer.pipe(Layer.provideMerge(log))
  const chunks = ChunkStore.layer.pipe(Layer.provideMerge(manifest))
  return Layer.mergeAll(Backup.layer, Restore.layer, Maintenance.layer, Pipe.layer).pipe(Layer.provideMerge(chunks))
}

const withLimitFlagsOn = <E, R>(open: Effect.Effect<Opened, E, R>, global: GlobalOptions) =>
  Effect.map(open, (o): Opened => ({ ...o, settings: withLimitFlags(o.settings, global) }))

export const requireDatabase = (opened: Opened) =>
  opened.remote !== undefined || fs.existsSync(opened.settings.enigma.db_path)
    ? Effect.void
    : Effect.fail(new RepositoryNotFound({
      path: opened.dir,
      hint: `manifest database ${opened.settings.enigma.db_path} is missing; run \`enigma recover\` to rebuild it from the providers`
    }))

/**
 * Runs `body` against the opened repository. With `write`, it holds the repository lock and
 * seals the new log events into a segment on every provider when done (also after a failure,
 * so chunks that did reach the providers are on record there too).
 *
 * The lock is taken before the repository services are built: the chunk store loads its dedup
 * index when built, and that index must not predate a gc that ran while we waited.
 */
const localLog = (opened: Opened) => manifestLog(opened.settings.enigma.db_path)

/**
 * A URL repository's local database follows the provider's log: events other hosts sealed are
 * imported first (under the lock, for writers), and a new repository gets its first event.
 */
const syncRemoteLog = (opened: Opened) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    yield* pullSegments(log, opened.providers[0]!, opened.ring.logKey)
    if ((yield* log.lastSeq) === 0) {
      yield* log.append([{ _tag: "RepositoryInitialized", repositoryId: opened.ring.repositoryId, at: Date.now() }])
      yield* sealPending(log, opened.providers, opened.ring.logKey)
    }
  })

/**
 * Before a config dir's writer writes (under the lock): events another manifest of the same
 * repository sealed since this one last saw the log (a second machine that ran `recover`), so
 * that this one neither numbers its events over them nor, in gc, takes their chunks for orphans.
 */
const pullForeignEvents = (opened: Opened) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const pulled = yield* pullNewestSegments(log, opened.providers, opened.ring.logKey)
    if (pulled > 0) yield* Effect.logDebug(`imported ${pulled} events another manifest sealed`)
  })

/**
 * Readers of a backup's entries and chunks: they take a shared lock, which keeps gc, forget and
 * rewrite from taking away what they read (and waits for those, as restic's readers do).
 */
const chunkReaders: ReadonlySet<string> = new Set(["restore", "get", "dump", "verify"])

export const withRepository = <A, E, R>(
  opened: Opened,
  command: string,
  write: boolean,
  body: Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    yield* requireDatabase(opened)
    if (!opened.remote) {
      const foreign = yield* foreignManifest(opened.settings.enigma.db_path, opened.ring.repositoryId).pipe(Effect.provide(localLog(opened)))
      if (foreign !== undefined) return yield* new RepositoryNotFound({ path: opened.dir, hint: foreign })
    }
    // The lock belongs to this scope (released when the command ends), so it is taken out here.
    if (write) yield* acquireLockWaiting(opened.providers, command, opened.lockWaitMs)
    else if (chunkReaders.has(command)) yield* acquireLockWaiting(opened.providers, command, opened.lockWaitMs, { shared: true })
    // Under the lock, before the repository's services are built: the checks and imports that
    // need the manifest's log, opened once for all of them.
    if (opened.remote || write || chunkReaders.has(command)) yield* Effect.gen(function*() {
      if (opened.remote) yield* syncRemoteLog(opened)
      else if (write) {
        if (command !== "repair") yield* requireProvidersHoldRepository(opened)
        yield* pullForeignEvents(opened)
      } else if (chunkReaders.has(command)) yield* warnStrangerProviders(opened)
    }).pipe(Effect.provide(localLog(opened)))
    if (write) warnFewerProvidersThanCopies(opened.settings)
    return yield* Effect.gen(function*() {
      const result = yield* Effect.exit(body)
      if (write) {
        const log = yield* EventLog
        yield* sealPending(log, opened.providers, opened.ring.logKey)
      }
      return yield* result
    }).pipe(Effect.provide(repositoryLayer(opened)))
  }).pipe(Effect.scoped)
