import * as fs from "node:fs"
import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { KeystoreError, UserError } from "../../domain/Errors.ts"
import { encryptCredential, Keys } from "../../services/keys/Keys.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { readAllSegments, sealPending } from "../../services/manifest/Segments.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { decryptSecrets, loadConfig, resolveConfigDir } from "../Config.ts"
import { repositoryLayer, unlock, withRepository } from "../Open.ts"
import { emit, print } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { buildProviders } from "../Providers.ts"
import { jsonFlag, rootCommand } from "./shared.ts"

const keyRotate = Command.make("rotate", { json: jsonFlag }, Effect.fn("cli.key.rotate")(function*({ json }) {
  const opened = yield* unlock(yield* rootCommand)
  const rotated = yield* withRepository(opened, "key rotate", true, Effect.gen(function*() {
    const keys = yield* Keys
    const r = yield* keys.rotate(opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, opened.settings.enigma.kem_key_path)
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    yield* (yield* EventLog).append([{ _tag: "KeyRotated", keyId: r.ring.currentKeyId, at: Date.now() }])
    return r.ring
  }))
  yield* emit(json, { currentKeyId: rotated.currentKeyId, keys: rotated.keyIds }, () =>
    `added key ${rotated.currentKeyId}; new chunks are encrypted with it, older chunks stay readable with their keys`)
})).pipe(Command.withDescription("Add a new data key and make it current"))

const keyList = Command.make("list", { json: jsonFlag }, Effect.fn("cli.key.list")(function*({ json }) {
  const opened = yield* unlock(yield* rootCommand)
  const ring = opened.ring
  yield* emit(json, { currentKeyId: ring.currentKeyId, kemMode: ring.kemMode, keys: ring.keyIds }, () =>
    [
      `keystore ${opened.settings.enigma.keyfile_path} (ML-KEM key ${ring.kemMode === "split" ? "in a separate file" : "sealed inside"})`,
      ...ring.keyIds.map((k) => `${k.id === ring.currentKeyId ? "*" : " "} key ${k.id}  created ${k.createdAt}`)
    ].join("\n"))
})).pipe(Command.withDescription("List the data keys"))

export const keyCommand = Command.make("key").pipe(
  Command.withDescription("Manage data keys"),
  Command.withSubcommands([keyRotate, keyList])
)

export const encryptCredCommand = Command.make("encrypt-cred", {
  value: Argument.String("value").pipe(Argument.withDescription("The secret to encrypt for enigma.toml"))
}, Effect.fn("cli.encryptCred")(function*({ value }) {
  const root = yield* rootCommand
  const passphrase = yield* getPassphrase(root.passphrase)
  yield* print(yield* encryptCredential(value, passphrase))
})).pipe(Command.withDescription("Encrypt a credential into an enc:… token for enigma.toml"))

/**
 * recover: from an enigma.toml naming the providers and the passphrase, fetches the sealed
 * keystore and every log segment from the providers and rebuilds keyfile, log and projections.
 */
export const recoverCommand = Command.make("recover", { json: jsonFlag }, Effect.fn("cli.recover")(function*({ json }) {
  const root = yield* rootCommand
  const dir = resolveConfigDir(root.configDir)
  const { file, settings: raw } = yield* loadConfig(dir)
  if (fs.existsSync(raw.enigma.db_path)) {
    return yield* new UserError({ detail: `${raw.enigma.db_path} already exists; recover rebuilds a missing manifest only (move it away first)` })
  }
  const passphrase = yield* getPassphrase(root.passphrase)
  const settings = yield* decryptSecrets(file, raw, passphrase)
  const providers = yield* buildProviders(file, settings)
  let sealed: Uint8Array | undefined
  let source = ""
  for (const p of providers) {
    const got = yield* p.get(ObjectKeys.keystore).pipe(Effect.option)
    if (got._tag === "Some") {
      sealed = got.value
      source = `${p.name}:${ObjectKeys.keystore}`
      break
    }
  }
  if (!sealed) {
    return yield* new KeystoreError({ file: ObjectKeys.keystore, detail: `no provider (${providers.map((p) => p.name).join(", ")}) holds a keystore; check the provider settings in ${file}` })
  }
  const keys = yield* Keys
  const ring = yield* keys.openBytes(sealed, passphrase, settings.enigma.kem_key_path, source)
  const { events, provider } = yield* readAllSegments(providers, ring.logKey)
  const keyfile = settings.enigma.keyfile_path
  if (!fs.existsSync(keyfile)) {
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(dir, { recursive: true })
        fs.writeFileSync(`${keyfile}.tmp`, sealed!, { mode: 0o600 })
        fs.renameSync(`${keyfile}.tmp`, keyfile)
      },
      catch: (e) => new KeystoreError({ file: keyfile, detail: `cannot write: ${(e as Error).message}` })
    })
  }
  const opened = { dir, file, settings, providers, ring, passphrase }
  yield* Effect.gen(function*() {
    const log = yield* EventLog
    yield* log.import(events)
    yield* log.setMeta("sealed_through", String(events.length))
    yield* sealPending(log, providers, ring.logKey)
  }).pipe(Effect.provide(repositoryLayer(opened)))
  const backups = events.filter((e) => e.event._tag === "BackupCommitted").length
  yield* emit(json, { repositoryId: ring.repositoryId, events: events.length, from: provider ?? null, committedBackups: backups }, () =>
    `recovered repository ${ring.repositoryId}: ${events.length} events from ${provider ?? "no provider (empty log)"}, keystore from ${source}; ${backups} committed backup(s) on record`)
})).pipe(Command.withDescription("Rebuild keyfile and manifest from the providers (needs enigma.toml and the passphrase)"))
