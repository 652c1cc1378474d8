import * as fs from "node:fs"
import { Worker } from "node:worker_threads"
import { Effect, Scope } from "effect"
import { abortFile, commitFile, writeAll, writeWholeFile } from "./AtomicWrite.ts"

/** One small file to write: its bytes are `parts` concatenated. */
export interface SmallFile {
  readonly tmp: string
  readonly target: string
  readonly mode: number
  readonly mtimeMs: number
  /** The umask stripped bits of `mode`: set it again before the rename. */
  readonly chmod: boolean
  readonly parts: ReadonlyArray<Uint8Array>
  readonly size: number
}

/** What the worker is told per file: where its bytes lie in the batch buffer. */
interface Job {
  readonly tmp: string
  readonly target: string
  readonly mode: number
  readonly mtimeMs: number
  readonly chmod: boolean
  readonly from: number
  readonly to: number
}

interface Batch {
  readonly id: number
  readonly buffer: ArrayBuffer
  readonly jobs: Array<Job>
  /** Each file's size, for onWritten. */
  readonly sizes: Array<number>
  used: number
}

/** A batch's outcome: its first `written` files are in place; `error` stopped the next one. */
interface Outcome {
  readonly id: number
  readonly written: number
  readonly error?: { readonly target: string; readonly code?: string; readonly message: string }
  readonly buffer: ArrayBuffer
}

const workerSource = `
const { parentPort } = require("node:worker_threads")
const fs = require("node:fs")
${writeAll}
${abortFile}
${commitFile}
${writeWholeFile}
parentPort.on("message", (m) => {
  const bytes = new Uint8Array(m.buffer)
  let written = 0
  let error
  for (const j of m.jobs) {
    try {
      ${writeWholeFile.name}(fs, j.tmp, j.target, j.mode, j.mtimeMs, j.chmod, bytes, j.from, j.to)
      written++
    } catch (e) {
      error = { target: j.target, code: e && e.code, message: String(e && e.message || e) }
      break
    }
  }
  parentPort.postMessage({ id: m.id, written, error, buffer: m.buffer }, [m.buffer])
})
`

/** Bytes of file data per batch; a file larger than this is not small. */
export const smallFileLimit = 256 * 1024
const batchBytes = 1024 * 1024
const batchFiles = 256
/** Batches at the worker or waiting for it: bounds memory at buffers × batchBytes. */
const buffers = 4

/**
 * Writes small files on a worker thread, in batches. Restoring many small files is mostly
 * syscalls (open, write, futimes, close, rename: 40–250 µs a file here, most of it in the
 * kernel), and on the main thread they would wait for, and hold up, decryption and the
 * rest. Batched, they overlap, and a file costs one copy and no thread-pool round trips.
 *
 * `write` queues a file and returns at once (it waits only while all batch buffers are in use);
 * `onWritten` is told of each file once it is in place; `flush` waits for every queued file.
 * Errors surface from the next `write` or from `flush`, naming the file. Without a worker
 * (one cannot start), files are written in place, synchronously.
 */
export const makeSmallFileWriter = <E>(options: {
  readonly onWritten: (size: number) => void
  readonly writeError: (target: string, cause: { readonly code?: string | undefined; readonly message: string }) => E
}): Effect.Effect<{
  readonly write: (file: SmallFile) => Effect.Effect<void, E>
  readonly flush: Effect.Effect<void, E>
}, never, Scope.Scope> =>
  Effect.gen(function*() {
    let worker: Worker | undefined
    try {
      worker = new Worker(workerSource, { eval: true })
    } catch {
      worker = undefined
    }
    let failure: E | undefined
    let current: Batch | undefined
    let inFlight = 0
    let nextId = 0
    const sent = new Map<number, ReadonlyArray<number>>()
    const free: Array<ArrayBuffer> = []
    let allocated = 0
    const bufferWaiters: Array<() => void> = []
    const idleWaiters: Array<() => void> = []

    const settle = (o: Outcome) => {
      const batchSizes = sent.get(o.id) ?? []
      sent.delete(o.id)
      for (let i = 0; i < o.written; i++) options.onWritten(batchSizes[i]!)
      if (o.error && failure === undefined) failure = options.writeError(o.error.target, o.error)
      free.push(o.buffer)
      inFlight--
      bufferWaiters.shift()?.()
      if (inFlight === 0) while (idleWaiters.length > 0) idleWaiters.shift()!()
    }
    const stopped = (why: string) => {
      worker = undefined
      if (failure === undefined) failure = options.writeError("(restore)", { message: `the file writer stopped: ${why}` })
      // Its batches are lost: wake everyone, the failure says why.
      inFlight = 0
      while (bufferWaiters.length > 0) bufferWaiters.shift()!()
      while (idleWaiters.length > 0) idleWaiters.shift()!()
    }
    if (worker) {
      const w = worker
      w.on("message", settle)
      w.on("error", (e) => stopped(e.message))
      w.on("exit", (code) => {
        if (worker === w) stopped(`exit code ${code}`)
      })
    }

    const idle = Effect.callback<void>((resume) => {
      if (inFlight === 0) return resume(Effect.void)
      idleWaiters.push(() => resume(Effect.void))
    })
    // Queued batches finish before the worker goes: a batch is never cut mid-file.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        current = undefined
        const w = worker
        if (!w) return
        yield* idle.pipe(Effect.timeout("60 seconds"), Effect.ignore)
        worker = undefined
        yield* Effect.promise(() => w.terminate())
      })
    )

    const send = () => {
      const b = current
      current = undefined
      if (!b || b.jobs.length === 0) {
        if (b) free.push(b.buffer)
        return
      }
      const w = worker
      if (!w) return
      inFlight++
      sent.set(b.id, b.sizes)
      w.postMessage({ id: b.id, jobs: b.jobs, buffer: b.buffer }, [b.buffer])
    }

    const takeBuffer: Effect.Effect<ArrayBuffer | undefined> = Effect.suspend(() => {
      const b = free.pop()
      if (b) return Effect.succeed(b)
      if (allocated < buffers) {
        allocated++
        return Effect.succeed(Buffer.allocUnsafeSlow(batchBytes).buffer as ArrayBuffer)
      }
      if (!worker) return Effect.succeed(undefined)
      return Effect.callback<void>((resume) => {
        bufferWaiters.push(() => resume(Effect.void))
      }).pipe(Effect.andThen(takeBuffer))
    })

    const inPlace = (file: SmallFile) =>
      Effect.suspend(() => {
        const bytes = file.parts.length === 1 ? file.parts[0]! : Buffer.concat(file.parts)
        try {
          writeWholeFile(fs, file.tmp, file.target, file.mode, file.mtimeMs, file.chmod, bytes, 0, bytes.length)
        } catch (e) {
          return Effect.fail(options.writeError(file.target, e as Error & { code?: string }))
        }
        options.onWritten(file.size)
        return Effect.void
      })

    const fits = (b: Batch, size: number) => b.used + size <= batchBytes && b.jobs.length < batchFiles

    const write = (file: SmallFile): Effect.Effect<void, E> =>
      Effect.gen(function*() {
        if (failure !== undefined) return yield* Effect.fail(failure)
        if (!worker || file.size > batchBytes) return yield* inPlace(file)
        // Other fibers write too: while this one waits for a buffer, one of them may start the
        // batch this file then joins.
        while (current === undefined || !fits(current, file.size)) {
          if (failure !== undefined) return yield* Effect.fail(failure)
          if (current !== undefined) send()
          const buffer = yield* takeBuffer
          if (!buffer || !worker) return yield* inPlace(file)
          if (current !== undefined) {
            free.push(buffer)
            bufferWaiters.shift()?.()
            continue
          }
          const fresh: Batch = { id: nextId++, buffer, jobs: [], sizes: [], used: 0 }
          current = fresh
          // Sent when full, or once this turn of the event loop has queued what it could.
          setImmediate(() => {
            if (current === fresh) send()
          })
        }
        if (failure !== undefined) return yield* Effect.fail(failure)
        const b = current
        const view = new Uint8Array(b.buffer)
        let at = b.used
        for (const p of file.parts) {
          view.set(p, at)
          at += p.length
        }
        b.jobs.push({ tmp: file.tmp, target: file.target, mode: file.mode, mtimeMs: file.mtimeMs, chmod: file.chmod, from: b.used, to: at })
        b.sizes.push(file.size)
        b.used = at
      })

    const flush: Effect.Effect<void, E> = Effect.gen(function*() {
      send()
      yield* idle
      if (failure !== undefined) return yield* Effect.fail(failure)
    })

    return { write, flush }
  })
