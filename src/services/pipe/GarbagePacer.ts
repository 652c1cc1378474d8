import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/**
 * Keeps a stream's peak RSS down: after every `everyBytes` of stream data, if the process's
 * resident memory is above `highWaterBytes`, a full garbage collection runs (at most one per
 * `minGapMs`).
 *
 * Why: a stream's buffers (read blocks, chunks, envelopes, cipher output) are external memory,
 * which V8 only collects once ~64 MB more of it has piled up since its last full GC; they live
 * long enough to be promoted, so minor GCs never free them. `put` and `get` must stay under
 * 256 MB whatever the stream's length, and that slack is a quarter of it: `put` to s3rver
 * measured 255–283 MB without pacing, 248–252 MB with it (bench:pipe). Below the high-water
 * mark nothing runs, so a stream that fits pays nothing; a full GC of the ~30 MB heap takes
 * ~10 ms.
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

export const makeGarbagePacer = (everyBytes = 32 * 1024 * 1024, highWaterBytes = 200e6, minGapMs = 200) => {
  let since = 0
  let last = 0
  return (bytes: number) => {
    since += bytes
    if (since < everyBytes) return
    since = 0
    const now = Date.now()
    if (now - last < minGapMs || process.memoryUsage.rss() < highWaterBytes) return
    last = now
    gcFunction()?.()
  }
}
