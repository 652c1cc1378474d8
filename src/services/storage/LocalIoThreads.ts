/**
 * The Local provider's object writes, and reads, done by worker threads with synchronous system
 * calls, where they are turned on (`OffThreadWrites`: backups and the gateway's PUTs;
 * `OffThreadReads`: the gateway's GETs).
 *
 * Why: a write through libuv is a dozen steps (mkdir, open, a pwrite per MiB, ftruncate, fsync,
 * close, rename, open the directory, fsync it, close), and each step's callback waits for the main
 * thread before the next can start. During a backup that thread seals chunks and drives every
 * other step, so a 4 MiB chunk took 20–30 ms to write where the disk needs 3, and with four writes
 * in flight that wait bounded the backup. On a worker the steps follow each other at once.
 *
 * How: the main thread copies a body, 1 MiB at a time, into staging buffers the workers share (a
 * shared WebAssembly.Memory: page-aligned, as O_DIRECT needs; see DirectIo.ts) and posts each; it
 * does not wait between them. The worker that took the write creates the temp file (O_DIRECT for
 * large bodies), writes each piece at its offset and hands the staging buffer back, and after the
 * last one truncates the padding, fsyncs, renames the file into place and fsyncs the directory.
 * Where the filesystem refuses O_DIRECT (EINVAL at open, or at a write: an alignment the device
 * does not take), the worker goes on buffered and says so; the provider then asks for buffered
 * I/O from then on.
 *
 * Memory: at most `OffThreadWrites` buffers of 1 MiB, reused (fresh shared memory costs ~1.7 s per GiB to
 * touch here); a write waits for one to come back when all are away. Workers start on first use,
 * at most `maxWorkers`; a write goes to the least busy. A worker keeps the process alive only while
 * it has writes. One that dies fails its writes (the provider's retry sends them again, to a new
 * worker); a temp file it leaves is swept like a killed writer's.
 */
import type { Worker } from "node:worker_threads"
import { Context } from "effect"
import { makeDirectories } from "../MakeDirectories.ts"
import { startSharedWorker } from "../WorkerThread.ts"

/**
 * How many staging buffers (1 MiB each) the Local provider's writes may use on its workers; 0 (the
 * default): writes go through libuv. Off by default because the workers and their buffers cost
 * memory some runs cannot spare. A backup, whose writes are on its critical path, uses
 * `stagingsForThroughput`: 1 GiB of new data in 1.85–2.18 s against 2.10–2.55 s (small files:
 * 1.12–1.30 s against 1.19–1.60 s), peak RSS ~255 MB against ~218 MB (four alternating runs
 * each). So does the gateway's PUT path (see Ingest). A `put`, whose budget is 256 MB, uses
 * `stagingsForPut`: a 1 GiB put took 2.65–2.76 s against 2.81–2.90 s through libuv (with its
 * default of 2 buffered chunks: 217–224 MiB peak, as through libuv; 16 buffers: 235–258 MiB).
 * The number of buffers created is the largest any write asked for.
 */
export const OffThreadWrites = Context.Reference<number>("enigma/services/storage/OffThreadWrites", {
  defaultValue: () => 0
})

/** Enough staging for four 4 MiB chunks written at once: nothing waits for a buffer. */
export const stagingsForThroughput = 16

/**
 * A put writes its chunks as fast as hashing lets them come: four buffers keep its writes off the
 * main thread, and as fast as sixteen did (2.58–2.83 s per GiB with either).
 */
export const stagingsForPut = 4

/**
 * Whether the Local provider reads objects on its workers. Off by default, for the same memory
 * reason as writes. A gateway GET turns it on: reading a 4 MiB chunk through libuv took the main
 * thread four reads, an open, a close and a copy out of the aligned staging buffer, ~0.25 s per GiB
 * of a thread that also writes every response.
 */
export const OffThreadReads = Context.Reference<boolean>("enigma/services/storage/OffThreadReads", {
  defaultValue: () => false
})

/**
 * A Local provider's directory is gone: what to do about it. Its code is its own (a "Fatal"
 * failure): "NotFound" would say an object is missing. Run by the workers too (its source text).
 */
export const rootMissing = (root: string) =>
  Object.assign(new Error(`directory ${root} does not exist: is its disk mounted? (for a provider new to the config, create it: mkdir -p ${root})`), {
    code: "ENOROOT"
  })

const align = 4096
const stagingBytes = 1024 * 1024
const maxWorkers = 2
const wasmPage = 65536

// Run by a worker thread (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const fs = process.getBuiltinModule("node:fs")
const { O_DIRECT, O_WRONLY, O_RDONLY, O_CREAT, O_EXCL } = fs.constants
const align = ${align}
const roundUp = (n) => Math.ceil(n / align) * align
const noSpace = () => Object.assign(new Error("no space left on device"), { code: "ENOSPC" })
const writes = new Map()
const rootMissing = ${rootMissing.toString()}
const makeDirectories = ${makeDirectories.toString()}
// The file's directory is made on its first write, but never the provider's root (LocalProvider).
const openNew = (w, direct) => {
  const flags = O_WRONLY | O_CREAT | O_EXCL | (direct ? O_DIRECT : 0)
  try {
    return fs.openSync(w.tmp, flags, 0o600)
  } catch (e) {
    if (e.code !== "ENOENT") throw e
    if (!fs.existsSync(w.root)) throw rootMissing(w.root)
    makeDirectories(w.dir)
    return fs.openSync(w.tmp, flags, 0o600)
  }
}
const start = (m) => {
  const w = { tmp: m.tmp, target: m.target, dir: m.dir, root: m.root, direct: m.direct, fd: -1, at: 0 }
  try {
    w.fd = openNew(w, w.direct)
  } catch (e) {
    if (!w.direct || e.code !== "EINVAL") throw e
    w.direct = false
    w.fd = openNew(w, false)
  }
  return w
}
const writeAt = (w, data, length) => {
  let done = 0
  while (done < length) {
    const n = fs.writeSync(w.fd, data, done, length - done, w.at + done)
    // A short direct write leaves an unaligned offset the next one could not use.
    if (n <= 0 || (w.direct && n % align !== 0)) throw noSpace()
    done += n
  }
}
const piece = (w, m) => {
  const data = new Uint8Array(m.buffer)
  // Direct: whole blocks, the last piece padded with zeros and the padding cut off at the end.
  const length = w.direct ? roundUp(m.length) : m.length
  if (length > m.length) data.fill(0, m.length, length)
  try {
    writeAt(w, data, length)
  } catch (e) {
    if (!w.direct || e.code !== "EINVAL") throw e
    // An alignment this device does not take: the same file, buffered, from where it is.
    w.direct = false
    const refused = w.fd
    w.fd = -1
    fs.closeSync(refused)
    w.fd = fs.openSync(w.tmp, O_WRONLY)
    writeAt(w, data, m.length)
  }
  w.at += m.length
}
const finish = (w) => {
  if (w.direct && w.at % align !== 0) fs.ftruncateSync(w.fd, w.at)
  fs.fsyncSync(w.fd)
  const fd = w.fd
  w.fd = -1
  fs.closeSync(fd)
  fs.renameSync(w.tmp, w.target)
  const dir = fs.openSync(w.dir, O_RDONLY)
  try { fs.fsyncSync(dir) } finally { fs.closeSync(dir) }
}
const abandon = (w) => {
  if (w.fd >= 0) try { fs.closeSync(w.fd) } catch {}
  try { fs.rmSync(w.tmp, { force: true }) } catch {}
}
const fail = (id, e) => parentPort.postMessage({ id, error: { code: e && e.code, message: (e && e.message) || String(e) } })
// Reads: O_DIRECT into this thread's own page-aligned buffer (a WebAssembly memory), copied into a
// buffer of the file's size that goes to the main thread; buffered where O_DIRECT is refused.
let readStaging
const buffered = (file, out, at) => {
  const fd = fs.openSync(file, O_RDONLY)
  try {
    for (;;) {
      const n = fs.readSync(fd, out, at, out.length - at, at)
      if (n === 0) return at
      at += n
      if (at === out.length) return at
    }
  } finally { fs.closeSync(fd) }
}
const read = (m) => {
  let fd
  try {
    fd = fs.openSync(m.file, O_RDONLY | (m.direct ? O_DIRECT : 0))
  } catch (e) {
    if (!m.direct || e.code !== "EINVAL") throw e
  }
  if (fd === undefined) {
    const size = fs.statSync(m.file).size
    const out = new Uint8Array(new ArrayBuffer(size))
    return { out, at: buffered(m.file, out, 0), direct: false }
  }
  let out
  let at = 0
  try {
    out = new Uint8Array(new ArrayBuffer(fs.fstatSync(fd).size))
    if (!m.direct) return { out, at: buffered(m.file, out, 0), direct: false }
    readStaging ??= new Uint8Array(new WebAssembly.Memory({ initial: ${stagingBytes / wasmPage}, maximum: ${stagingBytes / wasmPage} }).buffer)
    while (at < out.length) {
      let n
      try {
        n = fs.readSync(fd, readStaging, 0, Math.min(readStaging.length, roundUp(out.length - at)), at)
      } catch (e) {
        if (e.code !== "EINVAL") throw e
        // An alignment this device does not take: the rest buffered.
        return { out, at: buffered(m.file, out, at), direct: false }
      }
      if (n === 0) break // shrunk under us
      const take = Math.min(n, out.length - at)
      out.set(readStaging.subarray(0, take), at)
      at += take
      if (n % align !== 0) break // end of file: the next offset would not be aligned
    }
    return { out, at, direct: true }
  } finally {
    fs.closeSync(fd)
  }
}
parentPort.on("message", (m) => {
  if (m.op === "read") {
    try {
      const r = read(m)
      const bytes = r.at === r.out.length ? r.out : r.out.slice(0, r.at)
      parentPort.postMessage({ id: m.id, read: bytes.buffer, direct: r.direct }, [bytes.buffer])
    } catch (e) {
      fail(m.id, e)
    }
    return
  }
  if (m.op === "start") {
    try {
      writes.set(m.id, start(m))
    } catch (e) {
      writes.set(m.id, undefined) // failed: its pieces are only handed back
      fail(m.id, e)
    }
    return
  }
  const w = writes.get(m.id)
  try {
    if (w !== undefined) piece(w, m)
    if (m.last) {
      writes.delete(m.id)
      if (w !== undefined) {
        finish(w)
        parentPort.postMessage({ id: m.id, direct: w.direct, buffer: m.buffer })
        return
      }
    }
  } catch (e) {
    if (w !== undefined) {
      abandon(w)
      writes.set(m.id, undefined)
      if (m.last) writes.delete(m.id)
      fail(m.id, e)
    }
  }
  parentPort.postMessage({ buffer: m.buffer })
})
`

// The WebAssembly global exists in Node; TypeScript's ES lib declares only its namespace types.
declare const WebAssembly: {
  readonly Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { readonly buffer: SharedArrayBuffer }
}

/** A write or a read a worker has: settled by its answer. */
interface Job {
  readonly resolve: (answer: Answer) => void
  readonly reject: (e: Error) => void
}

interface Answer {
  readonly id?: number
  /** A staging buffer handed back. */
  readonly buffer?: SharedArrayBuffer
  /** Whether O_DIRECT was used to the end. */
  readonly direct?: boolean
  /** A read's bytes. */
  readonly read?: ArrayBuffer
  readonly error?: { code?: string; message: string }
}

interface Thread {
  readonly worker: Worker
  readonly writes: Map<number, Job>
  /** Staging buffers this worker has not handed back yet. */
  readonly holding: Set<SharedArrayBuffer>
  /** Set once the worker is gone: what is sent to it after that is handed back at once. */
  lost: boolean
}

const threads: Array<Thread> = []
let nextId = 0

// Staging buffers: created on demand up to the write's limit, then reused; writers wait for one in turn.
const free: Array<SharedArrayBuffer> = []
let created = 0
const waiting: Array<(s: SharedArrayBuffer) => void> = []

const takeStaging = (limit: number): SharedArrayBuffer | Promise<SharedArrayBuffer> => {
  const s = free.pop()
  if (s !== undefined) return s
  if (created < limit) {
    created++
    const pages = stagingBytes / wasmPage
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer
  }
  return new Promise((resolve) => waiting.push(resolve))
}

/** Staging buffers created so far (for tests: the limit a write asks for is kept). */
export const stagingBuffersCreated = (): number => created

const giveBack = (s: SharedArrayBuffer) => {
  const next = waiting.shift()
  if (next !== undefined) next(s)
  else free.push(s)
}

const errorFrom = (e: { code?: string; message: string }) => Object.assign(new Error(e.message), e.code ? { code: e.code } : {})

const startThread = (): Thread => {
  const onMessage = (m: Answer) => {
    if (m.buffer !== undefined) {
      thread.holding.delete(m.buffer)
      giveBack(m.buffer)
    }
    if (m.id === undefined) return
    const w = thread.writes.get(m.id)
    thread.writes.delete(m.id)
    if (thread.writes.size === 0) thread.worker.unref()
    if (w === undefined) return
    if (m.error !== undefined) w.reject(errorFrom(m.error))
    else w.resolve(m)
  }
  const lost = (e: Error) => {
    thread.lost = true
    const at = threads.indexOf(thread)
    if (at >= 0) threads.splice(at, 1) // the next write starts a new one
    for (const s of thread.holding) giveBack(s)
    thread.holding.clear()
    const failed = [...thread.writes.values()]
    thread.writes.clear()
    for (const w of failed) w.reject(Object.assign(new Error(`local I/O worker stopped: ${e.message}`), { code: "EAGAIN" }))
  }
  const thread: Thread = { worker: startSharedWorker(workerSource, onMessage, lost), writes: new Map(), holding: new Set(), lost: false }
  threads.push(thread)
  return thread
}

/** The least busy worker; a new one while every one has work and there is room for more. */
const pickThread = (): Thread => {
  let best: Thread | undefined
  for (const t of threads) if (best === undefined || t.writes.size < best.writes.size) best = t
  if (best === undefined || (best.writes.size > 0 && threads.length < maxWorkers)) return startThread()
  return best
}

export interface LocalPut {
  /** The temp file to create (must not exist), renamed to `target` once complete and durable. */
  readonly tmp: string
  readonly target: string
  readonly dir: string
  /** The provider's directory, which `dir` is in: a write fails if it is missing (see LocalProvider). */
  readonly root: string
  /** The body, stored concatenated in order; read before the returned promise settles. */
  readonly parts: ReadonlyArray<Uint8Array>
  /** Write with O_DIRECT (the worker goes on buffered where it is refused). */
  readonly direct: boolean
  /** Staging buffers this write may have created (at least 1; see OffThreadWrites). */
  readonly stagings: number
}

/**
 * Writes `parts` to `tmp`, fsyncs it, renames it to `target` and fsyncs the directory. Resolves with
 * whether O_DIRECT was used to the end; fails with the system error (its `code` set), having
 * removed `tmp`.
 */
export const putOffThread = async (put: LocalPut): Promise<{ readonly direct: boolean }> => {
  const thread = pickThread()
  const id = nextId++
  let failed = false
  const done = new Promise<boolean>((resolve, reject) => {
    thread.writes.set(id, { resolve: (a) => resolve(a.direct === true), reject })
  })
  done.catch(() => {
    failed = true
  })
  thread.worker.ref()
  thread.worker.postMessage({ op: "start", id, tmp: put.tmp, target: put.target, dir: put.dir, root: put.root, direct: put.direct })
  const send = (staging: SharedArrayBuffer, length: number, last: boolean) => {
    if (thread.lost) return giveBack(staging) // the write has failed already
    thread.holding.add(staging)
    thread.worker.postMessage({ id, buffer: staging, length, last })
  }
  let staging = await takeStaging(put.stagings)
  let into = Buffer.from(staging)
  let fill = 0
  for (const p of put.parts) {
    let at = 0
    while (at < p.length && !failed) {
      const n = Math.min(p.length - at, stagingBytes - fill)
      // `fill` with a source exactly as long as the range is one memcpy; TypedArray `set` into
      // shared memory copies with atomic-safe moves, 4x slower here.
      into.fill(p.subarray(at, at + n), fill, fill + n)
      fill += n
      at += n
      if (fill === stagingBytes) {
        send(staging, fill, false)
        staging = await takeStaging(put.stagings)
        into = Buffer.from(staging)
        fill = 0
      }
    }
  }
  send(staging, fill, true)
  return { direct: await done }
}

/**
 * The whole of `file`, read on a worker (with O_DIRECT when `direct`; buffered where that is
 * refused), in a buffer of its own. Fails with the system error (its `code` set).
 */
export const getOffThread = (file: string, direct: boolean): Promise<{ readonly bytes: Uint8Array; readonly direct: boolean }> => {
  const thread = pickThread()
  const id = nextId++
  return new Promise((resolve, reject) => {
    thread.writes.set(id, { resolve: (a) => resolve({ bytes: new Uint8Array(a.read!), direct: a.direct === true }), reject })
    thread.worker.ref()
    thread.worker.postMessage({ op: "read", id, file, direct })
  })
}
