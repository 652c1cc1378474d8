import { Result, Schema } from "effect"
import { parseListen } from "./Listen.ts"
import { parseDuration } from "./Retry.ts"
import { posix } from "node:path"

/**
 * `enigma.toml`, as in the Enigma seed. Field names are the seed's (snake_case) so existing
 * configs keep working. Decoding rejects unknown fields, so a typo is reported by name
 * instead of being silently ignored.
 */

/** S3's storage classes (`storage_class`, `put --storage-class`). */
export const s3StorageClasses = [
  "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"
] as const

/** Provider types that speak S3 (and so have storage classes). */
export const isS3Type = (type: string) => ["S3", "S3Compatible", "minio", "rustfs", "garage"].includes(type)

export const ProviderType = Schema.Literals(["Local", "S3", "S3Compatible", "minio", "rustfs", "garage", "Azure", "Gcs"])
export type ProviderType = typeof ProviderType.Type

const PositiveInt = Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))

/** A duration such as "60s", "500ms", "2m" or "1h", between `min` and `max` milliseconds. */
const DurationText = (min: number, max: number) =>
  Schema.String.pipe(Schema.check(Schema.makeFilter((s: string) => {
    const ms = parseDuration(s)
    if (ms === undefined) return `expected a duration such as "60s", "500ms", "2m" or "1h", got "${s}"`
    if (ms < min || ms > max) return `expected a duration between ${min} ms and ${max / 1000} s, got "${s}"`
    return undefined
  })))

export const ProviderSettings = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9._-]+$/))),
  type: ProviderType,
  /** Bucket, container, or (Local) directory path. */
  bucket: Schema.String,
  region: Schema.optionalKey(Schema.String),
  weight: Schema.optionalKey(PositiveInt),
  endpoint_url: Schema.optionalKey(Schema.String),
  path_style: Schema.optionalKey(Schema.Boolean),
  access_key: Schema.optionalKey(Schema.String),
  secret_key: Schema.optionalKey(Schema.String),
  /** Azure: a storage connection string (instead of access_key = account, secret_key = key). */
  connection_string: Schema.optionalKey(Schema.String),
  storage_class: Schema.optionalKey(Schema.String),
  /**
   * Being retired: still read, but it takes no new chunks, and `enigma repair` moves its copies
   * to the other providers (then it can leave the config).
   */
  drain: Schema.optionalKey(Schema.Boolean)
})
export type ProviderSettings = typeof ProviderSettings.Type

export const ChunkStrategySettings = Schema.Union([
  Schema.Struct({ Cdc: Schema.Struct({ target_size: PositiveInt.pipe(Schema.check(Schema.isBetween({ minimum: 256, maximum: 256 * 1024 * 1024 }))) }) }),
  Schema.Struct({ Fixed: Schema.Struct({ size: PositiveInt.pipe(Schema.check(Schema.isBetween({ minimum: 256, maximum: 1024 * 1024 * 1024 }))) }) })
])

const NonEmptyText = Schema.String.pipe(Schema.check(Schema.isMinLength(1)))

export const EnigmaSection = Schema.Struct({
  db_path: Schema.String,
  /**
   * Where the ML-KEM decapsulation key lives: "local" (inside the keyfile, or in `kem_key_path`),
   * or a vault: "aws-secretsmanager", "gcp-secretmanager" or "azure-keyvault" (a secret named `kem_secret_name`:
   * opening needs the passphrase and read access to that secret). KemKeyStore.ts.
   */
  key_provider: Schema.Literals(["local", "aws-secretsmanager", "gcp-secretmanager", "azure-keyvault"]),
  keyfile_path: Schema.String,
  /** Split mode: the ML-KEM decapsulation key lives here, outside the passphrase-sealed keyfile. */
  kem_key_path: Schema.optionalKey(Schema.String),
  /** With a vault key_provider: the secret that holds the ML-KEM key (name or ARN). */
  kem_secret_name: Schema.optionalKey(NonEmptyText),
  /** With key_provider = "aws-secretsmanager": its region (else the AWS default chain's). */
  aws_region: Schema.optionalKey(NonEmptyText),
  /** With key_provider = "gcp-secretmanager": the project that holds the secret. */
  gcp_project_id: Schema.optionalKey(NonEmptyText),
  /** With key_provider = "gcp-secretmanager": another endpoint (regional, or an emulator's http:// URL, sent no credentials). */
  gcp_endpoint_url: Schema.optionalKey(NonEmptyText),
  /** With key_provider = "azure-keyvault": the vault, https://NAME.vault.azure.net/. */
  vault_url: Schema.optionalKey(NonEmptyText),
  distribution: Schema.Literals(["RoundRobin", "Weighted"]),
  copies: Schema.optionalKey(PositiveInt),
  chunk_strategy: ChunkStrategySettings,
  compression: Schema.Struct({
    enabled: Schema.Boolean,
    level: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 22 })))
  }),
  /** Concurrent chunk uploads during backup. */
  upload_concurrency: Schema.optionalKey(PositiveInt),
  /** Bandwidth limits for the whole repository, bytes per second: "50M", "1.5G", "800K". */
  limit_upload: Schema.optionalKey(Schema.String),
  limit_download: Schema.optionalKey(Schema.String),
  /** Retries of a transient provider failure (0 = none), with exponential backoff from retry_base_delay. */
  retry_attempts: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 100 })))),
  retry_base_delay: Schema.optionalKey(DurationText(1, 60_000)),
  /** The longest one provider call may take ("60s"), plus 1 s per MiB it moves; then it counts as transient. */
  request_timeout: Schema.optionalKey(DurationText(10, 24 * 3_600_000))
})

/** `HOST:PORT` or `[v6]:PORT`. */
const ListenAddress = Schema.String.pipe(Schema.check(Schema.makeFilter((s: string) =>
  parseListen(s) !== undefined ? undefined : `expected HOST:PORT (e.g. "0.0.0.0:8333"), got "${s}"`)))

const NonEmpty = Schema.String.pipe(Schema.check(Schema.isMinLength(1)))

/** One S3 key pair the gateway accepts; `secret_key` may be an `enc:` token. */
export const S3ProxyUser = Schema.Struct({
  /** A label for logs and metrics; the access key when absent. */
  name: Schema.optionalKey(Schema.String),
  access_key: NonEmpty,
  secret_key: NonEmpty
})

/** `[s3_proxy]`, as in the seed, for `enigma-proxy` / `enigma proxy`. */
export const S3ProxySection = Schema.Struct({
  listen_addr: Schema.optionalKey(ListenAddress),
  access_key: Schema.optionalKey(NonEmpty),
  secret_key: Schema.optionalKey(NonEmpty),
  /** Several key pairs (`[[s3_proxy.users]]`) besides or instead of access_key/secret_key. */
  users: Schema.optionalKey(Schema.Array(S3ProxyUser)),
  default_region: Schema.optionalKey(NonEmpty),
  /** PEM files; both set → HTTPS. */
  tls_cert: Schema.optionalKey(NonEmpty),
  tls_key: Schema.optionalKey(NonEmpty),
  /** Serves Prometheus metrics at http://ADDR/metrics. */
  metrics_addr: Schema.optionalKey(ListenAddress),
  /** Base domains for virtual-hosted-style requests: `bucket.DOMAIN`. */
  virtual_host_domains: Schema.optionalKey(Schema.Array(NonEmpty)),
  /** Large transfers (PUT/UploadPart bodies from 1 MiB, GETs of chunked objects) served at once; more wait (default 16). */
  max_transfers: Schema.optionalKey(PositiveInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1024 })))),
  /** Seconds a large transfer waits for its turn before the proxy answers 503 SlowDown (default 30). */
  transfer_wait_secs: Schema.optionalKey(PositiveInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 86_400 })))),
  /** Seconds a connection may go without sending or receiving a byte before it is closed (default 300). */
  idle_timeout_secs: Schema.optionalKey(PositiveInt.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 86_400 }))))
})
export type S3ProxySection = typeof S3ProxySection.Type

export const EnigmaSettings = Schema.Struct({
  enigma: EnigmaSection,
  providers: Schema.Array(ProviderSettings),
  s3_proxy: Schema.optionalKey(S3ProxySection)
})
export type EnigmaSettings = typeof EnigmaSettings.Type

/** The chunk target size the seed documents as default: 4 MiB. */
export const defaultTargetSize = 4 * 1024 * 1024

/** The config `init` writes when the user has not written one. Paths are absolute. */
export const defaultSettings = (dir: string): EnigmaSettings => ({
  enigma: {
    db_path: `${dir}/enigma.db`,
    key_provider: "local",
    keyfile_path: `${dir}/keys.enc`,
    distribution: "RoundRobin",
    chunk_strategy: { Cdc: { target_size: defaultTargetSize } },
    compression: { enabled: false, level: 3 }
  },
  providers: [{ name: "local", type: "Local", bucket: `${dir}/storage` }]
})

/** Fills the fields a hand-written config may leave out. */
export const withDefaults = (raw: unknown, dir: string): unknown => {
  if (typeof raw !== "object" || raw === null) return raw
  const defaults = defaultSettings(dir)
  const r = raw as Record<string, unknown>
  const e = (typeof r.enigma === "object" && r.enigma !== null ? r.enigma : {}) as Record<string, unknown>
  return {
    ...r,
    enigma: { ...defaults.enigma, ...e },
    providers: r.providers ?? defaults.providers
  }
}

/** `["a"][0]["b"]` → `a[0].b` */
const formatPath = (p: string) =>
  p.replace(/\["([^"]*)"\]/g, ".$1").replace(/^\./, "")

const isHttpsUrl = (text: string) => {
  try {
    return new URL(text).protocol === "https:"
  } catch {
    return false
  }
}

/** The fields each key_provider takes: what is wrong, or undefined. */
const checkVaultFields = (e: typeof EnigmaSection.Type): string | undefined => {
  const only = { "aws-secretsmanager": ["aws_region"], "gcp-secretmanager": ["gcp_project_id", "gcp_endpoint_url"], "azure-keyvault": ["vault_url"] } as const
  for (const [provider, fields] of Object.entries(only)) {
    for (const field of fields) {
      if (e[field] !== undefined && e.key_provider !== provider) return `enigma.${field} is for key_provider "${provider}", and key_provider is "${e.key_provider}"`
    }
  }
  if (e.key_provider === "local") {
    return e.kem_secret_name === undefined ? undefined : `enigma.kem_secret_name is for a vault key_provider ("aws-secretsmanager", "gcp-secretmanager" or "azure-keyvault"), and key_provider is "local"`
  }
  if (e.kem_secret_name === undefined) return `enigma.kem_secret_name: key_provider "${e.key_provider}" needs the name of the secret that holds the ML-KEM key`
  if (e.kem_key_path !== undefined) return `enigma: kem_key_path is a local key file, and key_provider "${e.key_provider}" keeps the ML-KEM key in the vault; set one of the two`
  if (e.key_provider === "gcp-secretmanager") {
    if (e.gcp_project_id === undefined) return `enigma.gcp_project_id: key_provider "gcp-secretmanager" needs the project that holds the secret`
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(e.kem_secret_name)) return `enigma.kem_secret_name "${e.kem_secret_name}": a Secret Manager secret id has only letters, digits, - and _ (at most 255)`
  }
  if (e.key_provider === "azure-keyvault") {
    if (e.vault_url === undefined) return `enigma.vault_url: key_provider "azure-keyvault" needs the vault's URL (https://NAME.vault.azure.net/)`
    if (!isHttpsUrl(e.vault_url)) return `enigma.vault_url "${e.vault_url}": a Key Vault URL starts with https:// (the vault answers only over TLS, and tokens go nowhere else)`
    if (!/^[A-Za-z0-9-]{1,127}$/.test(e.kem_secret_name)) return `enigma.kem_secret_name "${e.kem_secret_name}": a Key Vault secret name has only letters, digits and - (at most 127)`
  }
  return undefined
}

/**
 * A provider `type` written in another case (`local`, `s3`, `Minio`, `GCS`) read as the type it
 * names: the seed's own examples mix `Local` with `minio`, and rclone's configs are lower case.
 */
const providerTypeByLowerCase = new Map(ProviderType.literals.map((t) => [t.toLowerCase(), t]))
const canonicalProviderTypes = (raw: unknown): unknown => {
  if (typeof raw !== "object" || raw === null) return raw
  const r = raw as Record<string, unknown>
  if (!Array.isArray(r.providers)) return raw
  return {
    ...r,
    providers: r.providers.map((p: unknown) => {
      if (typeof p !== "object" || p === null) return p
      const type = (p as { type?: unknown }).type
      const canonical = typeof type === "string" ? providerTypeByLowerCase.get(type.toLowerCase()) : undefined
      return canonical === undefined ? p : { ...p, type: canonical }
    })
  }
}

/**
 * Where a provider keeps its objects, for telling whether two share it: a Local directory (an
 * absolute path, as the config's loader makes it), or a bucket or container at an endpoint.
 */
const storagePlace = (p: ProviderSettings): { readonly local: boolean; readonly place: string } =>
  p.type === "Local"
    ? { local: true, place: posix.normalize(p.bucket).replace(/(.)\/+$/, "$1") }
    : {
      local: false,
      place: [
        isS3Type(p.type) ? "s3" : p.type,
        p.endpoint_url ?? "",
        // An Azure account is part of where a container is: the same name in two accounts is two places.
        p.type === "Azure" ? (p.access_key ?? p.connection_string ?? "") : "",
        p.bucket
      ].join("|")
    }

/**
 * Two providers that store in one place (the same Local directory, or one inside the other; the
 * same bucket at the same endpoint): `copies = 2` there would keep one copy and count two, and
 * either provider's listing would see the other's objects. Undefined when every place differs.
 */
export const sharedStorageProblem = (providers: ReadonlyArray<ProviderSettings>): string | undefined => {
  const places = providers.map((p) => ({ name: p.name, ...storagePlace(p) }))
  for (const [i, a] of places.entries()) {
    for (const b of places.slice(i + 1)) {
      if (a.local !== b.local) continue
      const same = a.place === b.place
      const nested = a.local && (b.place.startsWith(`${a.place}/`) || a.place.startsWith(`${b.place}/`) || a.place === "/" || b.place === "/")
      if (!same && !nested) continue
      const where = a.local ? (same ? `directory ${a.place}` : `directories ${a.place} and ${b.place}, one inside the other`) : `bucket ${providers[i]!.bucket}`
      return `providers: "${a.name}" and "${b.name}" both store in ${where}; a second copy there is no copy at all: give each provider a place of its own`
    }
  }
  return undefined
}

/** Schema's wording for a failure, as a config's author reads it. */
const configWording = (issue: string) =>
  issue === "Expected no excess property" ? "unknown field (check its spelling and section; README.md lists the fields)" : issue

/** Decodes a parsed TOML document; on failure returns one line naming every bad field. */
export const decodeSettings = (raw: unknown): Result.Result<EnigmaSettings, string> => {
  const r = Schema.decodeUnknownResult(EnigmaSettings)(canonicalProviderTypes(raw), { errors: "all", onExcessProperty: "error" })
  if (Result.isSuccess(r)) {
    const names = new Set<string>()
    for (const p of r.success.providers) {
      if (names.has(p.name)) return Result.fail(`providers: two providers are named "${p.name}"; names must be unique`)
      names.add(p.name)
    }
    if (r.success.providers.length === 0) return Result.fail("providers: at least one provider is required")
    const vault = checkVaultFields(r.success.enigma)
    if (vault !== undefined) return Result.fail(vault)
    if (r.success.providers.every((p) => p.drain === true)) {
      return Result.fail("providers: every provider has drain = true; at least one must take new chunks")
    }
    const proxy = r.success.s3_proxy
    if (proxy !== undefined) {
      if ((proxy.access_key === undefined) !== (proxy.secret_key === undefined)) {
        return Result.fail("s3_proxy: access_key and secret_key go together; set both or neither")
      }
      if ((proxy.tls_cert === undefined) !== (proxy.tls_key === undefined)) {
        return Result.fail("s3_proxy: tls_cert and tls_key go together; set both for HTTPS or neither")
      }
      const keys = new Set<string>(proxy.access_key !== undefined ? [proxy.access_key] : [])
      for (const u of proxy.users ?? []) {
        if (keys.has(u.access_key)) return Result.fail(`s3_proxy.users: access key "${u.access_key}" appears twice; access keys must be unique`)
        keys.add(u.access_key)
      }
    }
    return Result.succeed(r.success)
  }
  const lines = r.failure.message.split("\n")
  const parts: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    const at = lines[i + 1]?.match(/^\s*at (.*)$/)
    if (at) {
      parts.push(`${formatPath(at[1]!)}: ${configWording(lines[i]!.trim())}`)
      i++
    } else if (lines[i]!.trim() && !/^\s*at /.test(lines[i]!)) {
      parts.push(lines[i]!.trim())
    }
  }
  return Result.fail([...new Set(chunkStrategyParts(raw, parts))].join("; "))
}

/**
 * chunk_strategy is one of two tables, and Schema reports a failed union branch by branch ("Cdc:
 * unknown field; Fixed: Missing key" for a bad target_size). Only the branch the config gives
 * speaks; with neither or both given, one line says what to give.
 */
const chunkStrategyParts = (raw: unknown, parts: ReadonlyArray<string>): ReadonlyArray<string> => {
  const at = "enigma.chunk_strategy"
  const given = (raw as { enigma?: { chunk_strategy?: unknown } } | undefined)?.enigma?.chunk_strategy
  const keys = given !== null && typeof given === "object" ? Object.keys(given) : []
  const about = (p: string) => p.startsWith(`${at}.`) || p.startsWith(`${at}:`)
  if (!parts.some(about)) return parts
  const branch = keys.length === 1 && (keys[0] === "Cdc" || keys[0] === "Fixed") ? keys[0] : undefined
  if (branch === undefined) {
    const rest = parts.filter((p) => !about(p))
    return [`${at}: give one table, [${at}.Cdc] with target_size or [${at}.Fixed] with size (in bytes)`, ...rest]
  }
  return parts.filter((p) => !about(p) || p.startsWith(`${at}.${branch}.`))
}

export type ChunkStrategy =
  | { readonly _tag: "Cdc"; readonly targetSize: number }
  | { readonly _tag: "Fixed"; readonly size: number }

export const chunkStrategyOf = (s: EnigmaSettings): ChunkStrategy =>
  "Cdc" in s.enigma.chunk_strategy
    ? { _tag: "Cdc", targetSize: s.enigma.chunk_strategy.Cdc.target_size }
    : { _tag: "Fixed", size: s.enigma.chunk_strategy.Fixed.size }
