import * as fs from "node:fs"
import { keystoreChangedElsewhere, UserError } from "../../domain/Errors.ts"
import { Effect, Option, Redacted } from "effect"
import { decryptCredential, defaultPassphraseLabel, encryptCredential, Keys, writeKeyfile } from "../../services/keys/Keys.ts"
import { kemKeyLocationOf } from "../../services/keys/KemKeyStore.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { Keys as ObjectKeys } from "../../services/storage/StorageProvider.ts"
import { configLocation, readConfigText, writeConfigText } from "../Config.ts"
import { recoverRepository } from "../Init.ts"
import { type Opened, unlock, withRepository } from "../Open.ts"
import { readListFile } from "./excludeFlags.ts"
import { emit, print } from "../Output.ts"
import { getNewPassphrase, getPassphrase } from "../Passphrase.ts"
import { rootCommand } from "../commands/shared.ts"

/** A repository with a passphrase: what `key passwd/add/remove` change. */
const passphraseRepository = Effect.gen(function*() {
  const opened = yield* unlock(yield* rootCommand)
  if (opened.ring.kemMode === "raw-key") {
    return yield* new UserError({ detail: "a --key repository has no passphrase; its secrets derive from the key you hold" })
  }
  return opened
})

/**
 * A `--repo URL` repository's keystore lives in its provider, and the copy in the local state dir
 * is a cache that may be behind (another machine added a passphrase or a key). Under the lock, a
 * change starts from the provider's copy, so that it never drops what someone else added.
 *
 * A config dir's keyfile holds the same bytes as the providers' copies, unless another machine
 * (a config dir made by `recover`) changed keys or passphrases since: then writing this one's
 * change over theirs would drop a data key their chunks need. That is refused, unless at least
 * one provider holds exactly this keyfile (the others missed an earlier change while down).
 */
const fromProvider = (opened: Opened) =>
  Effect.gen(function*() {
    if (opened.remote) {
      const current = yield* opened.providers[0]!.get(ObjectKeys.keystore)
      yield* writeKeyfile(opened.settings.enigma.keyfile_path, current)
      return
    }
    const keyfile = opened.settings.enigma.keyfile_path
    const local = fs.readFileSync(keyfile)
    let held = 0
    for (const p of opened.providers) {
      const copy = yield* p.get(ObjectKeys.keystore).pipe(Effect.option)
      if (Option.isNone(copy)) continue
      if (local.equals(copy.value)) return
      held++
    }
    if (held > 0) return yield* new UserError({ detail: keystoreChangedElsewhere(keyfile) })
  })

export const keyRotate = Effect.fn("cli.key.rotate")(function*({ json }: { readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  if (opened.ring.kemMode === "raw-key") {
    return yield* new UserError({ detail: "a --key repository has exactly the key you hold; to change it, put the data into a new repository with the new key" })
  }
  const rotated = yield* withRepository(opened, "key rotate", true, Effect.gen(function*() {
    yield* fromProvider(opened)
    const keys = yield* Keys
    const r = yield* keys.rotate(opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, kemKeyLocationOf(opened.settings.enigma))
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    yield* (yield* EventLog).append([{ _tag: "KeyRotated", keyId: r.ring.currentKeyId, at: Date.now() }])
    return r.ring
  }))
  yield* emit(json, { currentKeyId: rotated.currentKeyId, keys: rotated.keyIds }, () =>
    `added key ${rotated.currentKeyId}; new chunks are encrypted with it, older chunks stay readable with their keys`)
})

/** Credential tokens (`enc:…`) in a config file's text. */
const tokensIn = (text: string): Array<string> => [...new Set(text.match(/enc:[A-Za-z0-9_-]+/g) ?? [])]

export const keyPasswd = Effect.fn("cli.key.passwd")(function*({ newPassphrase, newPassphraseFile, json }: { readonly newPassphrase: Option.Option<string>; readonly newPassphraseFile: Option.Option<string>; readonly json: boolean }) {
  const opened = yield* passphraseRepository
  const next = yield* getNewPassphrase({ newPassphrase, newPassphraseFile })
  if (Redacted.value(next) === Redacted.value(opened.passphrase)) {
    return yield* new UserError({ detail: "the new passphrase is the current one; nothing was changed" })
  }
  // Config secrets sealed under the passphrase are re-sealed under the new one, before anything
  // is written. Every token the config uses opened when the repository did; one that does not
  // open now is not in use (a commented-out line, say) and is left as it is, with a warning.
  // A --repo URL repository has no config file (`file` is its URL).
  const text = opened.remote ? "" : yield* readConfigText(opened.file)
  let updated = text
  const tokens: Array<string> = []
  for (const token of tokensIn(text)) {
    const plain = yield* decryptCredential(token, opened.passphrase).pipe(Effect.option)
    if (Option.isNone(plain)) {
      process.stderr.write(`warning: ${opened.file}: ${token.slice(0, 12)}… does not open with the current passphrase (not in use?); left as it is\n`)
      continue
    }
    tokens.push(token)
    updated = updated.split(token).join(yield* encryptCredential(plain.value, next))
  }
  const providers = yield* withRepository(opened, "key passwd", true, Effect.gen(function*() {
    yield* fromProvider(opened)
    const keys = yield* Keys
    const r = yield* keys.changePassphrase(opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, next, kemKeyLocationOf(opened.settings.enigma))
    if (tokens.length > 0) yield* writeConfigText(opened.file, updated)
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    return opened.providers.length
  }))
  yield* emit(json, { changed: true, providers, credentialTokens: tokens.length }, () =>
    `passphrase changed: keystore re-sealed here and on ${providers} provider(s)` +
    (tokens.length > 0 ? `; ${tokens.length} credential token(s) in ${opened.file} re-encrypted` : "") +
    "; the data keys are the same (see `enigma key rotate`)")
})

export const keyAdd = Effect.fn("cli.key.add")(function*({ newPassphrase, newPassphraseFile, label, json }: {
  readonly newPassphrase: Option.Option<string>
  readonly newPassphraseFile: Option.Option<string>
  readonly label: Option.Option<string>
  readonly json: boolean
}) {
  const opened = yield* passphraseRepository
  const next = yield* getNewPassphrase({ newPassphrase, newPassphraseFile })
  const ring = yield* withRepository(opened, "key add", true, Effect.gen(function*() {
    yield* fromProvider(opened)
    const keys = yield* Keys
    const r = yield* keys.addPassphrase(
      opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, next,
      Option.getOrElse(label, defaultPassphraseLabel), kemKeyLocationOf(opened.settings.enigma)
    )
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    return r.ring
  }))
  const added = ring.passphrases[ring.passphrases.length - 1]!
  yield* emit(json, { id: added.id, label: added.label, passphrases: ring.passphrases.length, providers: opened.providers.length }, () =>
    `added passphrase ${added.id} (${added.label}): keystore re-sealed here and on ${opened.providers.length} provider(s); ` +
    `each of the ${ring.passphrases.length} passphrases now opens the repository (enc: tokens in a config stay sealed under the passphrase that made them)`)
})

export const keyRemove = Effect.fn("cli.key.remove")(function*({ id, json }: { readonly id: number; readonly json: boolean }) {
  const opened = yield* passphraseRepository
  const ring = yield* withRepository(opened, "key remove", true, Effect.gen(function*() {
    yield* fromProvider(opened)
    const keys = yield* Keys
    const r = yield* keys.removePassphrase(opened.ring, opened.settings.enigma.keyfile_path, opened.passphrase, id, kemKeyLocationOf(opened.settings.enigma))
    for (const p of opened.providers) yield* p.put(ObjectKeys.keystore, r.sealed)
    return r.ring
  }))
  yield* emit(json, { removed: id, passphrases: ring.passphrases.map((p) => p.id), providers: opened.providers.length }, () =>
    `removed passphrase ${id}: it no longer opens the keystore here or on the ${opened.providers.length} provider(s); ` +
    `${ring.passphrases.length} passphrase(s) left. Whoever used it could have kept the keys it opened, and an old copy of the keystore still opens with it`)
})

export const keyList = Effect.fn("cli.key.list")(function*({ json }: { readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  const ring = opened.ring
  yield* emit(json, {
    currentKeyId: ring.currentKeyId,
    kemMode: ring.kemMode,
    chunkIdHash: ring.chunkIdKey.hash,
    keys: ring.keyIds,
    passphraseId: ring.passphraseId ?? null,
    passphrases: ring.passphrases
  }, () =>
    [
      `keystore ${opened.remote ? `${opened.remote.url}/${ObjectKeys.keystore}` : opened.settings.enigma.keyfile_path} (ML-KEM key ${ring.kemMode === "split" ? "in a separate file" : ring.kemMode === "raw-key" ? "none: --key repository" : "sealed inside"})`,
      `chunk ids: ${ring.chunkIdKey.hash === "blake3" ? "keyed BLAKE3" : "HMAC-SHA256"}`,
      ...(ring.passphrases.length === 0 ? [] : [
        "passphrases (* the one given):",
        ...ring.passphrases.map((p) =>
          `${p.id === ring.passphraseId ? "*" : " "} passphrase ${p.id}  added ${p.createdAt}${p.label === "" ? "" : `  ${p.label}`}`)
      ]),
      "data keys (* the one new chunks use):",
      ...ring.keyIds.map((k) => `${k.id === ring.currentKeyId ? "*" : " "} key ${k.id}  created ${k.createdAt}`)
    ].join("\n"))
})

export const encryptCred = Effect.fn("cli.encryptCred")(function*({ value: given }: { readonly value: string }) {
  // `-`: from stdin, so the secret is not on the command line for `ps` to show (trailing newlines dropped).
  if (given === "-" && process.stdin.isTTY) {
    return yield* new UserError({ detail: "encrypt-cred -: stdin is a terminal; pipe the secret in, e.g. printf %s \"$SECRET\" | enigma encrypt-cred -" })
  }
  const value = given === "-" ? (yield* readListFile("encrypt-cred", "-")).replace(/[\r\n]+$/, "") : given
  if (value === "") return yield* new UserError({ detail: "encrypt-cred needs the value to encrypt, e.g. enigma encrypt-cred \"$AWS_SECRET_ACCESS_KEY\", or - to read it from stdin" })
  const root = yield* rootCommand
  const passphrase = yield* getPassphrase(root)
  yield* print(yield* encryptCredential(value, passphrase))
})

export const recover = Effect.fn("cli.recover")(function*({ json }: { readonly json: boolean }) {
  const root = yield* rootCommand
  const passphrase = yield* getPassphrase(root)
  const r = yield* recoverRepository({ ...configLocation(root), passphrase })
  const kept = r.keyfileRestored?.damagedKept !== undefined ? ` (the damaged one kept as ${r.keyfileRestored.damagedKept})` : ""
  const keyfileNote = r.keyfileRestored === undefined ? "" : `; keyfile written from ${r.keystoreSource}${kept}`
  yield* emit(
    json,
    {
      repositoryId: r.ring.repositoryId,
      manifestRebuilt: r.manifestRebuilt,
      events: r.events,
      from: r.fromProvider ?? null,
      committedBackups: r.committedBackups ?? null,
      keyfileWritten: r.keyfileRestored !== undefined,
      damagedKeyfileKeptAs: r.keyfileRestored?.damagedKept ?? null
    },
    () =>
      r.manifestRebuilt
        ? `recovered repository ${r.ring.repositoryId}: ${r.events} events from ${r.fromProvider ?? "no provider (empty log)"}, keystore from ${r.keystoreSource}; ${r.committedBackups} committed backup(s) on record${keyfileNote}`
        : `recovered the keyfile of repository ${r.ring.repositoryId}: written from ${r.keystoreSource}${kept}; the manifest database was kept as it was`
  )
})
