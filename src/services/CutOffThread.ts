/**
 * Content-defined chunk boundaries found on a worker thread.
 *
 * Why: the gear loop (`cdcCuts`) was the main thread's largest cost in a backup of new data, about
 * 0.6 s per GiB here, and that thread also seals every chunk and takes each step of its write. A
 * backup of 1 GiB with fixed-size chunks, which need no search, took 1.96–2.11 s against 2.36–2.48
 * s with CDC.
 *
 * How: each stream (a backup's content) transfers whole blocks (ArrayBuffers it owns) to one
 * worker shared by the process, in stream order. The worker runs `cdcCuts` over each, carrying
 * the stream's search from block to block, and transfers the block back with its cuts and where
 * the search stood after it. A stream's answers come back in send order (one worker, one queue);
 * the caller hands each to its chunker's `pushCut`, which cuts the chunks as views of the block
 * exactly as `push` would have. A block is unusable (detached) while away.
 *
 * The worker starts on first use and keeps the process alive only while blocks are away.
 */
import type { Worker } from "node:worker_threads"
import type { IdKey } from "../domain/ChunkIdHash.ts"
import { cdcCuts, type CdcSearch } from "../domain/Chunker.ts"
import { idHasherSource } from "./ChunkIdHashing.ts"
import { startSharedWorker } from "./WorkerThread.ts"

/** A block back from the worker, with the cuts in it and the search's state after it. */
export interface CutBlock {
  readonly block: Uint8Array
  readonly cuts: Array<number>
  readonly h: number
  readonly len: number
  /**
   * With an id key: the id (ChunkIdHashing, hex) of the chunk each cut ends, the
   * chunk's bytes from the previous cut (in this block or an earlier one) to this one.
   */
  readonly ids: Array<string> | undefined
}

/** One stream's cutting. */
export interface CutOffThread {
  /** Sends the first `length` bytes of `buffer` (transferred: detached until answered) to be cut. */
  readonly cut: (buffer: ArrayBuffer, length: number) => Promise<CutBlock>
  /** Ends the stream: its blocks still away fail, and further ones are refused. */
  readonly close: () => void
}

// Run by a worker thread (eval'd; see WorkerThread.ts). `cdcCuts` refers to nothing outside itself,
// so its source text runs there as it is.
// With an id key, the worker also hashes each chunk as it cuts it: the block is there already,
// where hashing on the thread pool took a copy of every chunk first.
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
${idHasherSource}
const cdcCuts = ${cdcCuts.toString()}
const searches = new Map()
const hashers = new Map()
const onBlock = (m) => {
  if (m.drop) return void (searches.delete(m.stream), hashers.delete(m.stream))
  const search = searches.get(m.stream)
  const data = new Uint8Array(m.buffer, 0, m.length)
  const cuts = []
  if (search !== undefined) cdcCuts(search, data, cuts)
  const hasher = hashers.get(m.stream)
  let ids
  if (hasher !== undefined) {
    ids = []
    let start = 0
    for (const cut of cuts) {
      hasher.update(data.subarray(start, cut))
      ids.push(hasher.digest())
      start = cut
    }
    if (start < data.length) hasher.update(data.subarray(start))
  }
  parentPort.postMessage({ stream: m.stream, buffer: m.buffer, length: m.length, cuts, h: search?.h, len: search?.len, ids }, [m.buffer])
}
const handle = (m) => {
  if (m.search === undefined) return onBlock(m)
  searches.set(m.stream, m.search)
  if (m.idKey === undefined) return
  const made = idHasher(m.idKey.hash, m.idKey.key)
  if (!(made instanceof Promise)) return void hashers.set(m.stream, made)
  return made.then((h) => void hashers.set(m.stream, h))
}
// Answers go in message order. A hasher still being made (the WebAssembly fallback) holds back
// every message after it until it is ready.
let held
parentPort.on("message", (m) => {
  if (held !== undefined) return void (held = held.then(() => handle(m)))
  const r = handle(m)
  if (r instanceof Promise) held = r
})
`

interface Waiting {
  readonly resolve: (b: CutBlock) => void
  readonly reject: (e: Error) => void
}

interface StreamState {
  readonly waiting: Array<Waiting>
  failure: Error | undefined
}

interface Shared {
  readonly worker: Worker
  readonly streams: Map<number, StreamState>
  /** Blocks sent and not answered, across streams: the worker is ref'd while there are any. */
  away: number
}

let shared: Shared | undefined
let nextStream = 0

const theWorker = (): Shared => {
  if (shared !== undefined) return shared
  const onMessage = (m: { stream: number; buffer: ArrayBuffer; length: number; cuts: Array<number>; h: number; len: number; ids: Array<string> | undefined }) => {
    if (--sh.away === 0) worker.unref()
    // A closed stream's answers are dropped.
    sh.streams.get(m.stream)?.waiting.shift()?.resolve({ block: new Uint8Array(m.buffer, 0, m.length), cuts: m.cuts, h: m.h, len: m.len, ids: m.ids })
  }
  const lost = (e: Error) => {
    if (shared === sh) shared = undefined // the next stream starts a new worker
    const failure = new Error(`the chunking worker stopped: ${e.message}`)
    for (const s of sh.streams.values()) {
      s.failure ??= failure
      for (const w of s.waiting.splice(0)) w.reject(s.failure)
    }
    sh.streams.clear()
  }
  const worker = startSharedWorker(workerSource, onMessage, lost)
  const sh: Shared = { worker, streams: new Map(), away: 0 }
  shared = sh
  return sh
}

/**
 * Starts a stream searching from `search` (the start of a stream, or where a chunker stands).
 * With `idKey` (a repository's chunk-id key), each block also comes back with the ids of the
 * chunks its cuts end; the stream's last chunk, which no cut ends, is the caller's to hash.
 */
export const cutOffThread = (search: CdcSearch, idKey?: IdKey): CutOffThread => {
  const sh = theWorker()
  const stream = nextStream++
  const state: StreamState = { waiting: [], failure: undefined }
  sh.streams.set(stream, state)
  sh.worker.postMessage({ stream, search: { ...search, gear: search.gear.slice() }, ...(idKey !== undefined ? { idKey: { hash: idKey.hash, key: idKey.key.slice() } } : {}) })
  return {
    cut: (buffer, length) =>
      new Promise<CutBlock>((resolve, reject) => {
        if (state.failure !== undefined) return reject(state.failure)
        state.waiting.push({ resolve, reject })
        if (sh.away++ === 0) sh.worker.ref()
        sh.worker.postMessage({ stream, buffer, length }, [buffer])
      }),
    close: () => {
      if (state.failure !== undefined) return
      state.failure = new Error("the chunking worker stopped: the stream was closed")
      for (const w of state.waiting.splice(0)) w.reject(state.failure)
      if (sh.streams.get(stream) === state) {
        sh.streams.delete(stream)
        sh.worker.postMessage({ stream, drop: true })
      }
    }
  }
}
