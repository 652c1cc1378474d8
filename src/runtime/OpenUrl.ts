import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { homedir } from "node:os"
import * as path from "node:path"
import { Effect, Option, Redacted, Schema } from "effect"
import { ChunkIdHash, legacyChunkIdHash, newChunkIdHash } from "../domain/ChunkIdHash.ts"
import { RepositoryNotFound, UserError, WrongKey } from "../domain/Errors.ts"
import { parseRepoUrl, type RepoLocation } from "../domain/RepoUrl.ts"
import { defaultSettings, type EnigmaSettings, type ProviderSettings } from "../domain/Settings.ts"
import { makeDirectories } from "../services/MakeDirectories.ts"
import { Keys, RAW_KEY_MARKER, rawKeyRing, type KeyRing } from "../services/keys/Keys.ts"
import { withPrefix } from "../services/storage/Prefixed.ts"
import { Keys as ObjectKeys, type StorageProvider } from "../services/storage/StorageProvider.ts"
import { readKeySpec } from "./KeySpec.ts"
import type { GlobalOptions, Opened } from "./Open.ts"
import { getPassphrase } from "./Passphrase.ts"
import { buildProviders } from "./Providers.ts"

/**
 * A raw-key repository's marker. Version 2 names its chunk-id hash; version 1 (before there was a
 * choice) means HMAC-SHA256. A build that knows only version 1 refuses a version 2 marker.
 */
const RawKeyMarker = Schema.Union([
  Schema.Struct({ version: Schema.Literal(1), repositoryId: Schema.String, check: Schema.String }),
  Schema.Struct({ version: Schema.Literal(2), repositoryId: Schema.String, check: Schema.String, chunkIdHash: ChunkIdHash })
])
const decodeMarker = Schema.decodeUnknownOption(Schema.fromJsonString(RawKeyMarker))

/**
 * Where the local state of a URL repository lives: its manifest database is a cache of the log
 * kept in the provider, rebuilt from there when missing (`$ENIGMA_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/enigma`, else `~/.cache/enigma`).
 */
const stateDirOf = (url: string) => {
  const root = process.env.ENIGMA_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "enigma")
  return path.join(root, "repos", createHash("sha256").update(url).digest("hex").slice(0, 16))
}

const providerFor = (loc: RepoLocation, global: GlobalOptions): ProviderSettings => {
  const endpoint = Option.getOrUndefined(global.endpointUrl ?? Option.none())
  const region = Option.getOrUndefined(global.region ?? Option.none()) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION
  const name = loc.scheme === "file" ? "local" : loc.scheme
  switch (loc.scheme) {
    case "file":
      return { name, type: "Local", bucket: loc.bucket }
    case "s3":
      return {
        name,
        type: endpoint ? "S3Compatible" : "S3",
        bucket: loc.bucket,
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint_url: endpoint } : {})
      }
    case "azure":
      return { name, type: "Azure", bucket: loc.bucket, ...(endpoint ? { endpoint_url: endpoint } : {}) }
    case "gs":
      return { name, type: "Gcs", bucket: loc.bucket, ...(endpoint ? { endpoint_url: endpoint } : {}) }
  }
}

const notThere = (url: string) =>
  new RepositoryNotFound({ path: url, hint: `nothing is stored there yet; \`enigma put NAME --repo ${url}\` creates a repository` })

/**
 * Opens (with `create`, first creates) the repository at a URL, without a config dir: s3duct's
 * "no setup" mode. With `--key`, every secret derives from that key and the provider holds only
 * a check value; without it, the passphrase-sealed keystore lives in the provider as usual.
 */
export const openUrl = (global: GlobalOptions, url: string, options: { readonly create: boolean }) =>
  Effect.gen(function*() {
    const loc = parseRepoUrl(url)
    if (typeof loc === "string") return yield* new UserError({ detail: loc })
    const dir = stateDirOf(url)
    yield* Effect.try({
      try: () => makeDirectories(dir, 0o700),
      catch: (e) => new UserError({ detail: `cannot create the local state dir ${dir}: ${(e as Error).message}` })
    })
    // A bad --key is found here, before the provider is asked anything (credentials, network).
    const keySpec = Option.getOrUndefined(global.key ?? Option.none())
    const key = keySpec === undefined ? undefined : yield* readKeySpec(keySpec)
    const base = defaultSettings(dir)
    const settings: EnigmaSettings = { ...base, providers: [providerFor(loc, global)] }
    const providers: ReadonlyArray<StorageProvider> = (yield* buildProviders(url, settings)).map((p) => withPrefix(p, loc.prefix))
    const provider = providers[0]!
    const markerBytes = yield* provider.get(RAW_KEY_MARKER).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(Option.none<Uint8Array>()))
    )
    const hasKeystore = (yield* provider.head(ObjectKeys.keystore)) !== undefined
    let ring: KeyRing
    let passphrase = Redacted.make("")
    let created = false
    if (key !== undefined) {
      if (Option.isSome(markerBytes)) {
        const marker = decodeMarker(Buffer.from(markerBytes.value).toString("utf8"))
        if (Option.isNone(marker)) return yield* new UserError({ detail: `${url}/${RAW_KEY_MARKER} is not an Enigma key marker` })
        const { ring: keyRing, check } = rawKeyRing(key, marker.value.version === 2 ? marker.value.chunkIdHash : legacyChunkIdHash)
        if (marker.value.check !== check) return yield* new WrongKey({ repository: url })
        ring = keyRing
      } else if (hasKeystore) {
        return yield* new UserError({ detail: `the repository at ${url} is protected by a passphrase, not a raw key; drop --key` })
      } else {
        if (!options.create) return yield* notThere(url)
        const { ring: keyRing, check } = rawKeyRing(key, newChunkIdHash)
        ring = keyRing
        yield* provider.create ?? provider.check
        const marker: typeof RawKeyMarker.Type = { version: 2, repositoryId: ring.repositoryId, check, chunkIdHash: newChunkIdHash }
        yield* provider.put(RAW_KEY_MARKER, Buffer.from(JSON.stringify(marker)))
        created = true
      }
    } else {
      if (Option.isSome(markerBytes)) {
        return yield* new UserError({ detail: `the repository at ${url} is encrypted with a raw key; give it with --key (hex:…, file:PATH or env:VAR)` })
      }
      const keys = yield* Keys
      if (hasKeystore) {
        passphrase = yield* getPassphrase(global)
        const sealed = yield* provider.get(ObjectKeys.keystore)
        ring = yield* keys.openBytes(sealed, passphrase, undefined, `${url}/${ObjectKeys.keystore}`)
      } else {
        if (!options.create) return yield* notThere(url)
        passphrase = yield* getPassphrase(global, { confirm: true })
        yield* provider.create ?? provider.check
        fs.rmSync(base.enigma.keyfile_path, { force: true }) // left by a creation that did not finish
        ring = yield* keys.create({ keyfilePath: base.enigma.keyfile_path, passphrase, kemMode: "embedded" })
        yield* provider.put(ObjectKeys.keystore, ring.sealed)
        created = true
      }
    }
    // The cached manifest must belong to this repository (the location may have been emptied
    // and reused): if not, set it aside; it is rebuilt from the provider's log.
    const idFile = path.join(dir, "repository-id")
    const cachedId = fs.existsSync(idFile) ? fs.readFileSync(idFile, "utf8").trim() : undefined
    if (cachedId !== ring.repositoryId) {
      for (const suffix of ["", "-wal", "-shm"]) {
        const f = `${base.enigma.db_path}${suffix}`
        if (fs.existsSync(f)) fs.renameSync(f, `${base.enigma.db_path}.stale-${Date.now()}${suffix}`)
      }
      fs.writeFileSync(idFile, `${ring.repositoryId}\n`)
    }
    return { dir, file: url, settings, providers, ring, passphrase, remote: { url, created } } satisfies Opened
  })
