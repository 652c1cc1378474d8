/**
 * A chunk's three digests — its id (HMAC-SHA256 under a chunk-id key), SHA-256 and SHA3-256 —
 * computed by worker threads on the chunk's own buffer, transferred there and back.
 *
 * Why: through Web Crypto (ThreadPoolHash) each of the three hashes took a copy of the chunk on
 * the main thread and zeroed that copy when done, on both threads: ~0.6 s of CPU per GiB `put`,
 * a third of it on the main thread, which also chunks, seals and writes. A transferred buffer is
 * neither copied nor zeroed; the main thread pays one message each way.
 *
 * Two workers at most (there are two cores here, and SHA3 alone is ~1.7 s per GiB); a chunk goes
 * to the one with fewer out. A worker starts on first use and keeps the process alive only while
 * it has chunks. One that dies fails the chunks it had (their bytes went with them).
 */
import { createHash, createHmac } from "node:crypto"
import type { Worker } from "node:worker_threads"
import { Effect } from "effect"
import { spansWholeBuffer } from "./ReleaseBuffers.ts"
import { startSharedWorker } from "./WorkerThread.ts"

export interface ChunkDigests {
  /** The chunk's bytes again, in the buffer that came back (the one given is detached). */
  readonly data: Uint8Array
  /** HMAC-SHA256 under the id key, hex. */
  readonly id: string
  readonly sha256: string
  readonly sha3: string
}

const maxWorkers = 2

// Run by a worker thread (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const { createHash, createHmac, createSecretKey } = process.getBuiltinModule("node:crypto")
const keys = new Map()
parentPort.on("message", (m) => {
  if (m.key !== undefined) return void keys.set(m.keyId, createSecretKey(m.key))
  const data = new Uint8Array(m.buffer, m.offset, m.length)
  const id = createHmac("sha256", keys.get(m.keyId)).update(data).digest("hex")
  const sha256 = createHash("sha256").update(data).digest("hex")
  const sha3 = createHash("sha3-256").update(data).digest("hex")
  parentPort.postMessage({ job: m.job, buffer: m.buffer, id, sha256, sha3 }, [m.buffer])
})
`

interface Answer {
  readonly job: number
  readonly buffer: ArrayBuffer
  readonly id: string
  readonly sha256: string
  readonly sha3: string
}

interface Job {
  readonly offset: number
  readonly length: number
  readonly resolve: (d: ChunkDigests) => void
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
    job.resolve({ data: new Uint8Array(a.buffer, job.offset, job.length), id: a.id, sha256: a.sha256, sha3: a.sha3 })
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
 * The digests of `data`, whose buffer is transferred to a worker: the caller must own that buffer
 * outright (no other view of it is in use), and uses the `data` that comes back instead.
 */
export const digestsOffThread = (data: Uint8Array, idKey: Uint8Array): Effect.Effect<ChunkDigests> =>
  Effect.promise(() =>
    new Promise<ChunkDigests>((resolve, reject) => {
      const hex = Buffer.from(idKey.buffer, idKey.byteOffset, idKey.byteLength).toString("hex")
      let keyId = keyIds.get(hex)
      if (keyId === undefined) keyIds.set(hex, keyId = keyIds.size)
      const w = leastBusy()
      if (!w.keys.has(keyId)) {
        w.keys.add(keyId)
        w.worker.postMessage({ keyId, key: Uint8Array.from(idKey) })
      }
      const job = nextJob++
      if (w.jobs.size === 0) w.worker.ref()
      w.jobs.set(job, { offset: data.byteOffset, length: data.byteLength, resolve, reject })
      const buffer = data.buffer as ArrayBuffer
      w.worker.postMessage({ job, keyId, buffer, offset: data.byteOffset, length: data.byteLength }, [buffer])
    })
  )

/** Below this, hashing inline costs less than the round trip. */
const inlineBelow = 64 * 1024

/**
 * The digests of a chunk, on a worker unless it is small. `own`: the caller owns the chunk's buffer
 * outright, so it may travel; otherwise a copy does. `fresh`: the `data` returned is a buffer of
 * the caller's own (free it when done); when false it is the `data` given.
 */
export const chunkDigests = (data: Uint8Array, idKey: Uint8Array, own: boolean): Effect.Effect<ChunkDigests & { readonly fresh: boolean }> =>
  data.length < inlineBelow
    ? Effect.sync(() => ({
      data,
      fresh: false,
      id: createHmac("sha256", idKey).update(data).digest("hex"),
      sha256: createHash("sha256").update(data).digest("hex"),
      sha3: createHash("sha3-256").update(data).digest("hex")
    }))
    : Effect.map(digestsOffThread(own && spansWholeBuffer(data) ? data : copyOf(data), idKey), (d) => ({ ...d, fresh: true }))

/** A copy in a buffer of its own (a Buffer's `slice` is a view). */
const copyOf = (data: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(data.length)
  copy.set(data)
  return copy
}
