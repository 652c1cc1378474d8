import type { S3Client } from "@aws-sdk/client-s3"
import { Effect, Option, Stream } from "effect"
import { StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

export interface S3ProviderOptions {
  readonly name: string
  readonly kind: string
  readonly bucket: string
  readonly region: string
  /** S3-compatible stores: their URL. Absent for AWS S3. */
  readonly endpoint?: string | undefined
  readonly pathStyle: boolean
  /** Absent: the AWS default credential chain (env, profile, SSO, instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined
  /** Storage class for chunk objects; keystore, log segments and locks always stay STANDARD. */
  readonly storageClass?: string | undefined
  /** Only send checksums the operation requires: many S3-compatible stores reject the newer ones. */
  readonly checksumsWhenRequired: boolean
}

type Sdk = typeof import("@aws-sdk/client-s3")
/** The SDK is CommonJS: once bundled, a dynamic import may put its exports under `default`. */
const cjsNamespace = (m: Sdk): Sdk => ("S3Client" in m ? m : (m as unknown as { default: Sdk }).default)

/** Maps an SDK error (or a network error) onto the port's failure kinds. */
export const failureOf = (cause: unknown): StorageFailure => {
  const e = cause as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown }
  const status = e?.$metadata?.httpStatusCode
  const name = e?.name ?? e?.code ?? ""
  if (name === "NoSuchKey" || name === "NotFound" || (status === 404 && name !== "NoSuchBucket")) return "NotFound"
  if (status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Forbidden/.test(name)) return "AccessDenied"
  if (
    e?.$retryable !== undefined || status === 429 || (status !== undefined && status >= 500) ||
    /SlowDown|Throttl|RequestTimeout|TimeoutError|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up/.test(
      `${name} ${(cause as Error)?.message ?? ""}`
    )
  ) return "Transient"
  return "Fatal"
}

const describe = (cause: unknown, bucket: string): string => {
  const e = cause as { name?: string; message?: string }
  if (e?.name === "NoSuchBucket") return `bucket ${bucket} does not exist; create it or fix \`bucket\` in the config`
  return `${e?.name ?? "Error"}: ${e?.message ?? String(cause)}`
}

/**
 * A provider on S3 or an S3-compatible store (MinIO, RustFS, Garage, s3rver…), through
 * @aws-sdk/client-s3. The SDK is imported on first use, so commands that never reach the
 * provider do not pay for loading it. PutObject is atomic on S3: readers never see a part.
 */
export const makeS3Provider = (o: S3ProviderOptions): StorageProvider => {
  let client: Promise<{ client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> | undefined
  const connect = () =>
    (client ??= import("@aws-sdk/client-s3").then(cjsNamespace).then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        region: o.region,
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        forcePathStyle: o.pathStyle,
        ...(o.credentials ? { credentials: o.credentials } : {}),
        ...(o.checksumsWhenRequired
          ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }
          : {}),
        // Retries are ours (ChunkStore's schedule): one attempt per call here.
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 }
      })
    })))

  const call = <A>(operation: string, key: string, f: (c: { client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }) => Promise<A>) =>
    Effect.tryPromise({
      try: () => connect().then(f),
      catch: (cause) =>
        new StorageError({ provider: o.name, operation, key, reason: failureOf(cause), detail: describe(cause, o.bucket) })
    }).pipe(Effect.withSpan(`S3Provider.${operation}`, { attributes: { provider: o.name } }))

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    call("put", key, ({ client, sdk }) =>
      client.send(new sdk.PutObjectCommand({
        Bucket: o.bucket,
        Key: key,
        Body: body instanceof Uint8Array ? body : Buffer.concat(body as Array<Uint8Array>),
        ...(o.storageClass && key.startsWith("chunks/") ? { StorageClass: o.storageClass as never } : {})
      }))).pipe(Effect.asVoid)

  const get = (key: string) =>
    call("get", key, async ({ client, sdk }) => {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: o.bucket, Key: key }))
      return (await r.Body!.transformToByteArray()) as Uint8Array
    })

  const head = (key: string) =>
    call("head", key, ({ client, sdk }) =>
      client.send(new sdk.HeadObjectCommand({ Bucket: o.bucket, Key: key })).then((r) => r.ContentLength ?? 0)).pipe(
      Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
    )

  const del = (key: string) =>
    call("delete", key, ({ client, sdk }) => client.send(new sdk.DeleteObjectCommand({ Bucket: o.bucket, Key: key }))).pipe(
      Effect.asVoid
    )

  const list = (prefix: string): Stream.Stream<string, StorageError> =>
    Stream.paginate(undefined as string | undefined, (token) =>
      call("list", prefix, ({ client, sdk }) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: o.bucket, Prefix: prefix, ContinuationToken: token }))).pipe(
        Effect.map((r) => [
          (r.Contents ?? []).flatMap((c) => (c.Key === undefined ? [] : [c.Key])),
          r.IsTruncated && r.NextContinuationToken ? Option.some(r.NextContinuationToken) : Option.none()
        ] as const)
      ))

  const check = call("check", o.bucket, ({ client, sdk }) => client.send(new sdk.HeadBucketCommand({ Bucket: o.bucket }))).pipe(
    Effect.asVoid,
    Effect.mapError((e) =>
      e.reason === "NotFound"
        ? new StorageError({ ...e, reason: "Fatal", detail: `bucket ${o.bucket} does not exist; create it or fix \`bucket\` in the config` })
        : e
    )
  )

  return { name: o.name, kind: o.kind, put, get, head, delete: del, list, check }
}
