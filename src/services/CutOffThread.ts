/**
 * Content-defined chunk boundaries found on a worker thread.
 *
 * Why: the gear loop (`cdcCuts`) was the main thread's largest cost in a backup of new data, about
 * 0.6 s per GiB here, and that thread also seals every chunk and takes each step of its write. A
 * backup of 1 GiB with fixed-size chunks, which need no search, took 1.96–2.11 s against 2.36–2.48
 * s with CDC.
 *
 * How: the caller transfers whole blocks (ArrayBuffers it owns) to the worker in stream order. The
 * worker runs `cdcCuts` over each, carrying the search from block to block, and transfers the
 * block back with its cuts and where the search stood after it. Answers come back in send order
 * (one worker, one queue); the caller hands each to its chunker's `pushCut`, which cuts the chunks
 * as views of the block exactly as `push` would have. A block is unusable (detached) while away.
 *
 * The worker keeps the process alive only while blocks are away; `close` stops it.
 */
import { startWorker } from "./WorkerThread.ts"
import { cdcCuts, type CdcSearch } from "../domain/Chunker.ts"

/** A block back from the worker, with the cuts in it and the search's state after it. */
export interface CutBlock {
  readonly block: Uint8Array
  readonly cuts: Array<number>
  readonly h: number
  readonly len: number
}

export interface CutOffThread {
  /** Sends the first `length` bytes of `buffer` (transferred: detached until answered) to be cut. */
  readonly cut: (buffer: ArrayBuffer, length: number) => Promise<CutBlock>
  /** Stops the worker; blocks still away are lost (their promises fail). */
  readonly close: () => Promise<void>
}

// Run by startWorker (eval'd; see WorkerThread.ts). `cdcCuts` refers to nothing outside itself,
// so its source text runs there as it is.
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const cdcCuts = ${cdcCuts.toString()}
let search
parentPort.on("message", (m) => {
  if (m.search !== undefined) {
    search = m.search
    return
  }
  const cuts = []
  cdcCuts(search, new Uint8Array(m.buffer, 0, m.length), cuts)
  parentPort.postMessage({ buffer: m.buffer, length: m.length, cuts, h: search.h, len: search.len }, [m.buffer])
})
`

/** Starts a worker searching from `search` (the start of a stream, or where a chunker stands). */
export const cutOffThread = (search: CdcSearch): CutOffThread => {
  const worker = startWorker(workerSource)
  const waiting: Array<{ resolve: (b: CutBlock) => void; reject: (e: Error) => void }> = []
  let failure: Error | undefined
  worker.on("message", (m: { buffer: ArrayBuffer; length: number; cuts: Array<number>; h: number; len: number }) => {
    const w = waiting.shift()
    if (waiting.length === 0) worker.unref()
    w?.resolve({ block: new Uint8Array(m.buffer, 0, m.length), cuts: m.cuts, h: m.h, len: m.len })
  })
  const lost = (e: Error) => {
    failure ??= new Error(`the chunking worker stopped: ${e.message}`)
    for (const w of waiting.splice(0)) w.reject(failure)
  }
  let closing = false
  worker.on("error", lost)
  worker.on("exit", (code) => {
    if (!closing) lost(new Error(`exit code ${code}`))
  })
  // After the listeners: adding a "message" listener refs the worker's port again.
  worker.unref()
  worker.postMessage({ search: { ...search, gear: search.gear.slice() } })
  return {
    cut: (buffer, length) =>
      new Promise<CutBlock>((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        waiting.push({ resolve, reject })
        worker.ref()
        worker.postMessage({ buffer, length }, [buffer])
      }),
    close: async () => {
      closing = true
      lost(new Error("closed"))
      await worker.terminate()
    }
  }
}
