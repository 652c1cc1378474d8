import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/**
 * Keeps a stream's peak RSS down: after every `every` bytes of stream data, if the process's
 * resident memory is above `highWaterBytes` and the buffers V8 holds outside its heap
 * (`process.memoryUsage().arrayBuffers`: live ones and dead ones not yet collected) add up to at
 * least `buffersBytes`, a full garbage collection runs (at most one per `minGapMs`).
 *
 * Why: a stream's buffers (read blocks, chunks, envelopes, cipher output, a provider's response
 * pieces) are external memory, which V8 only collects once ~64 MB more of it has piled up since
 * its last full GC; they live long enough to be promoted, so minor GCs never free them. `put` and
 * `get` must stay under 256 MB whatever the stream's length: `get` from s3rver peaked at 263 MB
 * unpaced, ~250 MB paced. Below the high-water mark nothing runs, so a stream that fits pays
 * nothing; a full GC of the ~30–40 MB heap takes 10–20 ms.
 *
 * `buffersBytes` is for a stream whose buffers are freed by their owners as they finish
 * (ReleaseBuffers.ts), as `put`'s are: its RSS sits above 200 MB with only 25–60 MB of buffers
 * alive (the rest is code, the heap and the allocator's retained free memory, none of which a GC
 * gives back), so pacing on RSS alone ran a full GC every 200 ms for nothing. A 1 GiB `put` to
 * s3rver took 6.8–7.0 s of user CPU paced that way against 5.8–6.2 s unpaced, at the same
 * peak RSS within 2 MB.
 *
 * A backup paces itself the same way on files recorded instead of bytes (`every` files): in a tree
 * of tiny files each file's entry lives long enough to be promoted out of the young generation,
 * and V8 let that garbage grow the heap to ~215 MB before its first full collection of a
 * 300,000-file backup (live: ~20–50 MB). Paced at 300 MB (the backup's memory target), that
 * backup peaked at 372–387 MiB instead of 475–512 MiB in the same time; backups that stay below
 * it pay nothing.
 *
 * `gc` is not exposed by default; V8 exposes it to contexts created after the flag is set.
 * Without it (another runtime), pacing does nothing.
 */
let fullGc: (() => void) | undefined | null = null // null: not looked up yet (a vm context costs ~1 ms)
const gcFunction = () => {
  if (fullGc !== null) return fullGc
  try {
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as ((options?: { type: string }) => void) | undefined
    fullGc = typeof gc === "function" ? () => gc({ type: "major" }) : undefined
  } catch {
    fullGc = undefined
  }
  return fullGc
}

export interface PacerOptions {
  /** Units between checks: bytes of a stream, files of a backup. */
  readonly every?: number
  readonly highWaterBytes?: number
  readonly minGapMs?: number
  readonly buffersBytes?: number
}

/**
 * For runs over many files (a backup's entries recorded, a restore's entries read): checked every
 * 32,768 files, above 300 MB (the backup target's peak), at most twice a second.
 */
export const manyFilesPacing: PacerOptions = { every: 32_768, highWaterBytes: 300e6, minGapMs: 500 }

export const makeGarbagePacer = ({ every = 32 * 1024 * 1024, highWaterBytes = 200e6, minGapMs = 200, buffersBytes = 0 }: PacerOptions = {}) => {
  let since = 0
  let last = 0
  return (units: number) => {
    since += units
    if (since < every) return
    since = 0
    const now = Date.now()
    if (now - last < minGapMs || process.memoryUsage.rss() < highWaterBytes) return
    if (buffersBytes > 0 && process.memoryUsage().arrayBuffers < buffersBytes) return
    last = now
    gcFunction()?.()
  }
}
