import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { KeystoreError, UserError } from "../../domain/Errors.ts"
import { defaultSettings } from "../../domain/Settings.ts"
import { Keys } from "../../services/keys/Keys.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { sealPending } from "../../services/manifest/Segments.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { configFileName, decryptSecrets, parseConfig, readConfigText, resolveConfigDir, writeConfigFile } from "../Config.ts"
import { repositoryLayer } from "../Open.ts"
import { emit } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { buildProviders } from "../Providers.ts"
import { jsonFlag, rootCommand } from "./shared.ts"

/**
 * `enigma init`: writes enigma.toml (unless the user wrote one: then it is kept), the sealed
 * keyfile, the manifest database, and uploads the keyfile to every provider. Refuses when the
 * repository is already initialized, or when a provider already holds a keystore.
 */
export const initCommand = Command.make("init", {
  json: jsonFlag,
  kemKeyFile: Flag.String("kem-key-file").pipe(
    Flag.withDescription("Keep the ML-KEM decapsulation key in this separate file (split mode: opening needs it and the passphrase)"),
    Flag.optional
  )
}, Effect.fn("cli.init")(function*({ json, kemKeyFile }) {
  const root = yield* rootCommand
  const dir = resolveConfigDir(root.configDir)
  const file = path.join(dir, configFileName)
  yield* Effect.try({
    try: () => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }),
    catch: (e) => new UserError({ detail: `cannot create config dir ${dir}: ${(e as Error).message}` })
  })
  const userWroteConfig = fs.existsSync(file)
  let settings = userWroteConfig ? yield* parseConfig(file, yield* readConfigText(file)) : defaultSettings(dir)
  if (Option.isSome(kemKeyFile)) {
    settings = { ...settings, enigma: { ...settings.enigma, kem_key_path: path.resolve(kemKeyFile.value) } }
  }
  const keyfile = settings.enigma.keyfile_path
  const dbPath = settings.enigma.db_path
  if (fs.existsSync(keyfile) && fs.existsSync(dbPath)) {
    return yield* new UserError({ detail: `repository at ${dir} is already initialized (${keyfile} and ${dbPath} exist)` })
  }
  const passphrase = yield* getPassphrase(root.passphrase, { confirm: true })
  const providers = yield* buildProviders(file, yield* decryptSecrets(file, settings, passphrase))
  for (const p of providers) {
    yield* p.check
  }
  const keys = yield* Keys
  let ring
  if (fs.existsSync(keyfile)) {
    // A previous init stopped after writing the keyfile: reuse it (the passphrase must open it).
    ring = yield* keys.open({ keyfilePath: keyfile, passphrase, kemKeyPath: settings.enigma.kem_key_path })
  } else {
    for (const p of providers) {
      if ((yield* p.head(ObjectKeys.keystore)) !== undefined) {
        return yield* new KeystoreError({
          file: `${p.name}:${ObjectKeys.keystore}`,
          detail: `provider ${p.name} already holds a repository; use \`enigma recover\` to connect to it, or choose an empty location`
        })
      }
    }
    ring = yield* keys.create({
      keyfilePath: keyfile,
      passphrase,
      kemMode: settings.enigma.kem_key_path ? "split" : "embedded",
      kemKeyPath: settings.enigma.kem_key_path
    })
  }
  if (!userWroteConfig || Option.isSome(kemKeyFile)) yield* writeConfigFile(file, settings)
  for (const p of providers) yield* p.put(ObjectKeys.keystore, ring.sealed)
  yield* Effect.gen(function*() {
    const log = yield* EventLog
    yield* log.append([{ _tag: "RepositoryInitialized", repositoryId: ring.repositoryId, at: Date.now() }])
    yield* sealPending(log, providers, ring.logKey)
  }).pipe(Effect.provide(repositoryLayer({ dir, file, settings, providers, ring, passphrase })))
  yield* emit(json, { repositoryId: ring.repositoryId, configDir: dir, config: file, keyfile, kemMode: ring.kemMode, providers: providers.map((p) => p.name) }, () =>
    [
      `created repository ${ring.repositoryId} in ${dir}`,
      `  config:    ${file}${userWroteConfig ? " (kept)" : ""}`,
      `  keyfile:   ${keyfile} (${ring.kemMode === "split" ? `ML-KEM key in ${settings.enigma.kem_key_path}` : "ML-KEM key sealed inside"})`,
      `  providers: ${providers.map((p) => p.name).join(", ")}`,
      "Keep the passphrase safe: without it the data cannot be recovered."
    ].join("\n"))
})).pipe(Command.withDescription("Create a repository: config, sealed keyfile, manifest database"))
