/**
 * Computing chunk ids (see domain/ChunkIdHash): here on the main thread, and, through
 * `idHasherSource`, on the worker threads that hash chunks where their bytes are (ChunkThreads,
 * CutOffThread). One factory serves both, so a worker and the main thread cannot disagree.
 *
 * BLAKE3 comes from `@napi-rs/blake-hash` (native, prebuilt for each platform as an optional npm
 * package). Where that binary is missing (an unlisted platform, `npm ci --omit=optional`),
 * `hash-wasm`'s WebAssembly BLAKE3 computes the same ids at ~0.85 GB/s: slower, never different.
 * The tests check both against @noble/hashes' BLAKE3, in-process and through the CLI.
 */
import { createRequire } from "node:module"
import { Effect } from "effect"
import type { IdKey } from "../domain/ChunkIdHash.ts"
import { makeHmacSha256 } from "./ThreadPoolHash.ts"

/** An incremental chunk-id hasher; `digest` returns the hex id and starts the next chunk. */
export interface IdHasher {
  readonly update: (data: Uint8Array) => void
  readonly digest: () => string
}

interface NativeBlake3 {
  readonly Blake3Hasher: {
    newKeyed(key: Buffer): { update(d: Uint8Array): unknown; digest(format: string): string; reset(): void }
  }
}
interface WasmBlake3 {
  createBLAKE3(bits: number, key: Uint8Array): Promise<{ init(): unknown; update(d: Uint8Array): unknown; digest(format: "hex"): string }>
}
interface HashingModules {
  readonly crypto: typeof import("node:crypto")
  readonly native: NativeBlake3 | undefined
  readonly wasm: WasmBlake3
}

/**
 * A hasher for `idKey`'s hash and key, or a promise of one (the WebAssembly fallback compiles per
 * key). Refers to nothing outside itself: its source text also runs in worker threads.
 */
function idHasherFactory(mods: HashingModules) {
  return (hash: IdKey["hash"], key: Uint8Array): IdHasher | Promise<IdHasher> => {
    if (hash === "hmac-sha256") {
      const k = mods.crypto.createSecretKey(key)
      let h = mods.crypto.createHmac("sha256", k)
      return {
        update: (d) => void h.update(d),
        digest: () => {
          const id = h.digest("hex")
          h = mods.crypto.createHmac("sha256", k)
          return id
        }
      }
    }
    if (mods.native !== undefined) {
      const h = mods.native.Blake3Hasher.newKeyed(Buffer.from(key))
      return {
        update: (d) => void h.update(d),
        digest: () => {
          const id = h.digest("hex")
          h.reset() // keeps the key
          return id
        }
      }
    }
    return mods.wasm.createBLAKE3(256, key).then((h) => {
      h.init()
      return {
        update: (d: Uint8Array) => void h.update(d),
        digest: () => {
          const id = h.digest("hex")
          h.init()
          return id
        }
      }
    })
  }
}

const requireHere = createRequire(import.meta.url)
const resolved = (name: string): string | undefined => {
  try {
    return requireHere.resolve(name)
  } catch {
    return undefined
  }
}
/** `ENIGMA_BLAKE3=wasm` uses the fallback even where the native module loads (to compare them). */
const nativePath = process.env.ENIGMA_BLAKE3 === "wasm" ? undefined : resolved("@napi-rs/blake-hash")
const wasmPath = resolved("hash-wasm")

/** The native module, or undefined where its binary cannot load. */
const loadNative = (path: string | undefined): NativeBlake3 | undefined => {
  if (path === undefined) return undefined
  try {
    return createRequire(path)(path) as NativeBlake3
  } catch {
    return undefined
  }
}

let mainModules: HashingModules | undefined
const modules = (): HashingModules =>
  mainModules ??= {
    crypto: process.getBuiltinModule("node:crypto"),
    native: loadNative(nativePath),
    // Loaded only if used: where the native module loads, never.
    get wasm() {
      return createRequire(wasmPath!)(wasmPath!) as WasmBlake3
    }
  }

/** Whether BLAKE3 runs natively here (false: the WebAssembly fallback). */
export const nativeBlake3 = (): boolean => modules().native !== undefined

/** For tests: hashers from the WebAssembly fallback, as where the native binary is missing. */
export const wasmIdHasher = (idKey: IdKey): Promise<IdHasher> =>
  Promise.resolve(idHasherFactory({ crypto: modules().crypto, native: undefined, wasm: modules().wasm })(idKey.hash, idKey.key))

/**
 * Source text for a worker thread (eval'd; see WorkerThread.ts) that defines
 * `idHasher(hash, key)`: an IdHasher, or a promise of one.
 */
export const idHasherSource = `
const idHasher = (() => {
  const { createRequire } = process.getBuiltinModule("node:module")
  const load = (path) => { try { return createRequire(path)(path) } catch { return undefined } }
  const native = ${nativePath === undefined ? "undefined" : `load(${JSON.stringify(nativePath)})`}
  const wasm = ${JSON.stringify(wasmPath)}
  return (${idHasherFactory.toString()})({
    crypto: process.getBuiltinModule("node:crypto"),
    native,
    get wasm() { return createRequire(wasm)(wasm) }
  })
})()
`

/** One hasher per key on this thread: each is used for one whole id at a time (no await between). */
const hashers = new Map<string, IdHasher | Promise<IdHasher>>()
const hasherFor = (idKey: IdKey): IdHasher | Promise<IdHasher> => {
  const k = `${idKey.hash}:${Buffer.from(idKey.key.buffer, idKey.key.byteOffset, idKey.key.byteLength).toString("hex")}`
  let h = hashers.get(k)
  if (h === undefined) {
    h = idHasherFactory(modules())(idKey.hash, idKey.key)
    hashers.set(k, h)
    if (h instanceof Promise) void h.then((made) => hashers.set(k, made))
  }
  return h
}

/** `data`'s id under `idKey`, here and now (small data, or where no worker is worth its trip). */
export const idNow = (idKey: IdKey, data: Uint8Array): Effect.Effect<string> =>
  Effect.suspend(() => {
    const h = hasherFor(idKey)
    if (h instanceof Promise) return Effect.promise(() => h.then((made) => (made.update(data), made.digest())))
    h.update(data)
    return Effect.succeed(h.digest())
  })

/**
 * A chunk-id function for data the caller cannot hand to a worker. HMAC-SHA256 runs on libuv's
 * thread pool (ThreadPoolHash: 2.5 ms per 4 MiB here on the main thread); BLAKE3 runs here, where
 * 4 MiB takes ~0.45 ms, less than the copy a trip to the pool would take.
 */
export const makeIdOf = (idKey: IdKey): (data: Uint8Array) => Effect.Effect<string> =>
  idKey.hash === "hmac-sha256" ? makeHmacSha256(idKey.key) : (data) => idNow(idKey, data)

/** A key for an id namespace of its own under `parent` (a codec's), with `parent`'s hash. */
export const namespacedIdKey = (parent: IdKey, label: string): IdKey => ({
  hash: parent.hash,
  key: process.getBuiltinModule("node:crypto").createHmac("sha256", parent.key).update(label).digest()
})
