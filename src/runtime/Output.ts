import { Effect, Schema } from "effect"
import { Runtime } from "effect"

/** Human-readable byte counts (binary units, like restic). */
export const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`
}

export const formatDuration = (ms: number): string =>
  ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`

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
