import { Effect, Schema } from "effect"
import { Runtime } from "effect"

/** Human-readable byte counts (binary units, like restic). */
export const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
  let v = n
  let i = 0
  // 1023.5 and up would print as "1024" of this unit: that is 1.00 of the next.
  while (v >= 1023.5 && i < units.length - 1) {
    v /= 1024
    i++
  }
  // Rates come here too (bytes per second, not whole): below 1 KiB they are rounded like the rest.
  return i === 0 ? `${Math.round(n)} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`
}

export const formatDuration = (ms: number): string => {
  if (ms < 999.5) return `${Math.round(ms)} ms`
  if (ms < 59_995) return `${(ms / 1000).toFixed(2)} s`
  // Whole seconds first, so that 119.7 s is 2m0s, not 1m60s.
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}m${s % 60}s`
}

export const formatTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")

/** Writes to stdout (results only; logs and progress go to stderr). */
export const print = (text: string) => Effect.sync(() => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))
export const printJson = (value: unknown) => print(JSON.stringify(value, null, 2))

/** Prints either the JSON value or the human text. */
export const emit = (json: boolean, value: unknown, human: () => string) => (json ? printJson(value) : print(human()))

/**
 * Ends the program with an exit code after its message was already printed (exit 3 "completed
 * with warnings", or a mapped error). runMain's teardown reads the code from the error.
 */
export class ExitWith extends Schema.TaggedError<ExitWith>()("ExitWith", { code: Schema.Number }) {
  override readonly [Runtime.errorExitCode] = this.code
  override readonly [Runtime.errorReported] = false
}

/** A one-line progress display on a TTY (stderr), throttled; nothing when stderr is piped. */
export const makeProgress = (render: () => string) => {
  const tty = process.stderr.isTTY === true
  let last = 0
  let shown = false
  return {
    update: () => {
      if (!tty) return
      const now = Date.now()
      if (now - last < 200) return
      last = now
      shown = true
      process.stderr.write(`\r\x1b[2K${render()}`)
    },
    done: () => {
      if (tty && shown) process.stderr.write("\r\x1b[2K")
    }
  }
}
