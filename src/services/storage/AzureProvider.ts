import type { ContainerClient } from "@azure/storage-blob"
import { randomBytes } from "node:crypto"
import { Effect, Stream } from "effect"
import { cjsNamespace } from "../CjsNamespace.ts"
import { type Block, blocksOf, checkRange, concatBytes } from "./Blocks.ts"
import { bucketMissing, type ByteRange, type ListedObject, StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

export interface AzureProviderOptions {
  readonly name: string
  readonly container: string
  /** Either a connection string, or an account (+ key) with an optional endpoint (Azurite). */
  readonly connectionString?: string | undefined
  readonly account?: string | undefined
  readonly accountKey?: string | undefined
  /** Defaults to https://<account>.blob.core.windows.net. */
  readonly endpoint?: string | undefined
  /** Block size of streamed uploads (default 8 MiB); a streamed body of one block is a single Put Blob. */
  readonly blockSize?: number | undefined
  /** Blocks of one streamed upload staged at once (default 4). */
  readonly blockConcurrency?: number | undefined
}

const MiB = 1024 * 1024

type Sdk = typeof import("@azure/storage-blob")

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
    (container ??= import("@azure/storage-blob").then(cjsNamespace<Sdk>("BlobServiceClient")).then((sdk) => {
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

  const errorOf = (operation: string, key: string) => (cause: unknown) => {
        const code = (cause as { details?: { errorCode?: string } })?.details?.errorCode
        return new StorageError({
          provider: o.name,
          operation,
          key,
          reason: azureFailureOf(cause),
          detail: code === "ContainerNotFound"
            ? bucketMissing(o.container, "container")
            : `${code ?? (cause as Error)?.name ?? "Error"}: ${(cause as Error)?.message?.split("\n")[0] ?? String(cause)}`
        })
      }

  const call = <A>(operation: string, key: string, f: (c: ContainerClient) => Promise<A>) =>
    Effect.tryPromise({ try: () => connect().then(f), catch: errorOf(operation, key) }).pipe(
      Effect.withSpan(`AzureProvider.${operation}`, { attributes: { provider: o.name } })
    )

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    call("put", key, (c) =>
      c.getBlockBlobClient(key).uploadData(body instanceof Uint8Array ? body : Buffer.concat(body as Array<Uint8Array>))).pipe(
      Effect.asVoid
    )

  const get = (key: string) => call("get", key, (c) => c.getBlockBlobClient(key).downloadToBuffer().then((b): Uint8Array => b))

  const blockSize = o.blockSize ?? 8 * MiB
  const blockConcurrency = o.blockConcurrency ?? 4

  /**
   * One block: a single Put Blob. More: Put Block for each (`blockConcurrency` at once, so
   * memory holds about that many blocks), then Put Block List, which makes the blob appear
   * whole. A failing or interrupted body commits nothing: the old blob stays, and Azure drops
   * the uncommitted blocks. Block ids carry a random tag per upload, so two uploads of one key
   * never mix blocks.
   */
  const putStream = <E>(key: string, body: Stream.Stream<Uint8Array, E>) =>
    Effect.gen(function*() {
      const tag = randomBytes(6).toString("hex")
      const idOf = (index: number) => Buffer.from(`${tag}-${String(index).padStart(6, "0")}`).toString("base64")
      let count = 0
      let single = false
      const stage = (block: Block) => {
        if (block.index === 0 && block.last) {
          single = true
          return call("put", key, (c) => c.getBlockBlobClient(key).uploadData(block.bytes)).pipe(Effect.asVoid)
        }
        count = Math.max(count, block.index + 1)
        return call("put", key, (c) => c.getBlockBlobClient(key).stageBlock(idOf(block.index), block.bytes, block.bytes.length)).pipe(
          Effect.asVoid
        )
      }
      yield* body.pipe(blocksOf(blockSize), Stream.mapEffect(stage, { concurrency: blockConcurrency, unordered: true }), Stream.runDrain)
      if (single) return
      yield* call("put", key, (c) => c.getBlockBlobClient(key).commitBlockList(Array.from({ length: count }, (_, i) => idOf(i))))
    }).pipe(Effect.withSpan("AzureProvider.putStream", { attributes: { provider: o.name } }))

  /** A download of a range; undefined when it starts past the end (Azure answers 416 InvalidRange). */
  const download = (key: string, offset: number, length: number | undefined) =>
    call("get", key, (c) =>
      c.getBlockBlobClient(key).download(offset, length).then(
        (r) => r.readableStreamBody,
        (e: { statusCode?: number; details?: { errorCode?: string } }) =>
          e?.statusCode === 416 || e?.details?.errorCode === "InvalidRange" ? undefined : Promise.reject(e)
      ))

  const invalid = (key: string, detail: string) => new StorageError({ provider: o.name, operation: "get", key, reason: "Fatal", detail })
  const bodyError = (key: string) => (cause: unknown) => {
    const e = errorOf("get", key)(cause)
    // A body that breaks off while being read is a broken transfer: retryable.
    return e.reason === "Fatal" ? new StorageError({ ...e, reason: "Transient" }) : e
  }

  const getStream = (key: string, range?: ByteRange): Stream.Stream<Uint8Array, StorageError> => {
    const offset = range?.offset ?? 0
    const length = range?.length
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Stream.fail(invalid(key, bad))
    // Azure reads count 0 as "to the end": an empty range only checks that the blob exists.
    if (length === 0) {
      return Stream.unwrap(call("get", key, (c) => c.getBlockBlobClient(key).getProperties()).pipe(Effect.as(Stream.empty)))
    }
    return Stream.unwrap(download(key, offset, length).pipe(Effect.map((body) =>
      body === undefined ? Stream.empty : Stream.fromAsyncIterable(body as AsyncIterable<Uint8Array>, bodyError(key))
    )))
  }

  const getRange = (key: string, offset: number, length: number) =>
    Stream.runCollect(getStream(key, { offset, length })).pipe(Effect.map((blocks) => concatBytes(blocks)))

  const head = (key: string) =>
    call("head", key, (c) => c.getBlockBlobClient(key).getProperties().then((p) => p.contentLength ?? 0)).pipe(
      Effect.catchIf((e: StorageError) => e.reason === "NotFound", () => Effect.succeed(undefined))
    )

  const del = (key: string) => call("delete", key, (c) => c.getBlockBlobClient(key).deleteIfExists()).pipe(Effect.asVoid)

  const listSized = (prefix: string): Stream.Stream<ListedObject, StorageError> =>
    Stream.unwrap(call("list", prefix, async (c) => c).pipe(Effect.map((c) =>
      Stream.fromAsyncIterable(
        (async function*() {
          for await (const b of c.listBlobsFlat({ prefix })) yield { key: b.name, size: b.properties.contentLength }
        })(),
        (cause) => new StorageError({ provider: o.name, operation: "list", key: prefix, reason: azureFailureOf(cause), detail: String(cause) })
      )
    )))

  const check = call("check", o.container, (c) => c.getProperties()).pipe(Effect.asVoid)

  const list = (prefix: string): Stream.Stream<string, StorageError> => listSized(prefix).pipe(Stream.map((b) => b.key))

  return { name: o.name, kind: "Azure", put, get, putStream, getRange, getStream, head, delete: del, list, listSized, check }
}
