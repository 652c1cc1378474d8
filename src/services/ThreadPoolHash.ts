import { createHash, createHmac, createSecretKey, webcrypto } from "node:crypto"
import { Effect, Semaphore } from "effect"

/**
 * Hashes of chunk-sized data computed on libuv's thread pool, where Web Crypto runs `digest` and
 * `sign`. The main thread chunks, encrypts and drives every pipeline; hashing a chunk there was the
 * largest item of `put` (SHA3-256 alone: 8.3 ms per 4 MiB here, SHA-256 and HMAC-SHA256 2.5 ms
 * each). Through Web Crypto the main thread pays only for the copy that an asynchronous job takes
 * of its input (about 0.6 ms per 4 MiB), and the hashing runs on the other core. The copy is
 * native memory, freed when the job ends, so it does not wait for a GC.
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

let sha3Announced = false

/**
 * Node marks Web Crypto's SHA3 experimental and says so once per process on stderr, where `get`'s
 * user reads only our messages (the algorithm is FIPS 202; the tests compare its output with
 * node:crypto's). The warning is emitted synchronously by the first call, so that call runs with
 * warnings muted and later ones do not warn again.
 */
const announceSha3 = () => {
  if (sha3Announced) return
  sha3Announced = true
  const emit = process.emitWarning
  process.emitWarning = (() => {}) as typeof process.emitWarning
  try {
    void subtle.digest("SHA3-256", new Uint8Array(0))
  } finally {
    process.emitWarning = emit
  }
}

const webName = { "sha256": "SHA-256", "sha3-256": "SHA3-256" } as const

/** SHA-256 or SHA3-256 of `data`, hex. */
export const digestHex = (algorithm: "sha256" | "sha3-256", data: Uint8Array): Effect.Effect<string> =>
  data.length < inlineBelow
    ? Effect.sync(() => createHash(algorithm).update(data).digest("hex"))
    : onPool(() => {
      if (algorithm === "sha3-256") announceSha3()
      return subtle.digest(webName[algorithm], data).then(hex)
    })

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
