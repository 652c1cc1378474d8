import { Effect } from "effect"

/** Chunks checked so far, of how many, and how many of them were bad (for a progress line). */
export type VerifyProgress = (checked: number, total: number, bad: number) => void

/** Counts each chunk's outcome (undefined: good) and tells `onProgress`; a verify taps it per chunk. */
export const progressTeller = (total: number, onProgress: VerifyProgress | undefined) => {
  let checked = 0
  let bad = 0
  return (failure: unknown) =>
    Effect.sync(() => {
      checked++
      if (failure !== undefined) bad++
      onProgress?.(checked, total, bad)
    })
}
