/**
 * The small files of a restore, written by a worker thread in batches.
 *
 * Why: a source tree restores as thousands of small files, and each costs five syscalls (create a
 * temp file, write, set its time, close, rename into place) that take the kernel 40–80 µs here.
 * Made on the main thread, they were most of its time (about 1.3 s of a 1.9 s restore of 18,000
 * files), while decrypting and verifying chunks waited. On a worker they run beside that work.
 *
 * How: `write` copies a file's bytes into the current batch (1 MiB or 256 files), which goes to
 * a worker whole, as one transferred buffer. The worker writes each file exactly as restore's
 * AtomicFile does — a temp name beside the target, renamed into place once complete — so a crash
 * or a full disk leaves the old file or the complete new one, never a part. A writer may run
 * several workers: the kernel's work of creating files (most of a small-file restore's time) then
 * runs on several cores. A batch then holds one directory's files, and goes to the worker that
 * had the directory's last batch, else to the one with the fewest away (about two each).
 * The first failure stops its batch (the failing file's temp is removed) and every later
 * `write`/`flush`; closing the scope early (interrupted) stops the workers and removes the temps
 * of the files they had not finished.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { startWorker } from "../WorkerThread.ts"
import { Effect, type Scope } from "effect"
import { freedTooEarly, isFreed } from "../ReleaseBuffers.ts"

/** A batch goes to the worker at this many bytes or files. */
const batchBytes = 1024 * 1024
const batchFiles = 256
/** Per worker. */
const maxBatchesInFlight = 2

export interface SmallFile {
  readonly target: string
  /** Beside `target`, unique: written, then renamed to `target`. */
  readonly tmp: string
  readonly mode: number
  /** The umask strips some of `mode`'s bits: set them again after creating the file. */
  readonly chmod: boolean
  readonly mtimeMs: number
  /** The file's bytes, in order; copied before `write` returns. */
  readonly pieces: ReadonlyArray<Uint8Array>
}

/** A file that could not be written, and the error the worker met. */
export interface SmallFileFailure {
  readonly path: string
  readonly code: string | undefined
  readonly message: string
}

export interface SmallFileWriter {
  /** Queues a file; waits while the workers have their fill of batches. */
  readonly write: (file: SmallFile) => Effect.Effect<void, SmallFileFailure>
  /**
   * Queues a file when that needs no waiting, and says whether it did. When it did not (the
   * workers have their fill, or the writer failed), `write` the file instead. Saves a restore of
   * many small files an effect per file.
   */
  readonly offer: (file: SmallFile) => boolean
  /** Sends what is queued and waits until every file is written. */
  readonly flush: Effect.Effect<void, SmallFileFailure>
}

// Run by startWorker (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const fs = process.getBuiltinModule("node:fs")
parentPort.on("message", (m) => {
  const data = new Uint8Array(m.buffer)
  let done = 0
  let failure
  for (const f of m.files) {
    let fd = -1
    try {
      fd = fs.openSync(f.tmp, "wx", f.mode & 0o7777)
      let at = f.offset
      const end = f.offset + f.length
      while (at < end) {
        const n = fs.writeSync(fd, data, at, end - at)
        if (n <= 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" })
        at += n
      }
      if (f.chmod) fs.fchmodSync(fd, f.mode & 0o7777)
      fs.futimesSync(fd, f.mtimeMs / 1000, f.mtimeMs / 1000)
      const closing = fd
      fd = -1
      fs.closeSync(closing)
      fs.renameSync(f.tmp, f.target)
      done++
    } catch (e) {
      if (fd >= 0) try { fs.closeSync(fd) } catch {}
      try { fs.rmSync(f.tmp, { force: true }) } catch {}
      failure = { path: f.target, code: e && e.code, message: String((e && e.message) || e) }
      break
    }
  }
  parentPort.postMessage({ batch: m.batch, done, failure, buffer: m.buffer }, [m.buffer])
})
`

interface Entry {
  readonly target: string
  readonly tmp: string
  readonly mode: number
  readonly chmod: boolean
  readonly mtimeMs: number
  readonly offset: number
  readonly length: number
}

interface Reply {
  readonly batch: number
  /** The batch's buffer, back for reuse. */
  readonly buffer: ArrayBuffer
  readonly done: number
  readonly failure: SmallFileFailure | undefined
}

/** A writer with `workers` worker threads of its own, stopped when the scope closes. */
export const makeSmallFileWriter = (workers = 1): Effect.Effect<SmallFileWriter, never, Scope.Scope> => Effect.gen(function*() {
  const threads = Array.from({ length: Math.max(1, workers) }, () => startWorker(workerSource))
  /** Batches sent and not answered: their files, to clean up after if the workers are stopped. */
  const away = new Map<number, ReadonlyArray<Entry>>()
  /** Batches away per worker. */
  const load = threads.map(() => 0)
  let failure: SmallFileFailure | undefined
  /** Whoever waits for a batch to come back (room, or the end of a flush); each checks again. */
  let waiters: Array<() => void> = []
  const settle = () => {
    const woken = waiters
    waiters = []
    for (const w of woken) w()
  }
  /** Batch buffers back from the workers: reused, since fresh memory is costly to touch here. */
  const spare: Array<Uint8Array> = []
  const takeBuffer = (size: number) =>
    size <= batchBytes && spare.length > 0 ? spare.pop()! : new Uint8Array(Buffer.allocUnsafeSlow(Math.max(size, batchBytes)).buffer)
  /** Set once a worker is gone: a batch sent after that might never come back. */
  let stopped: Error | undefined
  // Batches away are lost with it (the finalizer's own terminate comes after they are done).
  const lost = (e: Error) => {
    stopped ??= e
    const first = [...away.values()][0]?.[0]
    if (first === undefined) return
    failure ??= { path: first.target, code: undefined, message: `the file writer stopped: ${e.message}` }
    settle()
  }
  threads.forEach((worker, i) => {
    worker.on("message", (r: Reply) => {
      if (r.buffer.byteLength === batchBytes) spare.push(new Uint8Array(r.buffer))
      away.delete(r.batch)
      load[i]!--
      if (r.failure !== undefined && failure === undefined) failure = r.failure
      sendWhenFull()
      settle()
    })
    worker.on("error", lost)
    worker.on("exit", (code) => lost(new Error(`exit code ${code}`)))
  })

  yield* Effect.addFinalizer(() =>
    Effect.promise(async () => {
      const unfinished = [...away.values()].flat()
      away.clear()
      await Promise.all(threads.map((w) => w.terminate()))
      // Stopped early: files the workers had not renamed into place leave no temp behind.
      for (const e of unfinished) fs.rmSync(e.tmp, { force: true })
    })
  )

  let buffer = takeBuffer(batchBytes)
  let fill = 0
  let entries: Array<Entry> = []
  let nextBatch = 0
  /** The directory of the batch being filled (each batch holds one directory's files). */
  let batchDir = ""
  /** The directory of the last batch sent, and the worker it went to. */
  let lastDir = ""
  let lastWorker = 0

  const send = () => {
    if (entries.length === 0) return
    if (stopped !== undefined) {
      failure ??= { path: entries[0]!.target, code: undefined, message: `the file writer stopped: ${stopped.message}` }
      return
    }
    const batch = nextBatch++
    away.set(batch, entries)
    const ab = buffer.buffer as ArrayBuffer
    // A directory stays with one worker: creating and renaming files locks their directory, so
    // two workers in one directory would mostly wait for each other.
    const to = batchDir === lastDir ? lastWorker : load.indexOf(Math.min(...load))
    lastDir = batchDir
    lastWorker = to
    load[to]!++
    threads[to]!.postMessage({ batch, files: entries, buffer: ab }, [ab])
    buffer = takeBuffer(batchBytes)
    fill = 0
    entries = []
  }

  /** Until fewer than `limit` batches are away, or a failure. */
  const waitUntilAway = (limit: number) =>
    Effect.callback<void, SmallFileFailure>((resume) => {
      const check = () => {
        if (failure !== undefined) return resume(Effect.fail(failure))
        if (away.size < limit) return resume(Effect.void)
        waiters.push(check)
      }
      check()
    })

  const limit = maxBatchesInFlight * threads.length
  /** The batch being filled must go before another file joins it. */
  const full = () => fill >= batchBytes || entries.length >= batchFiles

  /** Queues `file` unless that means waiting for room first (a failure is `write`'s to report). */
  const offer = (file: SmallFile): boolean => {
    if (failure !== undefined) return false
    // A freed piece reads as empty: the file would come out short, with no error.
    if (file.pieces.some(isFreed)) throw freedTooEarly(`the bytes of ${file.target}`)
    let length = 0
    for (const p of file.pieces) length += p.length
    const dir = path.dirname(file.target)
    // Full, another directory (with several workers), or does not fit: the batch goes first.
    if (entries.length > 0 && (full() || (dir !== batchDir && threads.length > 1) || length > buffer.length - fill)) {
      if (away.size >= limit) return false
      send()
      if (failure !== undefined) return false
    }
    if (entries.length === 0) batchDir = dir
    // A file larger than a batch gets a batch of its own size.
    if (length > buffer.length) {
      if (buffer.length === batchBytes) spare.push(buffer)
      buffer = takeBuffer(length)
    }
    const offset = fill
    for (const p of file.pieces) {
      buffer.set(p, fill)
      fill += p.length
    }
    entries.push({ target: file.target, tmp: file.tmp, mode: file.mode, chmod: file.chmod, mtimeMs: file.mtimeMs, offset, length })
    // Full: off at once if there is room, else as soon as a batch comes back (see the listener).
    if (full() && away.size < limit) send()
    return true
  }
  /** Sends the batch being filled if it is full and there is room (a batch just came back). */
  function sendWhenFull() {
    if (entries.length > 0 && full() && away.size < limit && failure === undefined) send()
  }

  const write = (file: SmallFile): Effect.Effect<void, SmallFileFailure> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      return offer(file) ? Effect.void : Effect.andThen(waitUntilAway(limit), write(file))
    })

  const flush: Effect.Effect<void, SmallFileFailure> = Effect.suspend(() => {
    if (failure !== undefined) return Effect.fail(failure)
    if (entries.length > 0) {
      if (away.size >= limit) return Effect.andThen(waitUntilAway(limit), flush)
      send()
    }
    return waitUntilAway(1)
  })

  return { write, offer, flush }
})
