/**
 * Chunk work on worker threads, on the chunk's own buffer, transferred there and back: digests (a
 * chunk id under a chunk-id key, ChunkIdHashing; SHA-256 and SHA3-256 of a stream chunk), and, where
 * turned on (`OpenOnChunkWorkers`), opening a repository envelope (AES-256-GCM) together with the
 * id check of what it held.
 *
 * Why: the main thread chunks, seals, reads, writes and drives every pipeline. Through Web Crypto
 * (ThreadPoolHash) each hash took a copy of the chunk on the main thread and zeroed that copy when
 * done, on both threads: ~0.6 s of CPU per GiB `put`, a third of it on the main thread. Decrypting
 * there took ~0.35 s per GiB read (restore, `get`, a gateway GET). A transferred buffer is neither
 * copied nor zeroed; the main thread pays one message each way.
 *
 * Two workers at most (there are two cores here, and SHA3 alone is ~1.7 s per GiB); a job goes to
 * one with nothing out, else to the one with less. A worker starts on first use (or `warm`) and
 * keeps the process alive only while it has jobs. One that dies fails the jobs it had (their bytes
 * went with them). Keys (id keys, data keys) are sent to a worker once, as key objects there.
 */
import { createHash } from "node:crypto"
import type { Worker } from "node:worker_threads"
import { Context, Effect } from "effect"
import type { IdKey } from "../domain/ChunkIdHash.ts"
import { idHasherSource, idNow } from "./ChunkIdHashing.ts"
import { openInPlace } from "./OpenInPlace.ts"
import { holdAlone, soleView, spansWholeBuffer } from "./ReleaseBuffers.ts"
import { startSharedWorker } from "./WorkerThread.ts"

/** The data after hashing, and whether it is a buffer of the caller's own making. */
export interface Hashed {
  /** The bytes again: the `data` given, or (`fresh`) the buffer that came back from a worker. */
  readonly data: Uint8Array
  /**
   * The `data` returned is a new buffer, the caller's to free when done; the one given was
   * detached (when owned) or left as it was (otherwise).
   */
  readonly fresh: boolean
}

/** SHA-256 and SHA3-256, hex: a stream chunk's digests (StreamChain). */
export interface StreamDigests extends Hashed {
  readonly sha256: string
  readonly sha3: string
}

/** With the chunk id (the keyed hash under the id key, hex). */
export interface ChunkDigests extends StreamDigests {
  readonly id: string
}

/** What to compute: an id under `key`, the two stream digests, or both. */
interface Want {
  readonly key: IdKey | undefined
  readonly shas: boolean
}

interface Answer {
  readonly job: number
  /** Absent when an envelope did not authenticate. */
  readonly buffer?: ArrayBuffer
  /** Where the result lies in `buffer` (an opened envelope's plaintext). */
  readonly offset?: number
  readonly length?: number
  readonly id: string
  readonly sha256: string
  readonly sha3: string
}

const maxWorkers = 2

/** Below this, hashing or opening here costs less than the round trip to a worker. */
export const inlineBelow = 64 * 1024

// Run by a worker thread (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
// An envelope is header ‖ ciphertext ‖ tag (Envelope.ts); the caller parsed the header.
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const { createDecipheriv, createHash, createSecretKey } = process.getBuiltinModule("node:crypto")
${idHasherSource}
const keys = new Map()
const idHashers = new Map()
const idOf = (keyId, data) => {
  if (keyId < 0) return ""
  const h = idHashers.get(keyId)
  h.update(data)
  return h.digest()
}
const openInPlace = ${openInPlace.toString()}
const crypto = { createDecipheriv }
const open = (m) => {
  const envelope = new Uint8Array(m.buffer, m.offset, m.length)
  let plain
  try {
    plain = openInPlace(crypto, keys.get(m.dataKeyId), m.nonce, m.aad, envelope, m.headerLength)
  } catch {
    return void parentPort.postMessage({ job: m.job, id: "", sha256: "", sha3: "" })
  }
  const id = idOf(m.keyId, plain)
  parentPort.postMessage({ job: m.job, buffer: m.buffer, offset: plain.byteOffset, length: plain.length, id, sha256: "", sha3: "" }, [m.buffer])
}
const onJob = (m) => {
  // An id hasher still being made (the WebAssembly fallback) holds its jobs back; answers go by job number.
  const pending = idHashers.get(m.keyId)
  if (pending instanceof Promise) return void pending.then(() => onJob(m))
  if (m.open) return open(m)
  const data = new Uint8Array(m.buffer, m.offset, m.length)
  const id = idOf(m.keyId, data)
  const sha256 = m.shas ? createHash("sha256").update(data).digest("hex") : ""
  const sha3 = m.shas ? createHash("sha3-256").update(data).digest("hex") : ""
  parentPort.postMessage({ job: m.job, buffer: m.buffer, id, sha256, sha3 }, [m.buffer])
}
parentPort.on("message", (m) => {
  if (m.key === undefined) return onJob(m)
  if (m.idHash === undefined) return void keys.set(m.keyId, createSecretKey(m.key))
  const made = idHasher(m.idHash, m.key)
  idHashers.set(m.keyId, made)
  if (made instanceof Promise) made.then((h) => idHashers.set(m.keyId, h))
})
`

interface Job {
  readonly resolve: (a: Answer) => void
  readonly reject: (e: Error) => void
}

interface ChunkWorker {
  readonly worker: Worker
  readonly jobs: Map<number, Job>
  /** Key ids this worker has been sent. */
  readonly keys: Set<number>
}

const workers: Array<ChunkWorker> = []
/** Keys by their hex, numbered once per process. */
const keyIds = new Map<string, number>()
let nextJob = 0

const startChunkWorker = (): ChunkWorker => {
  const onAnswer = (a: Answer) => {
    const job = w.jobs.get(a.job)
    if (job === undefined) return
    w.jobs.delete(a.job)
    if (w.jobs.size === 0) w.worker.unref()
    job.resolve(a)
  }
  const lost = (e: Error) => {
    const at = workers.indexOf(w)
    if (at >= 0) workers.splice(at, 1) // the next job starts a new worker
    const failure = new Error(`the chunk worker stopped: ${e.message}`)
    for (const job of w.jobs.values()) job.reject(failure)
    w.jobs.clear()
  }
  const w: ChunkWorker = { worker: startSharedWorker(workerSource, onAnswer, lost), jobs: new Map(), keys: new Set() }
  workers.push(w)
  return w
}

const leastBusy = (): ChunkWorker => {
  const idle = workers.find((w) => w.jobs.size === 0)
  if (idle !== undefined) return idle
  if (workers.length < maxWorkers) return startChunkWorker()
  return workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a))
}

/**
 * Starts a worker now, if none runs, for a command about to read or write chunks: it boots (~25 ms
 * of CPU) while the command prepares, instead of when its first chunk is waiting.
 */
export const warmChunkWorkers = (): void => {
  if (workers.length === 0) startChunkWorker()
}

/**
 * `key`'s number on `w`, sending it there first if need be; -1 for no key. An id key goes with
 * its hash, to make that hash's hasher; a data key (AES-256-GCM) becomes a key object.
 */
const keyOn = (w: ChunkWorker, key: IdKey | { readonly dataKey: Uint8Array } | undefined): number => {
  if (key === undefined) return -1
  const bytes = "dataKey" in key ? key.dataKey : key.key
  const idHash = "dataKey" in key ? undefined : key.hash
  const name = `${idHash ?? "data"}:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`
  const keyId = keyIds.get(name) ?? keyIds.size
  keyIds.set(name, keyId)
  if (!w.keys.has(keyId)) {
    w.keys.add(keyId)
    w.worker.postMessage({ keyId, key: Uint8Array.from(bytes), idHash })
  }
  return keyId
}

/**
 * Sends `data`'s whole buffer (transferred: detached until answered) to a worker, with the rest of
 * the job's message from `message` (given the worker, for its key numbers).
 */
const onWorker = (data: Uint8Array, message: (w: ChunkWorker) => object): Effect.Effect<Answer> => {
  // Read before the transfer: a detached view reports offset and length 0.
  const offset = data.byteOffset
  const length = data.byteLength
  return Effect.promise(() =>
    new Promise<Answer>((resolve, reject) => {
      const w = leastBusy()
      const fields = message(w)
      const job = nextJob++
      if (w.jobs.size === 0) w.worker.ref()
      w.jobs.set(job, { resolve, reject })
      const buffer = data.buffer as ArrayBuffer
      w.worker.postMessage({ ...fields, job, buffer, offset, length }, [buffer])
    }).then((a) => ({ ...a, offset: a.offset ?? offset, length: a.length ?? length }))
  )
}

/** A copy in a buffer of its own (a Buffer's `slice` is a view). */
const copyOf = (data: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(data.length)
  copy.set(data)
  return copy
}

/**
 * `data`, or a copy when its buffer may not travel: not `own`, or holding more than `data` that
 * someone else may read (a view that is not the sole one: soleView).
 */
const travelling = (data: Uint8Array, own: boolean) => (own && soleView(data) ? data : copyOf(data))

/** The view an answer's bytes are in: like the one sent, the sole view of its buffer. */
const answerView = (a: Answer): Uint8Array => {
  const view = new Uint8Array(a.buffer!, a.offset, a.length)
  return spansWholeBuffer(view) ? view : holdAlone(view)
}

const inline = (data: Uint8Array, want: Want): Effect.Effect<Answer & Hashed> =>
  Effect.map(want.key === undefined ? Effect.succeed("") : idNow(want.key, data), (id) => ({
    job: -1,
    data,
    fresh: false,
    id,
    sha256: want.shas ? createHash("sha256").update(data).digest("hex") : "",
    sha3: want.shas ? createHash("sha3-256").update(data).digest("hex") : ""
  }))

/**
 * On a worker unless `data` is small. `own`: the caller owns `data`'s buffer outright (no other
 * view of it is in use), so it may travel; otherwise a copy does.
 */
const hash = (data: Uint8Array, own: boolean, want: Want): Effect.Effect<Answer & Hashed> =>
  data.length < inlineBelow
    ? inline(data, want)
    : Effect.map(
      onWorker(travelling(data, own), (w) => ({ keyId: keyOn(w, want.key), shas: want.shas })),
      (a) => ({ ...a, data: answerView(a), fresh: true })
    )

/** A put's chunk: its id under `idKey`, SHA-256 and SHA3-256. */
export const chunkDigests = (data: Uint8Array, idKey: IdKey, own: boolean): Effect.Effect<ChunkDigests> =>
  Effect.map(hash(data, own, { key: idKey, shas: true }), ({ data, fresh, id, sha256, sha3 }) => ({ data, fresh, id, sha256, sha3 }))

/** A chunk's id under `idKey`. */
export const chunkId = (data: Uint8Array, idKey: IdKey, own: boolean): Effect.Effect<Hashed & { readonly id: string }> =>
  Effect.map(hash(data, own, { key: idKey, shas: false }), ({ data, fresh, id }) => ({ data, fresh, id }))

/** A stream chunk's SHA-256 and SHA3-256. */
export const streamDigests = (data: Uint8Array, own: boolean): Effect.Effect<StreamDigests> =>
  Effect.map(hash(data, own, { key: undefined, shas: true }), ({ data, fresh, sha256, sha3 }) => ({ data, fresh, sha256, sha3 }))

/**
 * Whether chunk reads open their envelope on a chunk worker (`openEnvelope`). Off by default: the
 * plaintext is then made on the worker, from that thread's malloc arena, which keeps up to 64 MiB
 * of freed chunks for reuse: a `get` from S3 went from ~245 to ~295 MB peak RSS, over its 256 MB,
 * and ran no faster (its hashing bounds it). A gateway GET, whose main thread writes every
 * response and whose memory `max_transfers` bounds, turns it on (Objects.readRange): 256 MiB GETs,
 * one client, 560–601 → 755 MB/s together with freeing written chunks (ReleaseWritten).
 */
export const OpenOnChunkWorkers = Context.Reference<boolean>("enigma/services/ChunkThreads/OpenOnChunkWorkers", {
  defaultValue: () => false
})

/** How to open an envelope: its header's parts (Envelope.decodeHeader) and the keys. */
export interface EnvelopeOpening {
  readonly dataKey: Uint8Array
  readonly nonce: Uint8Array
  readonly aad: Uint8Array
  readonly headerLength: number
  /** The chunk-id key to hash the plaintext under; absent for a compressed chunk (hashed after). */
  readonly idKey: IdKey | undefined
}

/**
 * Decrypts an envelope (AES-256-GCM; `tagLength` 16 at its end) on a worker and, with an id key,
 * hashes the plaintext there too. `envelope`'s buffer travels as in `hash` (`own`). Undefined when
 * it does not authenticate; otherwise the plaintext, a buffer of the caller's own, and its id ("" without an id key).
 */
export const openEnvelope = (envelope: Uint8Array, own: boolean, o: EnvelopeOpening): Effect.Effect<{ readonly plain: Uint8Array; readonly id: string } | undefined> =>
  Effect.map(
    onWorker(travelling(envelope, own), (w) => ({
      open: true,
      keyId: keyOn(w, o.idKey),
      dataKeyId: keyOn(w, { dataKey: o.dataKey }),
      nonce: Uint8Array.from(o.nonce),
      aad: Uint8Array.from(o.aad),
      headerLength: o.headerLength
    })),
    (a) => a.buffer === undefined ? undefined : { plain: answerView(a), id: a.id }
  )
