import { Clock, Effect, Stream } from "effect"
import { makeBucket, reserve, type TokenBucket } from "../../domain/Bandwidth.ts"
import type { StorageProvider } from "./StorageProvider.ts"

/** One direction's limit, shared by every provider so the limit is for the whole repository. */
export interface Limiter {
  readonly take: (bytes: number) => Effect.Effect<void>
}

export const makeLimiter = (rate: number): Limiter => {
  let bucket: TokenBucket | undefined
  return {
    take: (bytes) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        bucket ??= makeBucket(rate, now)
        const wait = reserve(bucket, now, bytes)
        if (wait > 0) yield* Effect.sleep(wait)
      })
  }
}

const sizeOf = (body: Uint8Array | ReadonlyArray<Uint8Array>) =>
  body instanceof Uint8Array ? body.length : body.reduce((a, p) => a + p.length, 0)

/**
 * Bandwidth limits as a provider decorator: uploads wait before `put`, downloads after `get`;
 * streamed bodies are counted block by block as they flow (so a slow limit slows the stream).
 */
export const withBandwidthLimit = (
  inner: StorageProvider,
  limits: { readonly upload?: Limiter | undefined; readonly download?: Limiter | undefined }
): StorageProvider => ({
  ...inner,
  put: (key, body, options) =>
    limits.upload ? Effect.andThen(limits.upload.take(sizeOf(body)), inner.put(key, body, options)) : inner.put(key, body, options),
  get: (key) =>
    limits.download
      ? inner.get(key).pipe(Effect.tap((bytes) => limits.download!.take(bytes.length)))
      : inner.get(key),
  putStream: (key, body, options) =>
    inner.putStream(key, limits.upload ? body.pipe(Stream.tap((block) => limits.upload!.take(block.length))) : body, options),
  getRange: (key, offset, length) =>
    limits.download
      ? inner.getRange(key, offset, length).pipe(Effect.tap((bytes) => limits.download!.take(bytes.length)))
      : inner.getRange(key, offset, length),
  getStream: (key, range) =>
    limits.download
      ? inner.getStream(key, range).pipe(Stream.tap((block) => limits.download!.take(block.length)))
      : inner.getStream(key, range)
})
