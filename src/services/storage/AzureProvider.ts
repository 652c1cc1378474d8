import type { ContainerClient } from "@azure/storage-blob"
import { Effect, Stream } from "effect"
import { StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

export interface AzureProviderOptions {
  readonly name: string
  readonly container: string
  /** Either a connection string, or an account (+ key) with an optional endpoint (Azurite). */
  readonly connectionString?: string | undefined
  readonly account?: string | undefined
  readonly accountKey?: string | undefined
  /** Defaults to https://<account>.blob.core.windows.net. */
  readonly endpoint?: string | undefined
}

type Sdk = typeof import("@azure/storage-blob")
/** The SDK is CommonJS: once bundled, a dynamic import may put its exports under `default`. */
const cjsNamespace = (m: Sdk): Sdk => ("BlobServiceClient" in m ? m : (m as unknown as { default: Sdk }).default)

/** Maps an Azure SDK error (or a network error) onto the port's failure kinds. */
export const azureFailureOf = (cause: unknown): StorageFailure => {
  const e = cause as { statusCode?: number; code?: string; details?: { errorCode?: string }; message?: string }
  const code = e?.details?.errorCode ?? e?.code ?? ""
  if (code === "ContainerNotFound") return "Fatal"
  if (e?.statusCode === 404 || code === "BlobNotFound") return "NotFound"
  if (e?.statusCode === 403 || /AuthenticationFailed|AuthorizationFailure/.test(code)) return "AccessDenied"
  if (
    e?.statusCode === 429 || (e?.statusCode !== undefined && e.statusCode >= 500) ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|REQUEST_SEND_ERROR|ServerBusy|OperationTimedOut/.test(`${code} ${e?.message ?? ""}`)
  ) return "Transient"
  return "Fatal"
}

/**
 * A provider on Azure Blob Storage (block blobs in one container), through
 * @azure/storage-blob, imported on first use. Credentials: the config's connection string or
 * account/key, else AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY.
 * A block blob upload is atomic: readers see the old blob or the new one.
 */
export const makeAzureProvider = (o: AzureProviderOptions): StorageProvider => {
  let container: Promise<ContainerClient> | undefined
  const connect = () =>
    (container ??= import("@azure/storage-blob").then(cjsNamespace).then((sdk) => {
      const conn = o.connectionString ?? process.env.AZURE_STORAGE_CONNECTION_STRING
      const account = o.account ?? process.env.AZURE_STORAGE_ACCOUNT
      const key = o.accountKey ?? process.env.AZURE_STORAGE_KEY
      const retryOptions = { maxTries: 1, tryTimeoutInMs: 120_000 } // retries are ours
      const service = conn && o.account === undefined
        ? sdk.BlobServiceClient.fromConnectionString(conn, { retryOptions })
        : new sdk.BlobServiceClient(
          o.endpoint ?? `https://${account}.blob.core.windows.net`,
          account && key ? new sdk.StorageSharedKeyCredential(account, key) : new sdk.AnonymousCredential(),
          { retryOptions }
        )
      return service.getContainerClient(o.container)
    }))

  const call = <A>(operation: string, key: string, f: (c: ContainerClient) => Promise<A>) =>
    Effect.tryPromise({
      try: () => connect().then(f),
      catch: (cause) => {
        const code = (cause as { details?: { errorCode?: string } })?.details?.errorCode
        return new StorageError({
          provider: o.name,
          operation,
          key,
          reason: azureFailureOf(cause),
          detail: code === "ContainerNotFound"
            ? `container ${o.container} does not exist; create it or fix \`bucket\` in the config`
            : `${code ?? (cause as Error)?.name ?? "Error"}: ${(cause as Error)?.message?.split("\n")[0] ?? String(cause)}`
        })
      }
    }).pipe(Effect.withSpan(`AzureProvider.${operation}`, { attributes: { provider: o.name } }))

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    call("put", key, (c) =>
      c.getBlockBlobClient(key).uploadData(body instanceof Uint8Array ? body : Buffer.concat(body as Array<Uint8Array>))).pipe(
      Effect.asVoid
    )

  const get = (key: string) => call("get", key, (c) => c.getBlockBlobClient(key).downloadToBuffer().then((b): Uint8Array => b))

  const head = (key: string) =>
    call("head", key, (c) => c.getBlockBlobClient(key).getProperties().then((p) => p.contentLength ?? 0)).pipe(
      Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
    )

  const del = (key: string) => call("delete", key, (c) => c.getBlockBlobClient(key).deleteIfExists()).pipe(Effect.asVoid)

  const list = (prefix: string): Stream.Stream<string, StorageError> =>
    Stream.unwrap(call("list", prefix, async (c) => c).pipe(Effect.map((c) =>
      Stream.fromAsyncIterable(
        (async function*() {
          for await (const b of c.listBlobsFlat({ prefix })) yield b.name
        })(),
        (cause) => new StorageError({ provider: o.name, operation: "list", key: prefix, reason: azureFailureOf(cause), detail: String(cause) })
      )
    )))

  const check = call("check", o.container, (c) => c.getProperties()).pipe(Effect.asVoid)

  return { name: o.name, kind: "Azure", put, get, head, delete: del, list, check }
}
