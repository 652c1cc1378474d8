import { Effect, Option, Redacted } from "effect"
import { UserError } from "../domain/Errors.ts"
import { type Chosen, newPassphraseSource, passphraseSource, readPassphraseSource } from "./PassphraseSource.ts"

/** The passphrase's command-line flags, as the CLI parsed them (GlobalOptions has them). */
export interface PassphraseOptions {
  readonly passphrase: Option.Option<string>
  readonly passphraseFile?: Option.Option<string>
  readonly passphraseCommand?: Option.Option<string>
}

const given = (o: Option.Option<string> | undefined) => (o === undefined ? undefined : Option.getOrUndefined(o))

/** The value of a chosen source, or the user's error; `undefined`: no source, prompt if we can. */
const fromSource = (chosen: Chosen) =>
  Effect.gen(function*() {
    if ("error" in chosen) return yield* new UserError({ detail: chosen.error })
    if (chosen.source === undefined) return undefined
    const read = readPassphraseSource(chosen.source)
    if ("error" in read) return yield* new UserError({ detail: read.error })
    return read.value
  })

/**
 * The passphrase comes from `--passphrase`, `--passphrase-file` or `--passphrase-command`, then
 * from ENIGMA_PASSPHRASE, ENIGMA_PASSPHRASE_FILE or ENIGMA_PASSPHRASE_COMMAND (PassphraseSource.ts),
 * then an interactive prompt when stdin is a terminal (echo off). Without any of them the command
 * fails with a message saying how to pass one, instead of hanging on a pipe.
 */
export const getPassphrase = (flags: PassphraseOptions, options: { readonly confirm?: boolean } = {}) =>
  Effect.gen(function*() {
    const chosen = passphraseSource(
      { passphrase: given(flags.passphrase), passphraseFile: given(flags.passphraseFile), passphraseCommand: given(flags.passphraseCommand) },
      process.env
    )
    const value = yield* fromSource(chosen)
    if (value !== undefined) return Redacted.make(value)
    if (!process.stdin.isTTY) {
      return yield* new UserError({
        detail: "a passphrase is required: pass --passphrase-file FILE (or --passphrase, --passphrase-command), set ENIGMA_PASSPHRASE (or _FILE, _COMMAND), or run in a terminal to be prompted"
      })
    }
    const first = yield* Effect.promise(() => prompt("Passphrase: "))
    if (first.length === 0) return yield* new UserError({ detail: "the passphrase must not be empty" })
    if (options.confirm) {
      const again = yield* Effect.promise(() => prompt("Repeat passphrase: "))
      if (again !== first) return yield* new UserError({ detail: "the passphrases do not match" })
    }
    return Redacted.make(first)
  })

/**
 * `key passwd`'s new passphrase: `--new-passphrase` or `--new-passphrase-file`, then
 * ENIGMA_NEW_PASSPHRASE or ENIGMA_NEW_PASSPHRASE_FILE, then a prompt on a terminal, asked twice.
 */
export const getNewPassphrase = (flags: { readonly newPassphrase: Option.Option<string>; readonly newPassphraseFile: Option.Option<string> }) =>
  Effect.gen(function*() {
    const chosen = newPassphraseSource({ newPassphrase: given(flags.newPassphrase), newPassphraseFile: given(flags.newPassphraseFile) }, process.env)
    const value = yield* fromSource(chosen)
    if (value === "") return yield* new UserError({ detail: "the new passphrase must not be empty" })
    if (value !== undefined) return Redacted.make(value)
    if (process.env.ENIGMA_NEW_PASSPHRASE === "") return yield* new UserError({ detail: "the new passphrase must not be empty" })
    if (!process.stdin.isTTY) {
      return yield* new UserError({
        detail: "a new passphrase is required: pass --new-passphrase-file FILE (or --new-passphrase), set ENIGMA_NEW_PASSPHRASE (or _FILE), or run in a terminal to be prompted"
      })
    }
    const first = yield* Effect.promise(() => prompt("New passphrase: "))
    if (first.length === 0) return yield* new UserError({ detail: "the new passphrase must not be empty" })
    const again = yield* Effect.promise(() => prompt("Repeat new passphrase: "))
    if (again !== first) return yield* new UserError({ detail: "the new passphrases do not match; nothing was changed" })
    return Redacted.make(first)
  })

const prompt = (question: string) =>
  new Promise<string>((resolve) => {
    const stdin = process.stdin
    // Echo off before the prompt appears: a passphrase typed (or pasted) at once is not shown.
    stdin.setRawMode?.(true)
    stdin.resume()
    process.stderr.write(question)
    let input = ""
    const onData = (data: Buffer) => {
      for (const ch of data.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          stdin.off("data", onData)
          stdin.setRawMode?.(false)
          stdin.pause()
          process.stderr.write("\n")
          resolve(input)
          return
        }
        if (ch === "\u0003") {
          stdin.setRawMode?.(false)
          process.stderr.write("\n")
          process.kill(process.pid, "SIGINT")
          return
        }
        if (ch === "\u007f") input = input.slice(0, -1)
        else input += ch
      }
    }
    stdin.on("data", onData)
  })
