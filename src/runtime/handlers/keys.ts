import { UserError } from "../../domain/Errors.ts"
import { Effect } from "effect"
import { encryptCredential, Keys } from "../../services/keys/Keys.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { configLocation } from "../Config.ts"
import { recoverRepository } from "../Init.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, print } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { rootCommand } from "../commands/shared.ts"

export const keyRotate = Effect.fn("cli.key.rotate")(function*({ json }: { readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  if (opened.ring.kemMode === "raw-key") {
    return yield* new UserError({ detail: "a --key repository has exactly the key you hold; to change it, put the data into a new repository with the new key" })
  }
  if (opened.remote) {
    return yield* new UserError({ detail: "key rotate works on a config-dir repository; for a --repo URL, write a config with that provider (enigma init) and rotate there" })
  }
  const rotated = yield* withRepository(opened, "key rotate", true, Effect.gen(function*() {
    const keys = yield* Keys
    const r = yield* keys.rotate(opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, opened.settings.enigma.kem_key_path)
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    yield* (yield* EventLog).append([{ _tag: "KeyRotated", keyId: r.ring.currentKeyId, at: Date.now() }])
    return r.ring
  }))
  yield* emit(json, { currentKeyId: rotated.currentKeyId, keys: rotated.keyIds }, () =>
    `added key ${rotated.currentKeyId}; new chunks are encrypted with it, older chunks stay readable with their keys`)
})

export const keyList = Effect.fn("cli.key.list")(function*({ json }: { readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  const ring = opened.ring
  yield* emit(json, { currentKeyId: ring.currentKeyId, kemMode: ring.kemMode, chunkIdHash: ring.chunkIdKey.hash, keys: ring.keyIds }, () =>
    [
      `keystore ${opened.settings.enigma.keyfile_path} (ML-KEM key ${ring.kemMode === "split" ? "in a separate file" : "sealed inside"})`,
      `chunk ids: ${ring.chunkIdKey.hash === "blake3" ? "keyed BLAKE3" : "HMAC-SHA256"}`,
      ...ring.keyIds.map((k) => `${k.id === ring.currentKeyId ? "*" : " "} key ${k.id}  created ${k.createdAt}`)
    ].join("\n"))
})

export const encryptCred = Effect.fn("cli.encryptCred")(function*({ value }: { readonly value: string }) {
  const root = yield* rootCommand
  const passphrase = yield* getPassphrase(root.passphrase)
  yield* print(yield* encryptCredential(value, passphrase))
})

export const recover = Effect.fn("cli.recover")(function*({ json }: { readonly json: boolean }) {
  const root = yield* rootCommand
  const passphrase = yield* getPassphrase(root.passphrase)
  const r = yield* recoverRepository({ ...configLocation(root), passphrase })
  yield* emit(json, { repositoryId: r.ring.repositoryId, events: r.events, from: r.fromProvider ?? null, committedBackups: r.committedBackups }, () =>
    `recovered repository ${r.ring.repositoryId}: ${r.events} events from ${r.fromProvider ?? "no provider (empty log)"}, keystore from ${r.keystoreSource}; ${r.committedBackups} committed backup(s) on record`)
})
