import * as path from "node:path"
import { Effect } from "effect"
import { parseRate } from "../domain/Bandwidth.ts"
import { ConfigError } from "../domain/Errors.ts"
import { makeLimiter, withBandwidthLimit } from "../services/storage/Bandwidth.ts"
import { type EnigmaSettings, type ProviderSettings, s3StorageClasses } from "../domain/Settings.ts"
import { makeAzureProvider } from "../services/storage/AzureProvider.ts"
import { makeGcsProvider } from "../services/storage/GcsProvider.ts"
import { makeLocalProvider } from "../services/storage/LocalProvider.ts"
import { makeS3Provider } from "../services/storage/S3Provider.ts"
import type { StorageProvider } from "../services/storage/StorageProvider.ts"

const s3Compatible = new Set(["S3Compatible", "minio", "rustfs", "garage"])
const storageClasses: ReadonlySet<string> = new Set(s3StorageClasses)

/**
 * Builds the configured providers: Local, S3 / S3-compatible (MinIO, RustFS, Garage…), Azure
 * Blob and Google Cloud Storage. Secrets are already decrypted (`enc:` tokens) by the caller.
 */
export const buildProviders = (file: string, settings: EnigmaSettings) =>
  Effect.gen(function*() {
    const limiter = (field: "limit_upload" | "limit_download") =>
      Effect.gen(function*() {
        const text = settings.enigma[field]
        if (text === undefined) return undefined
        const rate = parseRate(text)
        if (typeof rate === "string") {
          return yield* new ConfigError({ file, detail: `enigma.${field} (or --${field.replace("_", "-")}): ${rate}` })
        }
        return makeLimiter(rate)
      })
    // One limiter per direction, shared by all providers: the limit is for the repository.
    const limits = { upload: yield* limiter("limit_upload"), download: yield* limiter("limit_download") }
    const providers = yield* Effect.forEach(settings.providers, (p) => buildProvider(file, p))
    return limits.upload || limits.download ? providers.map((p) => withBandwidthLimit(p, limits)) : providers
  })

const buildProvider = (file: string, p: ProviderSettings) =>
  Effect.gen(function*() {
    const bad = (detail: string) => new ConfigError({ file, detail: `provider "${p.name}": ${detail}` })
    if (p.type === "Gcs") {
      // Before the S3 storage-class check: GCS's classes are other names, set per bucket.
      if (p.storage_class !== undefined) {
        return yield* bad("storage_class applies to S3 providers only; for GCS set the bucket's default storage class (NEARLINE, COLDLINE, ARCHIVE) or a lifecycle rule")
      }
      if (p.access_key !== undefined || p.secret_key !== undefined || p.connection_string !== undefined) {
        return yield* bad("Gcs uses Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`), not access_key/secret_key/connection_string; for HMAC keys use type S3Compatible with endpoint_url = \"https://storage.googleapis.com\"")
      }
      if (p.bucket === "" || p.bucket.includes("/")) return yield* bad(`bucket must be a GCS bucket name (no "/": prefixes are not supported), got "${p.bucket}"`)
      if (p.endpoint_url !== undefined && !/^https?:\/\/[^/]/.test(p.endpoint_url)) {
        return yield* bad(`endpoint_url must be an http(s) URL such as "http://127.0.0.1:4443", got "${p.endpoint_url}"`)
      }
      return makeGcsProvider({ name: p.name, bucket: p.bucket, endpoint: p.endpoint_url })
    }
    if (p.storage_class !== undefined && !storageClasses.has(p.storage_class)) {
      return yield* bad(`storage_class ${p.storage_class} is not one of ${[...storageClasses].join(", ")}`)
    }
    if (p.type === "Local") {
      if (!path.isAbsolute(p.bucket)) return yield* bad("bucket must be a directory path")
      return makeLocalProvider(p.name, p.bucket) as StorageProvider
    }
    if (p.type === "S3" || s3Compatible.has(p.type)) {
      const compatible = p.type !== "S3"
      if (compatible && !p.endpoint_url) return yield* bad(`type ${p.type} needs endpoint_url (e.g. "http://127.0.0.1:9000")`)
      if ((p.access_key === undefined) !== (p.secret_key === undefined)) {
        return yield* bad("give both access_key and secret_key, or neither (to use the AWS credential chain)")
      }
      return makeS3Provider({
        name: p.name,
        kind: p.type,
        bucket: p.bucket,
        region: p.region ?? "us-east-1",
        endpoint: p.endpoint_url,
        pathStyle: p.path_style ?? compatible,
        credentials: p.access_key !== undefined && p.secret_key !== undefined
          ? { accessKeyId: p.access_key, secretAccessKey: p.secret_key }
          : undefined,
        storageClass: p.storage_class,
        checksumsWhenRequired: compatible
      })
    }
    if (p.type === "Azure") {
      if (p.storage_class !== undefined) return yield* bad("storage_class applies to S3 providers only")
      const hasConn = p.connection_string !== undefined || process.env.AZURE_STORAGE_CONNECTION_STRING !== undefined
      const account = p.access_key ?? process.env.AZURE_STORAGE_ACCOUNT
      if (!hasConn && account === undefined) {
        return yield* bad("Azure needs connection_string, or access_key (the account name) and secret_key (its key), or AZURE_STORAGE_* in the environment")
      }
      return makeAzureProvider({
        name: p.name,
        container: p.bucket,
        connectionString: p.connection_string,
        account: p.access_key,
        accountKey: p.secret_key,
        endpoint: p.endpoint_url
      })
    }
    return yield* bad(`type ${p.type} is not available in this version of enigma`)
  })
