import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, type Redacted } from "effect"
import { KeystoreError, UserError } from "../domain/Errors.ts"
import { type ArgonParams, checkNewArgonParams } from "../domain/KeystoreLayout.ts"
import { defaultSettings } from "../domain/Settings.ts"
import { type KemKeyLocation, kemKeyLocationOf } from "../services/keys/KemKeyStore.ts"
import { makeDirectories } from "../services/MakeDirectories.ts"
import { Keys, type KeyRing } from "../services/keys/Keys.ts"
import { EventLog } from "../services/manifest/EventLog.ts"
import { readAllSegments, sealedKey, sealPending } from "../services/manifest/Segments.ts"
import { Keys as ObjectKeys } from "../services/storage/StorageProvider.ts"
import { configFileName, decryptSecrets, loadConfig, parseConfig, readConfigText, writeConfigFile } from "./Config.ts"
import { repositoryLayer } from "./Open.ts"
import { manifestLog } from "./ManifestLog.ts"
import { foreignManifest } from "./RepositoryChecks.ts"
import { buildProviders } from "./Providers.ts"

/**
 * Creates a repository in `dir`: enigma.toml (kept when the user wrote it first), the sealed
 * keyfile, the manifest database, and the keystore in every provider. Refuses an initialized
 * repository and providers that already hold one. A keyfile left by an interrupted init is
 * reused when the passphrase opens it.
 */
export const initRepository = Effect.fn("Repository.init")(function*(options: {
  readonly dir: string
  /** The config file when it is not `dir/enigma.toml` (`--config FILE`). */
  readonly file?: string | undefined
  readonly passphrase: Redacted.Redacted<string>
  readonly kemKeyFile?: string | undefined
  /** The passphrase's Argon2id cost (default DEFAULT_ARGON); a keyfile left by an interrupted init keeps its own. */
  readonly argon?: ArgonParams | undefined
}) {
  const { dir, passphrase } = options
  const badArgon = options.argon === undefined ? undefined : checkNewArgonParams(options.argon)
  if (badArgon !== undefined) return yield* new UserError({ detail: `${badArgon}; choose another Argon2id cost` })
  const file = options.file ?? path.join(dir, configFileName)
  yield* Effect.try({
    try: () => makeDirectories(dir, 0o700),
    catch: (e) => new UserError({ detail: `cannot create config dir ${dir}: ${(e as Error).message}` })
  })
  const userWroteConfig = fs.existsSync(file)
  let settings = userWroteConfig ? yield* parseConfig(file, yield* readConfigText(file)) : defaultSettings(dir)
  if (options.kemKeyFile !== undefined) {
    if (settings.enigma.key_provider !== "local") {
      return yield* new UserError({
        detail: `--kem-key-file keeps the ML-KEM key in a file, and ${file} has key_provider "${settings.enigma.key_provider}", which keeps it in a secret; use one of the two`
      })
    }
    settings = { ...settings, enigma: { ...settings.enigma, kem_key_path: path.resolve(options.kemKeyFile) } }
  }
  const keyfile = settings.enigma.keyfile_path
  if (fs.existsSync(keyfile) && fs.existsSync(settings.enigma.db_path)) {
    return yield* new UserError({ detail: `repository at ${dir} is already initialized (${keyfile} and ${settings.enigma.db_path} exist)` })
  }
  // A database left by an earlier repository here would be taken for this new one's: its chunks
  // for stored (a backup then stores nothing), its event numbers continued.
  if (!fs.existsSync(keyfile) && fs.existsSync(settings.enigma.db_path)) {
    return yield* new UserError({
      detail: `a manifest database is already at ${settings.enigma.db_path}, and no keyfile beside it: move it aside (or delete it) ` +
        "to start a new repository here, or run `enigma recover` to connect this config dir to the repository it belongs to"
    })
  }
  const providers = yield* buildProviders(file, yield* decryptSecrets(file, settings, passphrase))
  // The one place (with a first `put --repo`) that makes a provider's location: every other
  // command only checks it (StorageProvider.create).
  for (const p of providers) yield* p.create ?? p.check
  const keys = yield* Keys
  let ring: KeyRing
  if (fs.existsSync(keyfile)) {
    ring = yield* keys.open({ keyfilePath: keyfile, passphrase, kemKey: kemKeyLocationOf(settings.enigma) })
  } else {
    for (const p of providers) {
      if ((yield* p.head(ObjectKeys.keystore)) !== undefined) {
        return yield* new KeystoreError({
          file: `${p.name}:${ObjectKeys.keystore}`,
          detail: `provider ${p.name} already holds a repository; use \`enigma recover\` to connect to it, or choose an empty location`
        })
      }
    }
    const kemKey = kemKeyLocationOf(settings.enigma)
    ring = yield* keys.create({
      keyfilePath: keyfile,
      passphrase,
      kemMode: kemKey !== undefined ? "split" : "embedded",
      kemKey,
      argon: options.argon
    })
  }
  if (!userWroteConfig || options.kemKeyFile !== undefined) yield* writeConfigFile(file, settings)
  for (const p of providers) yield* p.put(ObjectKeys.keystore, ring.sealed)
  yield* Effect.gen(function*() {
    const log = yield* EventLog
    yield* log.append([{ _tag: "RepositoryInitialized", repositoryId: ring.repositoryId, at: Date.now() }])
    yield* sealPending(log, providers, ring.logKey)
  }).pipe(Effect.provide(repositoryLayer({ dir, file, settings, providers, ring, passphrase })))
  return { ring, file, settings, providers, keptConfig: userWroteConfig }
})

/**
 * What is wrong with the local keyfile, if anything: missing, damaged (a KeystoreError opening
 * it), or fine. A wrong passphrase is an error here, not damage: the keyfile is not replaced.
 */
const localKeyfileState = (keyfile: string, passphrase: Redacted.Redacted<string>, kemKey: KemKeyLocation | undefined) =>
  Effect.gen(function*() {
    if (!fs.existsSync(keyfile)) return { state: "missing" } as const
    const keys = yield* Keys
    return yield* keys.open({ keyfilePath: keyfile, passphrase, kemKey }).pipe(
      Effect.map((ring) => ({ state: "ok", repositoryId: ring.repositoryId } as const)),
      Effect.catchTag("KeystoreError", () => Effect.succeed({ state: "damaged" } as const))
    )
  })

/**
 * Rebuilds a repository's local state from its providers: with only enigma.toml and the
 * passphrase, fetches the sealed keystore and every log segment, writes the keyfile and replays
 * the log into a new manifest database. What is there and sound is kept: with the database in
 * place and only the keyfile missing or damaged, it restores the keyfile alone (a damaged one is
 * kept beside it, renamed); with both sound there is nothing to recover.
 */
export const recoverRepository = Effect.fn("Repository.recover")(function*(options: {
  readonly dir: string
  /** The config file when it is not `dir/enigma.toml` (`--config FILE`). */
  readonly file?: string | undefined
  readonly passphrase: Redacted.Redacted<string>
}) {
  const { dir, passphrase } = options
  const { file, settings: raw } = yield* loadConfig(dir, options.file)
  const keyfile = raw.enigma.keyfile_path
  const local = yield* localKeyfileState(keyfile, passphrase, kemKeyLocationOf(raw.enigma))
  const rebuildManifest = !fs.existsSync(raw.enigma.db_path)
  if (!rebuildManifest && local.state === "ok") {
    return yield* new UserError({
      detail: `nothing to recover: keyfile ${keyfile} opens and ${raw.enigma.db_path} exists (recover rebuilds a missing manifest: move it away first to rebuild it)`
    })
  }
  const settings = yield* decryptSecrets(file, raw, passphrase)
  const providers = yield* buildProviders(file, settings)
  let sealed: Uint8Array | undefined
  let source = ""
  // Why each provider gave none: "missing" says the settings point elsewhere, any other failure
  // (a refused connection, a missing container) is what to fix first.
  const failures: Array<string> = []
  for (const p of providers) {
    const got = yield* Effect.result(p.get(ObjectKeys.keystore))
    if (got._tag === "Success") {
      sealed = got.success
      source = `${p.name}:${ObjectKeys.keystore}`
      break
    }
    if (got.failure.reason !== "NotFound") failures.push(`${p.name}: ${got.failure.message}`)
  }
  if (!sealed) {
    return yield* new KeystoreError({
      file: ObjectKeys.keystore,
      detail: failures.length > 0
        ? `no keystore could be read from the providers (${failures.join("; ")}); fix that and run recover again`
        : `no provider (${providers.map((p) => p.name).join(", ")}) holds a keystore; check the provider settings in ${file}`
    })
  }
  const keys = yield* Keys
  const ring = yield* keys.openBytes(sealed, passphrase, kemKeyLocationOf(settings.enigma), source)
  // What is kept must be this repository's: a keyfile of another (a config dir pointed at other
  // storage) would seal its log unreadably into this one; a manifest of another would have gc
  // take this one's chunks for orphans.
  if (local.state === "ok" && local.repositoryId !== ring.repositoryId) {
    return yield* new KeystoreError({
      file: keyfile,
      detail: `this keyfile is repository ${local.repositoryId}'s, but the providers hold repository ${ring.repositoryId}: ` +
        "move it aside and run `enigma recover` again to take theirs (or point enigma.toml at that repository's storage)"
    })
  }
  if (!rebuildManifest) {
    const foreign = yield* foreignManifest(raw.enigma.db_path, ring.repositoryId).pipe(Effect.provide(manifestLog(raw.enigma.db_path)))
    if (foreign !== undefined) return yield* new UserError({ detail: foreign })
  }
  // A damaged keyfile is kept, renamed: it may still be worth a look, and nothing is thrown away.
  const damagedKept = local.state === "damaged" ? `${keyfile}.damaged-${Date.now()}` : undefined
  if (local.state !== "ok") {
    const bytes = sealed
    yield* Effect.try({
      try: () => {
        makeDirectories(path.dirname(keyfile))
        fs.writeFileSync(`${keyfile}.tmp`, bytes, { mode: 0o600 })
        if (damagedKept !== undefined) fs.renameSync(keyfile, damagedKept)
        fs.renameSync(`${keyfile}.tmp`, keyfile)
      },
      catch: (e) => new KeystoreError({ file: keyfile, detail: `cannot write: ${(e as Error).message}` })
    })
  }
  const keyfileRestored = local.state === "ok" ? undefined : { damagedKept }
  if (!rebuildManifest) {
    return { ring, events: 0, fromProvider: undefined, keystoreSource: source, committedBackups: undefined, keyfileRestored, manifestRebuilt: false }
  }
  const { events, provider } = yield* readAllSegments(providers, ring.logKey)
  yield* Effect.gen(function*() {
    const log = yield* EventLog
    yield* log.import(events)
    // The provider we read from has all of it; the others catch up on the next write.
    if (provider !== undefined) yield* log.setMeta(sealedKey(provider), String(events.length))
  }).pipe(Effect.provide(repositoryLayer({ dir, file, settings, providers, ring, passphrase })))
  return {
    ring,
    events: events.length,
    fromProvider: provider,
    keystoreSource: source,
    committedBackups: events.filter((e) => e.event._tag === "BackupCommitted").length as number | undefined,
    keyfileRestored,
    manifestRebuilt: true
  }
})
