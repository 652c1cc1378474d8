import { createHmac, createSecretKey, webcrypto } from "node:crypto"
import { Effect, Semaphore } from "effect"

/**
 * HMAC-SHA256 of chunk-sized data computed on libuv's thread pool, where Web Crypto runs `sign`:
 * chunk ids for data the caller cannot hand over (a gateway PUT's pieces, a backup's last chunk
 * of a stream). The main thread chunks, encrypts and drives every pipeline; HMAC-SHA256 of a
 * 4 MiB chunk there took 2.5 ms. Through Web Crypto the main thread pays only for the copy that
 * an asynchronous job takes of its input (about 0.6 ms per 4 MiB), and the hashing runs on the
 * other core. Buffers that can travel are hashed by ChunkThreads instead, with no copy.
 *
 * Below `inlineBelow` bytes that copy and the round trip cost more than hashing: inline.
 */
const inlineBelow = 64 * 1024

/**
 * Hashing jobs on the pool at once, process-wide. Each holds a copy of its input; more than two
 * would not hash faster on two cores, would hold more copies (a `get` from S3 went over its
 * 256 MB with four), and would leave the pool's other threads no room for file I/O.
 */
const jobs = Semaphore.makeUnsafe(2)
const onPool = <A>(job: () => Promise<A>): Effect.Effect<A> => jobs.withPermit(Effect.promise(job))

const { subtle } = webcrypto

const hex = (digest: ArrayBuffer) => Buffer.from(digest).toString("hex")

/** HMAC-SHA256 under a fixed key (a chunk-id key), hex. */
export const makeHmacSha256 = (key: Uint8Array): (data: Uint8Array) => Effect.Effect<string> => {
  // A KeyObject once, rather than a Buffer key that every HMAC turns into one (~10 µs a chunk).
  const inlineKey = createSecretKey(key)
  let webKey: Promise<webcrypto.CryptoKey> | undefined
  return (data) =>
    data.length < inlineBelow
      ? Effect.sync(() => createHmac("sha256", inlineKey).update(data).digest("hex"))
      : onPool(async () => {
        webKey ??= subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
        return hex(await subtle.sign("HMAC", await webKey, data))
      })
}
