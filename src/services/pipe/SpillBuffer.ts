import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Deferred, Effect, Schema } from "effect"

/** The scratch directory could not be used. */
export class ScratchError extends Schema.TaggedError<ScratchError>()("ScratchError", { detail: Schema.String }) {
  override get message() {
    return `scratch space: ${this.detail}`
  }
}

/** A chunk waiting for upload: in memory, or written to the scratch directory. */
export type Parked =
  | { readonly _tag: "Memory"; readonly data: Uint8Array }
  | { readonly _tag: "Disk"; readonly file: string; readonly size: number }

/**
 * Backpressure between stdin and the uploads (s3duct's --buffer-chunks / --diskspace-limit):
 * up to `memoryChunks` chunks wait in memory; past that, up to `diskBytes` of chunks wait in a
 * scratch directory, so a producer such as pg_dump is drained at disk speed rather than upload
 * speed. When both are full, `park` waits — and so does reading stdin. Scratch files are removed
 * as they are read back, and the directory when the scope closes.
 */
export const makeSpillBuffer = (options: { readonly memoryChunks: number; readonly diskBytes: number; readonly dir?: string | undefined }) =>
  Effect.gen(function*() {
    let inMemory = 0
    let onDisk = 0
    let seq = 0
    let wake: Deferred.Deferred<void> | undefined
    let scratch: string | undefined
    const changed = Effect.suspend(() => {
      const w = wake
      wake = undefined
      return w ? Deferred.succeed(w, undefined) : Effect.void
    })
    const fail = (e: unknown) => new ScratchError({ detail: (e as Error)?.message ?? String(e) })
    const scratchDir = Effect.gen(function*() {
      if (scratch === undefined) {
        const base = options.dir ?? os.tmpdir()
        scratch = yield* Effect.tryPromise({ try: () => fs.mkdtemp(path.join(base, "enigma-put-")), catch: fail })
      }
      return scratch
    })
    yield* Effect.addFinalizer(() =>
      scratch === undefined ? Effect.void : Effect.promise(() => fs.rm(scratch!, { recursive: true, force: true })))

    const park = (data: Uint8Array): Effect.Effect<Parked, ScratchError> =>
      Effect.gen(function*() {
        for (;;) {
          if (inMemory < options.memoryChunks) {
            inMemory++
            return { _tag: "Memory", data } as const
          }
          if (onDisk + data.length <= options.diskBytes) {
            onDisk += data.length
            const file = path.join(yield* scratchDir, `chunk-${seq++}`)
            yield* Effect.tryPromise({ try: () => fs.writeFile(file, data), catch: fail })
            return { _tag: "Disk", file, size: data.length } as const
          }
          const w = yield* Deferred.make<void>()
          wake = w
          yield* Deferred.await(w)
        }
      })

    const unpark = (p: Parked): Effect.Effect<Uint8Array, ScratchError> =>
      p._tag === "Memory"
        ? Effect.sync(() => {
          inMemory--
          return p.data
        }).pipe(Effect.tap(() => changed))
        : Effect.tryPromise({
          try: async () => {
            const data = await fs.readFile(p.file)
            await fs.rm(p.file, { force: true })
            return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          },
          catch: fail
        }).pipe(Effect.tap(() => Effect.suspend(() => {
          onDisk -= p.size
          return changed
        })))

    return { park, unpark, spilledBytes: () => onDisk }
  })
