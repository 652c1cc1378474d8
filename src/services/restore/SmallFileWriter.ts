/**
 * The small files of a restore, written by a worker thread in batches.
 *
 * Why: a source tree restores as thousands of small files, and each costs four or five syscalls
 * (create, write, set its time, close, and rename when a file was already there) that take the
 * kernel 30–80 µs here.
 * Made on the main thread, they were most of its time (about 1.3 s of a 1.9 s restore of 18,000
 * files), while decrypting and verifying chunks waited. On a worker they run beside that work.
 *
 * How: `write` copies a file's bytes into the current batch (1 MiB or 256 files), which goes to
 * a worker whole, as one transferred buffer. Where a file already exists, the worker writes it as
 * restore's AtomicFile does — a temp name beside the target, renamed into place once complete — so
 * a crash or a full disk leaves the old file or the complete new one, never a part. Where none
 * exists (a restore into a new directory), it creates the target itself (O_EXCL, so nothing that
 * appears meanwhile is overwritten), as tar and restic do: the temp name and the rename were a
 * third of the kernel's work per file (18,000 files: 0.75 s → 0.53 s of system time). A failure
 * removes what that file made; an interruption lets each worker finish its current file. A
 * `kill -9` can leave one part-written file per worker where there was none. A writer may run
 * several workers: the kernel's work of creating files (most of a small-file restore's time) then
 * runs on several cores. A batch then holds one directory's files, and goes to the worker that
 * had the directory's last batch, else to the one with the fewest away (about two each).
 * The first failure stops its batch and every later `write`/`flush`; closing the scope early
 * (interrupted) stops the workers between files.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { startWorker } from "../WorkerThread.ts"
import { Effect, type Scope } from "effect"
import { freedTooEarly, isFreed } from "../ReleaseBuffers.ts"
import { fsTime } from "./FsTime.ts"
import { type FsPath, shownPath } from "../../domain/StoredName.ts"

/** A batch goes to the worker at this many bytes or files. */
const batchBytes = 1024 * 1024
const batchFiles = 256
/** Per worker. */
const maxBatchesInFlight = 2

export interface SmallFile {
  readonly target: FsPath
  /** Beside `target`, unique: written, then renamed to `target`, when `target` already exists. */
  readonly tmp: FsPath
  readonly mode: number
  /** Set `mode` again after creating the file: the umask stripped some bits, or a chown will. */
  readonly chmod: boolean
  readonly mtimeMs: number
  /** The owner to give the file (a restore run as root), or none. */
  readonly uid?: number | undefined
  readonly gid?: number | undefined
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
  /** Files whose owner the filesystem refused (they keep the restoring user), and its error code. */
  readonly ownersRefused: () => { readonly count: number; readonly code: string | undefined }
}

// Run by startWorker (eval'd; see WorkerThread.ts for why it uses process.getBuiltinModule).
const workerSource = `
const { parentPort } = process.getBuiltinModule("node:worker_threads")
const fs = process.getBuiltinModule("node:fs")
const fsTime = ${fsTime.toString()}
let stop
parentPort.on("message", (m) => {
  if (m.stop !== undefined) return void (stop = new Int32Array(m.stop))
  const data = new Uint8Array(m.buffer)
  let done = 0
  let failure
  // A filesystem that refuses an owner (exFAT, NFS with root squash, an unmapped id) is not a
  // failure: the file keeps the restoring user as owner, and the main thread says so once.
  let ownerRefused = 0
  let ownerCode
  for (const f of m.files) {
    // Asked to stop: between files, so that each is complete or was never made.
    if (Atomics.load(stop, 0) !== 0) break
    let fd = -1
    // The file being made: the target itself when there was none, else a temp beside it.
    let made
    try {
      try {
        fd = fs.openSync(f.target, "wx", f.mode & 0o7777)
        made = f.target
      } catch (e) {
        if (!e || e.code !== "EEXIST") throw e
        fd = fs.openSync(f.tmp, "wx", f.mode & 0o7777)
        made = f.tmp
      }
      let at = f.offset
      const end = f.offset + f.length
      while (at < end) {
        const n = fs.writeSync(fd, data, at, end - at)
        if (n <= 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" })
        at += n
      }
      // Owner first: a chown clears the set-user/group-ID bits that the chmod then sets.
      if (f.uid !== undefined) {
        try { fs.fchownSync(fd, f.uid, f.gid) } catch (e) { ownerRefused++; ownerCode = e && e.code }
      }
      if (f.chmod) fs.fchmodSync(fd, f.mode & 0o7777)
      fs.futimesSync(fd, fsTime(f.mtimeMs), fsTime(f.mtimeMs))
      const closing = fd
      fd = -1
      fs.closeSync(closing)
      if (made === f.tmp) fs.renameSync(f.tmp, f.target)
      done++
    } catch (e) {
      if (fd >= 0) try { fs.closeSync(fd) } catch {}
      // Only what this file made: a target that was already there is never removed.
      if (made !== undefined) try { fs.rmSync(made, { force: true }) } catch {}
      failure = { path: f.target, code: e && e.code, message: String((e && e.message) || e) }
      break
    }
  }
  parentPort.postMessage({ batch: m.batch, done, failure, ownerRefused, ownerCode, buffer: m.buffer }, [m.buffer])
})
`

interface Entry {
  readonly target: FsPath
  readonly tmp: FsPath
  readonly mode: number
  readonly chmod: boolean
  readonly mtimeMs: number
  readonly uid: number | undefined
  readonly gid: number | undefined
  readonly offset: number
  readonly length: number
}

interface Reply {
  readonly batch: number
  /** The batch's buffer, back for reuse. */
  readonly buffer: ArrayBuffer
  readonly done: number
  readonly ownerRefused: number
  readonly ownerCode: string | undefined
  /** As the worker has it: the path is the entry's target (bytes for a name that is not UTF-8). */
  readonly failure: (Omit<SmallFileFailure, "path"> & { readonly path: FsPath }) | undefined
}

/** A writer with `workers` worker threads of its own, stopped when the scope closes. */
export const makeSmallFileWriter = (workers = 1): Effect.Effect<SmallFileWriter, never, Scope.Scope> => Effect.gen(function*() {
  const threads = Array.from({ length: Math.max(1, workers) }, () => startWorker(workerSource))
  /** Set to ask the workers to stop between files (an interrupted restore). */
  const stopFlag = new Int32Array(new SharedArrayBuffer(4))
  for (const t of threads) t.postMessage({ stop: stopFlag.buffer })
  /** Batches sent and not answered: their files, to clean up after if the workers are stopped. */
  const away = new Map<number, ReadonlyArray<Entry>>()
  /** Batches away per worker. */
  const load = threads.map(() => 0)
  let failure: SmallFileFailure | undefined
  let ownersRefused = 0
  let ownerCode: string | undefined
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
    failure ??= { path: shownPath(first.target), code: undefined, message: `the file writer stopped: ${e.message}` }
    settle()
  }
  threads.forEach((worker, i) => {
    worker.on("message", (r: Reply) => {
      if (r.buffer.byteLength === batchBytes) spare.push(new Uint8Array(r.buffer))
      away.delete(r.batch)
      load[i]!--
      if (r.failure !== undefined && failure === undefined) failure = { ...r.failure, path: shownPath(r.failure.path) }
      ownersRefused += r.ownerRefused
      ownerCode ??= r.ownerCode
      sendWhenFull()
      settle()
    })
    worker.on("error", lost)
    worker.on("exit", (code) => lost(new Error(`exit code ${code}`)))
  })

  yield* Effect.addFinalizer(() =>
    Effect.promise(async () => {
      // Stopped early (interrupted, or a failure elsewhere): the workers finish the file each is
      // writing and answer the rest of their batches unwritten. A file written in place (there
      // was none) is then complete or absent; terminating a worker mid-file would leave it part
      // written under its real name.
      Atomics.store(stopFlag, 0, 1)
      await new Promise<void>((resolve) => {
        const check = () => (away.size === 0 || stopped !== undefined ? resolve() : void waiters.push(check))
        check()
      })
      const unfinished = [...away.values()].flat()
      away.clear()
      await Promise.all(threads.map((w) => w.terminate()))
      // A worker that died took its batches with it: leave no temp of theirs behind.
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
      failure ??= { path: shownPath(entries[0]!.target), code: undefined, message: `the file writer stopped: ${stopped.message}` }
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
    if (file.pieces.some(isFreed)) throw freedTooEarly(`the bytes of ${shownPath(file.target)}`)
    let length = 0
    for (const p of file.pieces) length += p.length
    // The stored form keeps bytes apart (StoredName.ts): fine as a key for the directory.
    const dir = path.dirname(shownPath(file.target))
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
    entries.push({ target: file.target, tmp: file.tmp, mode: file.mode, chmod: file.chmod, mtimeMs: file.mtimeMs, uid: file.uid, gid: file.gid, offset, length })
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

  return { write, offer, flush, ownersRefused: () => ({ count: ownersRefused, code: ownerCode }) }
})
