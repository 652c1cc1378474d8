import { Effect, Schema } from "effect"
import { releaseBuffers } from "../services/ReleaseBuffers.ts"

/** The output closed before everything was written (e.g. `enigma get x | head`). */
export class OutputClosed extends Schema.TaggedError<OutputClosed>()("OutputClosed", {
  detail: Schema.String,
  /** The system's code: EPIPE when the reader went away (`| head`), ENOSPC for a full disk… */
  code: Schema.optionalKey(Schema.String)
}) {
  override get message() {
    return `writing the output failed: ${this.detail}`
  }
}

/**
 * Writes to stdout, one buffer at a time, each write done before the next (backpressure from
 * the pipe). With `free`, a buffer the writer owns is freed once written out, rather than at the
 * next full GC (see ReleaseBuffers).
 */
export const stdoutWriter = () => {
  const out = process.stdout
  // A closed pipe surfaces through the write callback below; without a listener it would crash.
  out.on("error", () => {})
  return (bytes: Uint8Array, free = false) =>
    Effect.callback<void, OutputClosed>((resume) => {
      out.write(bytes, (err) => {
        if (!err && free) releaseBuffers([bytes])
        const code = (err as NodeJS.ErrnoException | null | undefined)?.code
        resume(err ? Effect.fail(new OutputClosed({ detail: err.message, ...(code !== undefined ? { code } : {}) })) : Effect.void)
      })
    })
}
