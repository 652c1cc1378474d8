import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Layer, Logger, References } from "effect"
import { Command } from "effect/cli"
import { isCliError } from "effect/cli/CliError"
import { Keys } from "../services/keys/Keys.ts"
import { ExitWith } from "./Output.ts"
import { OutputClosed } from "./StdoutWriter.ts"

/**
 * Runs a command tree as a binary (`enigma`, `enigma-proxy`). Errors become one line on stderr
 * and restic's exit codes: 10 repository not found, 11 lock failed, 12 wrong passphrase, 1
 * anything else, 3 completed with warnings, 130 interrupted, 141 stdout's reader gone (as SIGPIPE).
 * Logs go to stderr so they never mix with output meant for pipes.
 */
const exitCodes: Record<string, number> = {
  RepositoryNotFound: 10,
  LockFailed: 11,
  WrongPassphrase: 12,
  WrongKey: 12
}

/**
 * Warnings (a copy read from another provider, a stale lock removed…) as plain lines on stderr,
 * `warning: …`, like the CLI's other messages; never on stdout, which `get` writes data to.
 */
const stderrLogger = Logger.make(({ logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")
  process.stderr.write(`${logLevel === "Warn" ? "warning" : logLevel.toLowerCase()}: ${text}\n`)
})

export const runCli = (
  // Any command tree; what it requires beyond the layers below is provided by effect/cli itself.
  command: Command.Command<any, any, any, any, any>,
  options: { readonly name: string; readonly version: string }
) => {
  // A failed write to stdout is an 'error' event, which would end the process with a stack trace:
  // kept instead, and reported once the command is done. EPIPE means the reader went away (`enigma
  // find x | head`), and is no error to report. (get and dump stop at once; see StdoutWriter.)
  let outputFailed: NodeJS.ErrnoException | undefined
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    outputFailed ??= e
  })
  // Waits for what was written to be taken (an empty write's callback comes after the earlier ones').
  const outputCheck = Effect.callback<void, OutputClosed>((resume) => {
    const settle = (err?: Error | null) => {
      const failed = outputFailed ?? (err as NodeJS.ErrnoException | null | undefined) ?? undefined
      resume(
        failed === undefined
          ? Effect.void
          : Effect.fail(new OutputClosed({ detail: failed.message, ...(failed.code !== undefined ? { code: failed.code } : {}) }))
      )
    }
    if (process.stdout.destroyed) settle()
    else process.stdout.write("", settle)
  })
  const run = Effect.andThen(
    Command.run(command, { version: options.version }) as Effect.Effect<void, unknown, NodeServices.NodeServices | Keys>,
    outputCheck
  )
  const program = run.pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const error = Cause.squash(cause)
      if (error instanceof ExitWith) return Effect.fail(error)
      // effect/cli already printed the help line for usage errors.
      if (isCliError(error)) return Effect.fail(new ExitWith({ code: 1 }))
      const tag = (error as { _tag?: string })?._tag
      // The reader of stdout went away (`enigma get x | head`): it has all it wanted. End quietly,
      // with the status of a process that SIGPIPE ended (128 + 13), as cat or tar would.
      if (tag === "OutputClosed" && (error as { code?: string }).code === "EPIPE") return Effect.fail(new ExitWith({ code: 141 }))
      const message = error instanceof Error ? error.message : String(error)
      const isOurs = tag !== undefined && Cause.hasFails(cause)
      process.stderr.write(`${options.name}: ${isOurs ? message : `internal error: ${message}`}\n`)
      if (!isOurs && process.env.ENIGMA_DEBUG) process.stderr.write(`${Cause.pretty(cause)}\n`)
      return Effect.fail(new ExitWith({ code: (tag ? exitCodes[tag] : undefined) ?? 1 }))
    }),
    Effect.provide(Layer.mergeAll(
      NodeServices.layer,
      Keys.layer,
      Logger.layer([stderrLogger]),
      Layer.succeed(References.MinimumLogLevel, "Warn")
    ))
  )
  NodeRuntime.runMain(program as Effect.Effect<void, unknown, never>, { disableErrorReporting: true })
}
