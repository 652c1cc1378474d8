/**
 * Digests of chunk-sized data — a chunk id (HMAC-SHA256 under a chunk-id key), SHA-256 and
 * SHA3-256 — computed by worker threads on the data's own buffer, transferred there and back.
 *
 * Why: through Web Crypto (ThreadPoolHash) each hash took a copy of the chunk on the main thread
 * and zeroed that copy when done, on both threads: ~0.6 s of CPU per GiB `put`, a third of it on
 * the main thread, which also chunks, seals and writes. A transferred buffer is neither copied nor
 * zeroed; the main thread pays one message each way. Every chunk read (restore, `get`, a gateway
 * GET) has its id checked the same way.
 *
 * Two workers at most (there are two cores here, and SHA3 alone is ~1.7 s per GiB); a chunk goes
 * to one with nothing out, else to the one with less. A worker starts on first use and keeps the
 * process alive only while it has chunks. One that dies fails the chunks it had (their bytes went
 * with them).
 */
import { createHash, createHmac } from "node:crypto"
import type { Worker } from "node:worker_threads"
import { Effect } from "effect"
import { spansWholeBuffer } from "./ReleaseBuffers.ts"
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

/** With the chunk id (HMAC-SHA256 under the id key, hex). */
export interface ChunkDigests extends StreamDigests {
  readonly id: string
}

/** What to compute: an id under `key`, the two stream digests, or both. */
interface Want {
  readonly key: Uint8Array | undefined
  readonly shas: boolean
}

interface Answer {
  readonly job: number
  readonly buffer: ArrayBuffer
  readonly id: string
  readonly sha256: string
  readonly sha3: string
}

const maxWorkers = 2

/** Below this, hashing inline costs less than the round trip. */
const inlineBelow = 64 * 1024

// Run by a worker thread (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const { createHash, createHmac, createSecretKey } = process.getBuiltinModule("node:crypto")
const keys = new Map()
parentPort.on("message", (m) => {
  if (m.key !== undefined) return void keys.set(m.keyId, createSecretKey(m.key))
  const data = new Uint8Array(m.buffer, m.offset, m.length)
  const id = m.keyId < 0 ? "" : createHmac("sha256", keys.get(m.keyId)).update(data).digest("hex")
  const sha256 = m.shas ? createHash("sha256").update(data).digest("hex") : ""
  const sha3 = m.shas ? createHash("sha3-256").update(data).digest("hex") : ""
  parentPort.postMessage({ job: m.job, buffer: m.buffer, id, sha256, sha3 }, [m.buffer])
})
`

interface Job {
  readonly resolve: (a: Answer) => void
  readonly reject: (e: Error) => void
}

interface DigestWorker {
  readonly worker: Worker
  readonly jobs: Map<number, Job>
  /** Key ids this worker has been sent. */
  readonly keys: Set<number>
}

const workers: Array<DigestWorker> = []
/** Id keys by their hex, numbered once per process. */
const keyIds = new Map<string, number>()
let nextJob = 0

const startDigestWorker = (): DigestWorker => {
  const onAnswer = (a: Answer) => {
    const job = w.jobs.get(a.job)
    if (job === undefined) return
    w.jobs.delete(a.job)
    if (w.jobs.size === 0) w.worker.unref()
    job.resolve(a)
  }
  const lost = (e: Error) => {
    const at = workers.indexOf(w)
    if (at >= 0) workers.splice(at, 1) // the next chunk starts a new worker
    const failure = new Error(`the hashing worker stopped: ${e.message}`)
    for (const job of w.jobs.values()) job.reject(failure)
    w.jobs.clear()
  }
  const w: DigestWorker = { worker: startSharedWorker(workerSource, onAnswer, lost), jobs: new Map(), keys: new Set() }
  workers.push(w)
  return w
}

const leastBusy = (): DigestWorker => {
  const idle = workers.find((w) => w.jobs.size === 0)
  if (idle !== undefined) return idle
  if (workers.length < maxWorkers) return startDigestWorker()
  return workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a))
}

/**
 * Starts a worker now, if none runs, for a command about to read or write chunks: it boots (~25 ms
 * of CPU) while the command prepares, instead of when its first chunk is waiting.
 */
export const warmDigestWorkers = (): void => {
  if (workers.length === 0) startDigestWorker()
}

/** Sends `data`'s whole buffer (transferred: detached until answered) to a worker. */
const onWorker = (data: Uint8Array, want: Want): Effect.Effect<Answer & Hashed> => {
  // Read before the transfer: a detached view reports offset and length 0.
  const offset = data.byteOffset
  const length = data.byteLength
  return Effect.promise(() =>
    new Promise<Answer>((resolve, reject) => {
      const w = leastBusy()
      let keyId = -1
      if (want.key !== undefined) {
        const hex = Buffer.from(want.key.buffer, want.key.byteOffset, want.key.byteLength).toString("hex")
        keyId = keyIds.get(hex) ?? keyIds.size
        keyIds.set(hex, keyId)
        if (!w.keys.has(keyId)) {
          w.keys.add(keyId)
          w.worker.postMessage({ keyId, key: Uint8Array.from(want.key) })
        }
      }
      const job = nextJob++
      if (w.jobs.size === 0) w.worker.ref()
      w.jobs.set(job, { resolve, reject })
      const buffer = data.buffer as ArrayBuffer
      w.worker.postMessage({ job, keyId, shas: want.shas, buffer, offset, length }, [buffer])
    }).then((a) => ({ ...a, data: new Uint8Array(a.buffer, offset, length), fresh: true }))
  )
}

const inline = (data: Uint8Array, want: Want): Answer & Hashed => ({
  job: -1,
  buffer: data.buffer as ArrayBuffer,
  data,
  fresh: false,
  id: want.key === undefined ? "" : createHmac("sha256", want.key).update(data).digest("hex"),
  sha256: want.shas ? createHash("sha256").update(data).digest("hex") : "",
  sha3: want.shas ? createHash("sha3-256").update(data).digest("hex") : ""
})

/** A copy in a buffer of its own (a Buffer's `slice` is a view). */
const copyOf = (data: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(data.length)
  copy.set(data)
  return copy
}

/**
 * On a worker unless `data` is small. `own`: the caller owns `data`'s buffer outright (no other
 * view of it is in use), so it may travel; otherwise a copy does.
 */
const hash = (data: Uint8Array, own: boolean, want: Want): Effect.Effect<Answer & Hashed> =>
  data.length < inlineBelow
    ? Effect.sync(() => inline(data, want))
    : onWorker(own && spansWholeBuffer(data) ? data : copyOf(data), want)

/** A put's chunk: its id under `idKey`, SHA-256 and SHA3-256. */
export const chunkDigests = (data: Uint8Array, idKey: Uint8Array, own: boolean): Effect.Effect<ChunkDigests> =>
  Effect.map(hash(data, own, { key: idKey, shas: true }), ({ data, fresh, id, sha256, sha3 }) => ({ data, fresh, id, sha256, sha3 }))

/** A chunk's id under `idKey`. */
export const chunkId = (data: Uint8Array, idKey: Uint8Array, own: boolean): Effect.Effect<Hashed & { readonly id: string }> =>
  Effect.map(hash(data, own, { key: idKey, shas: false }), ({ data, fresh, id }) => ({ data, fresh, id }))

/** A stream chunk's SHA-256 and SHA3-256. */
export const streamDigests = (data: Uint8Array, own: boolean): Effect.Effect<StreamDigests> =>
  Effect.map(hash(data, own, { key: undefined, shas: true }), ({ data, fresh, sha256, sha3 }) => ({ data, fresh, sha256, sha3 }))
