/**
 * MD5 of a request body (the S3 ETag) computed on a worker thread.
 *
 * Why: MD5 is a strictly sequential hash that node:crypto runs on the calling thread only, at
 * ~520 MB/s here. In a gateway PUT it was the largest single cost of the main thread (3.5 s of
 * ~11 s for 2 GiB), which also chunks, encrypts and serves HTTP. Web Crypto, which runs on the
 * thread pool, has no MD5 and no streaming digest.
 *
 * How: `update` copies each block into a 1 MiB batch buffer of ours (the block itself may be freed
 * once its chunks are stored, see SourceBlocks), and a full batch is transferred to one shared
 * worker, which hashes it and transfers it back for reuse. At most `maxBatchesInFlight` batches
 * per body are away at a time: past that, `update` waits for the worker. A body that ends within
 * its first batch is hashed here, inline, with no round trip.
 */
import { createHash } from "node:crypto"
import type { Worker } from "node:worker_threads"
import { startSharedWorker } from "../WorkerThread.ts"
import { Effect } from "effect"

const batchBytes = 1024 * 1024
const maxBatchesInFlight = 8
/** Batch buffers kept for reuse once the worker hands them back. */
const maxPooled = 32

// Run by a worker thread (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const { createHash } = process.getBuiltinModule("node:crypto")
const hashes = new Map()
parentPort.on("message", (m) => {
  if (m.op === "update") {
    let h = hashes.get(m.id)
    if (h === undefined) hashes.set(m.id, (h = createHash("md5")))
    h.update(new Uint8Array(m.buffer, 0, m.length))
    parentPort.postMessage({ op: "ack", id: m.id, buffer: m.buffer }, [m.buffer])
  } else if (m.op === "digest") {
    const h = hashes.get(m.id) ?? createHash("md5")
    hashes.delete(m.id)
    parentPort.postMessage({ op: "digest", id: m.id, digest: h.digest() })
  } else if (m.op === "drop") {
    hashes.delete(m.id)
  }
})
`

interface Pending {
  inFlight: number
  wake: (() => void) | undefined
  done: ((digest: Buffer) => void) | undefined
  fail: (e: Error) => void
}

const pool: Array<ArrayBuffer> = []
const takeBatch = () => pool.pop() ?? new ArrayBuffer(batchBytes)

let worker: Worker | undefined
let nextId = 0
const pending = new Map<number, Pending>()

/** With no body in progress, the worker does not keep the process alive. */
const idleWhenDone = () => {
  if (pending.size === 0) worker?.unref()
}

/** The shared worker, started on first use; it keeps the process alive only while a body is in progress. */
const theWorker = () => {
  if (worker !== undefined) return worker
  const w = startSharedWorker(workerSource, (m: { op: "ack"; id: number; buffer: ArrayBuffer } | { op: "digest"; id: number; digest: Uint8Array }) => {
    const p = pending.get(m.id)
    if (m.op === "ack") {
      if (pool.length < maxPooled) pool.push(m.buffer)
      if (p === undefined) return
      p.inFlight--
      const wake = p.wake
      p.wake = undefined
      wake?.()
    } else {
      pending.delete(m.id)
      idleWhenDone()
      p?.done?.(Buffer.from(m.digest))
    }
  }, (e) => {
    if (worker === w) worker = undefined // the next body starts a new one
    const failed = [...pending.values()]
    pending.clear()
    for (const p of failed) p.fail(new Error(`the MD5 worker stopped: ${e.message}`))
  })
  worker = w
  return w
}

/** One body's MD5. `update` in order, then `digest` once (or `discard`). */
export interface Md5Stream {
  readonly update: (block: Uint8Array) => Effect.Effect<void, Error>
  readonly digest: Effect.Effect<Buffer, Error>
  /** The body failed: forget its state in the worker. */
  readonly discard: () => void
}

export const md5OffThread = (): Md5Stream => {
  let batch: Uint8Array | undefined
  let fill = 0
  let id: number | undefined
  let failure: Error | undefined
  const state: Pending = {
    inFlight: 0,
    wake: undefined,
    done: undefined,
    fail: (e) => {
      failure = e
      const wake = state.wake
      state.wake = undefined
      wake?.()
    }
  }
  const send = () => {
    if (id === undefined) {
      id = nextId++
      pending.set(id, state)
      theWorker().ref() // a body in progress keeps the process alive until its digest comes
    }
    const buffer = batch!.buffer as ArrayBuffer
    theWorker().postMessage({ op: "update", id, buffer, length: fill }, [buffer])
    state.inFlight++
    batch = undefined
    fill = 0
  }
  const waitForRoom = Effect.callback<void, Error>((resume) => {
    if (failure !== undefined) return resume(Effect.fail(failure))
    if (state.inFlight < maxBatchesInFlight) return resume(Effect.void)
    state.wake = () => resume(failure !== undefined ? Effect.fail(failure) : Effect.void)
  })
  const update = (block: Uint8Array): Effect.Effect<void, Error> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      let at = 0
      while (at < block.length) {
        batch ??= new Uint8Array(takeBatch())
        const n = Math.min(block.length - at, batch.length - fill)
        batch.set(block.subarray(at, at + n), fill)
        fill += n
        at += n
        if (fill === batch.length) {
          send()
          // The rest of this block waits until the worker has room again (blocks are small).
          if (state.inFlight >= maxBatchesInFlight) return Effect.andThen(waitForRoom, update(block.subarray(at)))
        }
      }
      return Effect.void
    })
  const digest = Effect.callback<Buffer, Error>((resume) => {
    if (failure !== undefined) return resume(Effect.fail(failure))
    if (id === undefined) {
      // Never left this thread: hash the one partial batch here.
      const h = createHash("md5").update(batch === undefined ? new Uint8Array(0) : batch.subarray(0, fill))
      if (batch !== undefined && pool.length < maxPooled) pool.push(batch.buffer as ArrayBuffer)
      batch = undefined
      return resume(Effect.succeed(h.digest()))
    }
    if (fill > 0) send()
    state.done = (d) => resume(Effect.succeed(d))
    state.fail = (e) => resume(Effect.fail(e))
    theWorker().postMessage({ op: "digest", id })
  })
  const discard = () => {
    if (id === undefined) return
    pending.delete(id)
    idleWhenDone()
    worker?.postMessage({ op: "drop", id })
  }
  return { update, digest, discard }
}
